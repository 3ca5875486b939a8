// bun-gateway.js - the job of wsgated, written for Bun, as a peer in the benchmark.
//
// Accepts WebSocket upgrades on /ws, builds the same context as wsgated's
// default configuration ({socketId, createdAt, token: cookie X-Token,
// userId: header X-User-Id}, null when missing) and relays open / message /
// close events over ONE Unix-socket connection to a backend speaking
// wsgate-protocol(7) with length-prefixed framing; "send" and "close"
// commands from the backend are delivered to the socket they name,
// "subscribe" and "unsubscribe" change its topics, and "publish" and
// "broadcast" go out through Bun's own fan-out, server.publish(): every
// socket is subscribed to the topic ALL_TOPIC when it opens, so a
// broadcast is a publish to it.
//
// Usage: bun bun-gateway.js [--port P] [--socket PATH] [--host ADDR] [--path /ws]
//        (or the environment variables PORT, SOCK, HOST, WS_PATH)

import { randomBytes } from "node:crypto";
import { hostname } from "node:os";

function option(name, env, dflt) {
  const i = process.argv.indexOf(name);
  if (i >= 0 && i + 1 < process.argv.length) return process.argv[i + 1];
  return process.env[env] ?? dflt;
}

const HOST = option("--host", "HOST", "127.0.0.1");
const PORT = Number(option("--port", "PORT", "8080"));
const SOCK = option("--socket", "SOCK", "/run/wsgate/backend.sock");
const WS_PATH = option("--path", "WS_PATH", "/ws");

const MAX_MESSAGE_BYTES = 1 << 20;       // limits.max_message_bytes
const MAX_SEND_QUEUE_BYTES = 1 << 20;    // limits.max_send_queue_bytes, policy "close"
const MAX_FRAME_BYTES = 16 << 20;        // backend.max_frame_bytes
const RECONNECT_MS = 100;
const ALL_TOPIC = "\u0000all";          // no backend topic holds U+0000
const INSTANCE = hostname();
const EPOCH = Date.now();

// ---------------------------------------------------------------------------
// Backend link: one Unix stream connection, length-prefixed JSON frames.

const sockets = new Map();   // socketId -> ServerWebSocket
let link = null;             // the connected Bun socket, or null
let queue = [];              // JSON strings of events not yet written (in order)
let flushScheduled = false;
let unsent = null;           // bytes the kernel did not take yet (wait for drain)
let inbuf = null;            // partial frame received from the backend
let errors = 0;

// Events are queued as strings and written once per turn of the event loop,
// in one buffer: under load this is one write(2) for many events.
function enqueue(json) {
  queue.push(json);
  if (!flushScheduled && link !== null && unsent === null) {
    flushScheduled = true;
    setImmediate(flush);
  }
}

function encode(strings) {
  let total = 0;
  const lens = new Array(strings.length);
  for (let i = 0; i < strings.length; i++) {
    lens[i] = Buffer.byteLength(strings[i]);
    total += 4 + lens[i];
  }
  const buf = Buffer.allocUnsafe(total);
  let off = 0;
  for (let i = 0; i < strings.length; i++) {
    buf.writeUInt32BE(lens[i], off);
    buf.utf8Write(strings[i], off + 4, lens[i]);
    off += 4 + lens[i];
  }
  return buf;
}

function flush() {
  flushScheduled = false;
  if (link === null || unsent !== null || queue.length === 0) return;
  const buf = encode(queue);
  queue = [];
  writeOut(buf);
}

function writeOut(buf) {
  const n = link.write(buf);
  if (n < buf.length) unsent = buf.subarray(n < 0 ? 0 : n);
}

function openEvent(d) {
  return '{"type":"open","socketId":"' + d.id + '","context":' + d.ctx + "}";
}

function connect() {
  Bun.connect({
    unix: SOCK,
    socket: {
      open(s) {
        link = s;
        unsent = null;
        inbuf = null;
        // hello, then an open for every live socket (an open still in the
        // queue is replaced by it), then the rest of the queue.
        const first = [JSON.stringify({
          type: "hello", instance: INSTANCE, epoch: EPOCH,
          worker: 0, workers: 1, sockets: sockets.size,
        })];
        for (const ws of sockets.values()) first.push(openEvent(ws.data));
        for (const j of queue) if (!j.startsWith('{"type":"open"')) first.push(j);
        queue = [];
        writeOut(encode(first));
        console.error(`bun-gateway: backend connected (${SOCK})`);
      },
      drain(s) {
        if (unsent === null) return;
        const buf = unsent;
        unsent = null;
        writeOut(buf);
        if (unsent === null && queue.length > 0) flush();
      },
      data(s, chunk) {
        onBackendData(chunk);
      },
      close(s) {
        if (link === s) {
          link = null;
          unsent = null;
          console.error("bun-gateway: backend connection lost");
          setTimeout(connect, RECONNECT_MS);
        }
      },
      error(s, err) {
        // close() follows
      },
      connectError(s, err) {
        setTimeout(connect, RECONNECT_MS);
      },
    },
  }).catch(() => {
    // the promise rejects as well as connectError being called; nothing to do
  });
}

