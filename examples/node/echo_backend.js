#!/usr/bin/env node
// echo_backend.js - a minimal wsgated backend in Node.js, written to be
// copied. Standard library only.
//
// wsgated accepts WebSocket clients and forwards their events to a backend
// over a Unix stream socket on which the backend listens. Each gateway
// worker thread opens its own connection, so expect several; all events of
// one WebSocket arrive on one connection, in order. A command for any
// WebSocket may be written on any connection.
//
// Every frame is one JSON object, framed either
//
//   length-prefixed  4-byte unsigned big-endian length N, then N bytes of JSON
//   ndjson           one JSON object per line, terminated by "\n"
//
// (the backend.framing setting in wsgate.conf; both ends must agree).
//
// Gateway -> backend:
//   {"type":"hello",   "instance":I, "epoch":E, "worker":k, "workers":N, "sockets":n,
//                      "maxEventBytes":B}
//   {"type":"open",    "socketId":S, "context":{...}}
//   {"type":"message", "socketId":S, "context":{...}, "data":"text"}
//   {"type":"message", "socketId":S, "context":{...}, "data":"BASE64", "binary":true}
//   {"type":"close",   "socketId":S, "code":1000, "reason":"bye", "context":{...}}
//
// Backend -> gateway:
//   {"type":"send",  "socketId":S, "data":"text"}     (add "binary":true for base64)
//   {"type":"close", "socketId":S, "code":4000, "reason":"kicked"}
//
// This backend echoes every message to the socket that sent it (binary
// stays binary) and logs one line for each hello, open (with the context)
// and close. See wsgate-protocol(7) for the details.
//
// Usage: node echo_backend.js [--socket PATH] [--framing length-prefixed|ndjson]

"use strict";

const fs = require("node:fs");
const net = require("node:net");
const path = require("node:path");

const DEFAULT_SOCKET = "/run/wsgate/backend.sock";
const MAX_FRAME = 16 * 1024 * 1024;   // refuse absurd frames instead of buffering them

function log(line) {
  process.stdout.write(line + "\n");
}

function usage(msg) {
  if (msg)
    process.stderr.write("echo_backend.js: " + msg + "\n");
  process.stderr.write("usage: echo_backend.js [--socket PATH] " +
    "[--framing length-prefixed|ndjson]\n");
  process.exit(msg ? 2 : 0);
}

function parseArgs(argv) {
  const opts = { socket: DEFAULT_SOCKET, framing: "length-prefixed" };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "-h" || arg === "--help")
      usage();
    let name = arg, value;
    const eq = arg.indexOf("=");
    if (arg.startsWith("--") && eq > 0) {           // --socket=PATH
      name = arg.slice(0, eq);
      value = arg.slice(eq + 1);
    } else if (arg === "--socket" || arg === "--framing") {
      if (i + 1 >= argv.length)
        usage(arg + " needs a value");
      value = argv[++i];
    }
    if (name === "--socket")
      opts.socket = value;
    else if (name === "--framing")
      opts.framing = value;
    else
      usage("unknown argument " + JSON.stringify(arg));
  }
  if (opts.framing !== "length-prefixed" && opts.framing !== "ndjson")
    usage("--framing must be length-prefixed or ndjson, not " +
      JSON.stringify(opts.framing));
  return opts;
}

// Splits the bytes of one gateway connection into frame payloads. Data
// arrives in chunks of any size, so a frame may be cut anywhere, even
// inside its length prefix: keep what is left over for the next chunk.
class FrameReader {
  constructor(framing) {
    this.framing = framing;
    this.buf = Buffer.alloc(0);
  }

  // Append a chunk; return the complete payloads it finished. Throws when
  // the stream cannot be resynchronised (a frame over MAX_FRAME).
  push(chunk) {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out = [];
    let off = 0;
    for (;;) {
      if (this.framing === "ndjson") {
        const nl = this.buf.indexOf(0x0a, off);
        if (nl < 0) {
          if (this.buf.length - off > MAX_FRAME)
            throw new Error("line longer than " + MAX_FRAME + " bytes");
          break;
        }
        out.push(this.buf.subarray(off, nl));
        off = nl + 1;
      } else {
        if (this.buf.length - off < 4)
          break;
        const n = this.buf.readUInt32BE(off);
        if (n > MAX_FRAME)
          throw new Error("frame of " + n + " bytes is too long");
        if (this.buf.length - off - 4 < n)
          break;
        out.push(this.buf.subarray(off + 4, off + 4 + n));
        off += 4 + n;
      }
    }
    // Copy the rest, so the payloads handed out do not pin a large chunk.
    this.buf = Buffer.from(this.buf.subarray(off));
    return out;
  }
}

