// The agent WebSocket: msgpack frames, request ids, reconnection with back-off.
//
// The socket authenticates with the HttpOnly `lc_session` cookie that POST /api/login set
// (the browser sends it with the handshake; the server checks the Origin too).  Close codes
// (chatserver/protocol/codes.py CloseCode): 4401 = credentials revoked (logged out elsewhere,
// disabled, password changed): never retry; 4429 = flooding: back off; 1001 / 1013 / 1011 /
// 1006: reconnect (to any process) and resume every chat from its last sequence number.
import { decode, encode } from "@msgpack/msgpack";

const PING_EVERY_MS = 20000;
const PONG_WITHIN_MS = 10000;

export class AgentSocket {
  /**
   * @param {object} handlers
   *   onFrame(frame)            every server frame (after request replies are routed)
   *   onOpen()                  the welcome frame arrived (it is passed to onFrame first)
   *   onDown(code, willRetry)   the socket closed
   *   onRefused()               closed before any welcome: maybe no longer logged in
   */
  constructor(handlers) {
    this.h = handlers;
    this.ws = null;
    this.rid = 0;
    this.pending = new Map();
    this.stopped = false;
    this.attempt = 0;
    this.timer = null;
    this.pingTimer = null;
    this.welcomed = false;
  }

  url() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${location.host}/ws/agent`;
  }

  connect() {
    this.stopped = false;
    clearTimeout(this.timer);
    const ws = new WebSocket(this.url(), ["lc.v1"]);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    this.welcomed = false;
    ws.onmessage = (ev) => {
      if (typeof ev.data === "string") return;
      let frame;
      try {
        frame = decode(new Uint8Array(ev.data));
      } catch {
        return;
      }
      if (!frame || typeof frame !== "object") return;
      this.lastSeen = Date.now();
      if (frame.type === "welcome") {
        this.welcomed = true;
        this.attempt = 0;
      }
      const waiter = frame.rid != null ? this.pending.get(frame.rid) : undefined;
      if (waiter) {
        this.pending.delete(frame.rid);
        clearTimeout(waiter.timer);
        if (frame.type === "error") waiter.reject(Object.assign(new Error(frame.message), { frame }));
        else waiter.resolve(frame);
      }
      this.h.onFrame(frame);
      if (frame.type === "welcome") {
        this.startPings();
        this.h.onOpen();
        const sent = Date.now();
        this.request({ type: "ping" })
          .then((pong) => this.h.onPong && this.h.onPong(pong, sent, Date.now()))
          .catch(() => {});
      }
    };
    ws.onclose = (ev) => this.closed(ws, ev.code);
    ws.onerror = () => {};
  }

  closed(ws, code) {
    if (ws !== this.ws) return;
    this.ws = null;
    clearInterval(this.pingTimer);
    for (const [, w] of this.pending) {
      clearTimeout(w.timer);
      w.reject(Object.assign(new Error("connection lost"), { frame: { code: "disconnected" } }));
    }
    this.pending.clear();
    if (this.stopped) return;
    if (code === 4401) {
      this.stopped = true;
      this.h.onDown(code, false);
      return;
    }
    if (!this.welcomed) {
      // refused handshake (HTTP 403 shows up as 1006, like a server that is down): ask
      // the REST API who we are; only its 401 "unauthorized" ends the session, so the
      // session survives an outage of any length (the retries never stop)
      this.h.onRefused();
    }
    if (this.stopped) return;
    this.attempt += 1;
    const base = code === 4429 ? 5000 : Math.min(10000, 300 * 2 ** Math.min(this.attempt, 6));
    const delay = base / 2 + Math.random() * base / 2;
    this.h.onDown(code, true);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  startPings() {
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => {
      const ws = this.ws;
      if (!ws) return;
      const sent = Date.now();
      this.request({ type: "ping" }, PONG_WITHIN_MS)
        .then((pong) => this.h.onPong && this.h.onPong(pong, sent, Date.now()))
        .catch((e) => {
          // no pong in time: the connection is half-open; drop it and reconnect
          if (this.ws === ws && e.frame && e.frame.code === "timeout") ws.close();
        });
    }, PING_EVERY_MS);
  }

  get open() {
    return !!this.ws && this.ws.readyState === WebSocket.OPEN && this.welcomed;
  }

  send(frame) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(encode(frame));
    return true;
  }

  /** Send a frame with a fresh rid; resolves with the reply, rejects on an error frame. */
  request(frame, timeoutMs = 15000) {
    return new Promise((resolve, reject) => {
      const rid = `r${++this.rid}`;
      if (!this.send({ ...frame, rid })) {
        reject(Object.assign(new Error("not connected"), { frame: { code: "disconnected" } }));
        return;
      }
      const timer = setTimeout(() => {
        this.pending.delete(rid);
        reject(Object.assign(new Error("no reply"), { frame: { code: "timeout" } }));
      }, timeoutMs);
      this.pending.set(rid, { resolve, reject, timer });
    });
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.pingTimer);
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.close(1000);
    }
  }
}