function onBackendData(chunk) {
  let buf = chunk;
  if (inbuf !== null) {
    buf = Buffer.concat([inbuf, chunk]);
    inbuf = null;
  }
  let off = 0;
  const end = buf.length;
  while (end - off >= 4) {
    const n = buf.readUInt32BE(off);
    if (n > MAX_FRAME_BYTES) {
      // The next frame cannot be found: drop the link and reconnect.
      errors++;
      console.error(`bun-gateway: frame of ${n} bytes from the backend is too big`);
      link.end();
      return;
    }
    if (end - off - 4 < n) break;
    command(buf.utf8Slice(off + 4, off + 4 + n));
    off += 4 + n;
  }
  if (off < end) inbuf = Buffer.from(buf.subarray(off));   // copy: chunk is reused
}

function command(text) {
  let c;
  try {
    c = JSON.parse(text);
  } catch {
    errors++;
    return;
  }
  if (c === null || typeof c !== "object") {
    errors++;
    return;
  }
  if (c.type === "broadcast" || c.type === "publish") {
    const topic = c.type === "broadcast" ? ALL_TOPIC : c.topic;
    if (typeof c.data !== "string" || typeof topic !== "string" || topic.length === 0 ||
        (c.exclude !== undefined && typeof c.exclude !== "string")) {
      errors++;
      return;
    }
    // Bun frames the message once for all the subscribers.
    const data = c.binary === true ? Buffer.from(c.data, "base64") : c.data;
    const ex = c.exclude === undefined ? undefined : sockets.get(c.exclude);
    if (ex !== undefined) ex.publish(topic, data);    // all but ex
    else server.publish(topic, data);
    return;
  }
  if (typeof c.socketId !== "string") {
    errors++;
    return;
  }
  const ws = sockets.get(c.socketId);
  if (ws === undefined) {
    errors++;
    return;
  }
  if (c.type === "send") {
    if (typeof c.data !== "string") { errors++; return; }
    if (c.binary === true) ws.sendBinary(Buffer.from(c.data, "base64"));
    else ws.sendText(c.data);
  } else if (c.type === "close") {
    const code = c.code ?? 1000;
    const reason = c.reason ?? "";
    if (!Number.isInteger(code) || (code !== 1000 && (code < 3000 || code > 4999)) ||
        typeof reason !== "string" || Buffer.byteLength(reason) > 123) {
      errors++;
      return;
    }
    sockets.delete(c.socketId);    // later sends for it are discarded
    ws.close(code, reason);
  } else if (c.type === "subscribe" || c.type === "unsubscribe") {
    if (typeof c.topic !== "string" || c.topic.length === 0 || c.topic.includes("\u0000")) {
      errors++;
      return;
    }
    if (c.type === "subscribe") ws.subscribe(c.topic);
    else ws.unsubscribe(c.topic);
  } else {
    errors++;
  }
}

// ---------------------------------------------------------------------------
// WebSocket server.

// The first cookie called `name` in a Cookie header; blanks around "=" are
// ignored and a value in double quotes loses them.
function cookie(header, name) {
  if (header === null) return null;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    let v = part.slice(eq + 1).trim();
    if (v.length >= 2 && v[0] === '"' && v[v.length - 1] === '"') v = v.slice(1, -1);
    return v;
  }
  return null;
}

function pathOf(url) {
  // req.url is absolute: "http://host:port/path?query"
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start < 0) return "/";
  const q = url.indexOf("?", start);
  return q < 0 ? url.slice(start) : url.slice(start, q);
}

const server = Bun.serve({
  hostname: HOST,
  port: PORT,
  fetch(req, server) {
    const path = pathOf(req.url);
    if (path === "/healthz") return new Response("ok");
    if (path !== WS_PATH) return new Response("not found\n", { status: 404 });
    const ctx = {
      socketId: randomBytes(16).toString("base64url"),
      createdAt: Date.now(),
      token: cookie(req.headers.get("cookie"), "X-Token"),
      userId: req.headers.get("x-user-id"),
    };
    // ws.data: the id and the context already serialised, since it goes
    // into every event of the connection.
    if (server.upgrade(req, { data: { id: ctx.socketId, ctx: JSON.stringify(ctx) } })) {
      return undefined;
    }
    return new Response("bad WebSocket upgrade\n", { status: 400 });
  },
  websocket: {
    maxPayloadLength: MAX_MESSAGE_BYTES,
    backpressureLimit: MAX_SEND_QUEUE_BYTES,
    closeOnBackpressureLimit: true,
    idleTimeout: 60,
    sendPings: true,
    perMessageDeflate: false,
    publishToSelf: false,
    open(ws) {
      sockets.set(ws.data.id, ws);
      ws.subscribe(ALL_TOPIC);
      enqueue(openEvent(ws.data));
    },
    message(ws, message) {
      const d = ws.data;
      if (typeof message === "string") {
        enqueue('{"type":"message","socketId":"' + d.id + '","context":' + d.ctx +
                ',"data":' + JSON.stringify(message) + "}");
      } else {
        enqueue('{"type":"message","socketId":"' + d.id + '","context":' + d.ctx +
                ',"data":"' + message.toString("base64") + '","binary":true}');
      }
    },
    close(ws, code, reason) {
      const d = ws.data;
      sockets.delete(d.id);
      enqueue('{"type":"close","socketId":"' + d.id + '","code":' + code +
              ',"reason":' + JSON.stringify(reason ?? "") + ',"context":' + d.ctx + "}");
    },
  },
});

connect();
console.error(`bun-gateway: listening on ${server.hostname}:${server.port}${WS_PATH}, backend ${SOCK}`);

// Close every client (1001), pass the close events on, then exit.
function stop() {
  server.stop(true);
  setTimeout(() => {
    flush();
    setTimeout(() => process.exit(0), 100);
  }, 100);
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