function encode(framing, obj) {
  // JSON.stringify escapes control characters: a line never holds "\n".
  const payload = Buffer.from(JSON.stringify(obj), "utf8");
  if (framing === "ndjson")
    return Buffer.concat([payload, Buffer.from("\n")]);
  const prefix = Buffer.alloc(4);
  prefix.writeUInt32BE(payload.length, 0);
  return Buffer.concat([prefix, payload]);
}

// One event from the gateway on link; answers go back on the same link.
function handleFrame(framing, link, payload) {
  let ev;
  try {
    ev = JSON.parse(payload.toString("utf8"));
  } catch (e) {
    log("skipping bad frame (" + e.message + "): " +
      JSON.stringify(payload.subarray(0, 80).toString("utf8")));
    return;
  }
  if (ev === null || typeof ev !== "object" || Array.isArray(ev)) {
    log("skipping bad frame (not a JSON object)");
    return;
  }
  const sid = ev.socketId;
  switch (ev.type) {
  case "hello":
    log("hello from " + ev.instance + " worker " + ev.worker + " of " +
      ev.workers + ", " + ev.sockets + " socket(s)");
    if (ev.maxEventBytes > MAX_FRAME)
      log("error: the gateway may send events of up to " + ev.maxEventBytes +
        " bytes, more than this backend's limit of " + MAX_FRAME +
        ": raise MAX_FRAME or lower limits.max_message_bytes");
    return;
  case "open":
    log("open " + sid + " context=" + JSON.stringify(ev.context));
    return;
  case "close":
    log("close " + sid + " code=" + ev.code + " reason=" + JSON.stringify(ev.reason));
    return;
  case "message":
    if (typeof sid !== "string" || typeof ev.data !== "string") {
      log("skipping message without socketId or data");
      return;
    }
    {
      const reply = { type: "send", socketId: sid, data: ev.data };
      if (ev.binary === true)
        reply.binary = true;            // data stays base64 as we got it
      // write() queues what the kernel does not take at once; stop reading
      // from this gateway connection until that queue has drained, so a
      // gateway that does not read cannot grow our memory.
      if (!link.write(encode(framing, reply)))
        link.pause();
    }
    return;
  default:
    log("skipping frame of unknown type " + JSON.stringify(ev.type));
  }
}

function serveLink(framing, link) {
  const reader = new FrameReader(framing);
  log("gateway connected");
  link.on("drain", () => link.resume());
  link.on("data", (chunk) => {
    let payloads;
    try {
      payloads = reader.push(chunk);
    } catch (e) {
      // The stream cannot be resynchronised: drop this link; the gateway
      // reconnects.
      log("link error: " + e.message + "; closing the link");
      link.destroy();
      return;
    }
    for (const p of payloads)
      handleFrame(framing, link, p);
  });
  link.on("error", (e) => log("link error: " + e.message));
  link.on("close", () => log("gateway disconnected"));
}

// Create the parent directory and remove a stale socket file; refuse to
// touch anything else, or a socket someone still listens on.
function preparePath(sockPath, done) {
  fs.mkdirSync(path.dirname(sockPath), { recursive: true });
  let st;
  try {
    st = fs.lstatSync(sockPath);
  } catch (e) {
    if (e.code === "ENOENT")
      return done();
    throw e;
  }
  if (!st.isSocket()) {
    process.stderr.write(sockPath + " exists and is not a socket; refusing to remove it\n");
    process.exit(1);
  }
  const probe = net.connect(sockPath);
  probe.on("connect", () => {
    process.stderr.write(sockPath + ": another backend is listening there\n");
    process.exit(1);
  });
  probe.on("error", () => {
    fs.unlinkSync(sockPath);            // nobody listens: stale
    done();
  });
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const links = new Set();
  const server = net.createServer((link) => {
    links.add(link);
    link.on("close", () => links.delete(link));
    serveLink(opts.framing, link);
  });
  server.on("error", (e) => {
    process.stderr.write(opts.socket + ": " + e.message + "\n");
    process.exit(1);
  });

  let stopping = false;
  const stop = () => {
    if (stopping)
      return;
    stopping = true;
    // close() unlinks the socket file once the listener is closed.
    server.close(() => process.exit(0));
    for (const l of links)
      l.destroy();
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);

  preparePath(opts.socket, () => {
    server.listen(opts.socket, () =>
      log("listening on " + opts.socket + " (" + opts.framing + ")"));
  });
}

main();
