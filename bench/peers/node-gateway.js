// node-gateway.js - the job of wsgated, written for Node.js with the "ws"
// package, as a peer in the benchmark.
//
// Accepts WebSocket upgrades on /ws, builds the same context as wsgated's
// default configuration ({socketId, createdAt, token: cookie X-Token,
// userId: header X-User-Id}, null when missing) and relays open / message /
// close events over ONE Unix-socket connection to a backend speaking
// wsgate-protocol(7) with length-prefixed framing; "send" and "close"
// commands from the backend are delivered to the socket they name.
//
// Usage: node node-gateway.js [--port P] [--socket PATH] [--host ADDR] [--path /ws]
//        (or the environment variables PORT, SOCK, HOST, WS_PATH)

"use strict";

const http = require("node:http");
const net = require("node:net");
const { randomBytes } = require("node:crypto");
const { hostname } = require("node:os");
const { WebSocketServer } = require("ws");

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
const PING_INTERVAL_MS = 30000;          // websocket.ping_interval
const INSTANCE = hostname();
const EPOCH = Date.now();

// ---------------------------------------------------------------------------
// Backend link: one Unix stream connection, length-prefixed JSON frames.

const sockets = new Map();   // socketId -> WebSocket (ws.id, ws.ctx: context JSON)
let link = null;             // the connected net.Socket, or null
let queue = [];              // JSON strings of events not yet written (in order)
let flushScheduled = false;
let inbuf = null;            // partial frame received from the backend
let errors = 0;

// Events are queued as strings and written once per turn of the event loop,
// in one buffer: under load this is one write(2) for many events.
function enqueue(json) {
  queue.push(json);
  if (!flushScheduled && link !== null) {
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
  if (link === null || queue.length === 0) return;
  const buf = encode(queue);
  queue = [];
  link.write(buf);    // net.Socket buffers what the kernel does not take
}

function openEvent(ws) {
  return '{"type":"open","socketId":"' + ws.id + '","context":' + ws.ctx + "}";
}

function connect() {
  const s = net.connect({ path: SOCK });
  let connected = false;
  s.setNoDelay?.(true);
  s.on("connect", () => {
    connected = true;
    link = s;
    inbuf = null;
    // hello, then an open for every live socket (an open still in the
    // queue is replaced by it), then the rest of the queue.
    const first = [JSON.stringify({
      type: "hello", instance: INSTANCE, epoch: EPOCH,
      worker: 0, workers: 1, sockets: sockets.size,
    })];
    for (const ws of sockets.values()) first.push(openEvent(ws));
    for (const j of queue) if (!j.startsWith('{"type":"open"')) first.push(j);
    queue = [];
    s.write(encode(first));
    console.error(`node-gateway: backend connected (${SOCK})`);
  });
  s.on("data", onBackendData);
  s.on("error", () => {});    // "close" follows
  s.on("close", () => {
    if (link === s) {
      link = null;
      console.error("node-gateway: backend connection lost");
    }
    setTimeout(connect, RECONNECT_MS);
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
      console.error(`node-gateway: frame of ${n} bytes from the backend is too big`);
      link.destroy();
      return;
    }
    if (end - off - 4 < n) break;
    command(buf.utf8Slice(off + 4, off + 4 + n));
    off += 4 + n;
  }
  if (off < end) inbuf = buf.subarray(off);   // Node hands each chunk over: no copy needed
}

function command(text) {
  let c;
  try {
    c = JSON.parse(text);
  } catch {
    errors++;
    return;
  }
  if (c === null || typeof c !== "object" || typeof c.socketId !== "string") {
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
    if (ws.bufferedAmount > MAX_SEND_QUEUE_BYTES) {
      // A client that does not read: close it, as wsgated's "close" policy does.
      sockets.delete(ws.id);
      ws.close(1008, "send queue full");
      return;
    }
    if (c.binary === true) ws.send(Buffer.from(c.data, "base64"), { binary: true });
    else ws.send(c.data, { binary: false });
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
  } else {
    errors++;
  }
}

// ---------------------------------------------------------------------------
// WebSocket server.

// The first cookie called `name` in the Cookie header(s) (Node joins several
// with "; "); blanks around "=" are ignored and a value in double quotes
// loses them.
function cookie(header, name) {
  if (header === undefined) return null;
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
  const q = url.indexOf("?");
  return q < 0 ? url : url.slice(0, q);
}

const wss = new WebSocketServer({
  noServer: true,
  clientTracking: false,       // the sockets Map tracks them
  maxPayload: MAX_MESSAGE_BYTES,
  perMessageDeflate: false,
});

function onMessage(data, isBinary) {
  // `this` is the WebSocket
  if (isBinary) {
    enqueue('{"type":"message","socketId":"' + this.id + '","context":' + this.ctx +
            ',"data":"' + data.toString("base64") + '","binary":true}');
  } else {
    enqueue('{"type":"message","socketId":"' + this.id + '","context":' + this.ctx +
            ',"data":' + JSON.stringify(data.toString()) + "}");
  }
}

function onClose(code, reason) {
  sockets.delete(this.id);
  enqueue('{"type":"close","socketId":"' + this.id + '","code":' + code +
          ',"reason":' + JSON.stringify(reason.toString()) + ',"context":' + this.ctx + "}");
}

function onPong() {
  this.isAlive = true;
}

function onError() {
  // protocol errors: ws closes the connection and "close" follows
}

const server = http.createServer((req, res) => {
  const path = pathOf(req.url);
  if (path === "/healthz") {
    res.writeHead(200, { "Content-Type": "text/plain" }).end("ok");
  } else {
    res.writeHead(path === WS_PATH ? 426 : 404, { "Content-Type": "text/plain" })
      .end(path === WS_PATH ? "upgrade required\n" : "not found\n");
  }
});

server.on("upgrade", (req, socket, head) => {
  if (pathOf(req.url) !== WS_PATH) {
    socket.end("HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
    return;
  }
  const ctx = {
    socketId: randomBytes(16).toString("base64url"),
    createdAt: Date.now(),
    token: cookie(req.headers.cookie, "X-Token"),
    userId: req.headers["x-user-id"] ?? null,
  };
  wss.handleUpgrade(req, socket, head, (ws) => {
    ws.id = ctx.socketId;
    ws.ctx = JSON.stringify(ctx);   // goes into every event of the connection
    ws.isAlive = true;
    ws.on("message", onMessage);
    ws.on("close", onClose);
    ws.on("pong", onPong);
    ws.on("error", onError);
    sockets.set(ws.id, ws);
    enqueue(openEvent(ws));
  });
});

// Ping every client; drop those that did not answer the previous ping.
const pinger = setInterval(() => {
  for (const ws of sockets.values()) {
    if (!ws.isAlive) {
      ws.terminate();
      continue;
    }
    ws.isAlive = false;
    ws.ping();
  }
}, PING_INTERVAL_MS);

server.listen({ host: HOST, port: PORT, backlog: 4096 }, () => {
  console.error(`node-gateway: listening on ${HOST}:${PORT}${WS_PATH}, backend ${SOCK}`);
});
connect();

// Close every client (1001), pass the close events on, then exit.
function stop() {
  clearInterval(pinger);
  server.close();
  for (const ws of sockets.values()) ws.close(1001, "going away");
  setTimeout(() => {
    flush();
    setTimeout(() => process.exit(0), 100);
  }, 200);
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
