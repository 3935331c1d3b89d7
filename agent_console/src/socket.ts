// The agent WebSocket: msgpack frames, request ids, reconnection with back-off.
//
// The socket authenticates with the HttpOnly `lc_session` cookie that POST /api/login set
// (the browser sends it with the handshake; the server checks the Origin too).  Close codes
// (chatserver/protocol/codes.py CloseCode): 4401 = credentials revoked (logged out elsewhere,
// disabled, password changed): never retry; 4429 = flooding: back off; 1001 / 1013 / 1011 /
// 1006: reconnect (to any process) and resume every chat from its last sequence number.
import { decode, encode } from "@msgpack/msgpack";
import type { ClientFrame, ErrorFrame, Pong, ServerFrame } from "../../clients/protocol";

/** A refused or failed request: the server's `error` frame, or `{code: "disconnected" |
 * "timeout"}` when there was no answer. */
export type RequestFailure = Error & { frame: ErrorFrame | { code: "disconnected" | "timeout" } };

export interface SocketHandlers {
  /** every server frame (after request replies are routed) */
  onFrame(frame: ServerFrame): void;
  /** the welcome frame arrived (it is passed to onFrame first) */
  onOpen(): void;
  /** the socket closed */
  onDown(code: number, willRetry: boolean): void;
  /** closed before any welcome: maybe no longer logged in */
  onRefused(): void;
  /** a pong, with when its ping was sent and when the pong arrived (ms) */
  onPong?(pong: Pong, sent: number, got: number): void;
}

interface Waiter {
  resolve: (frame: ServerFrame) => void;
  reject: (err: RequestFailure) => void;
  timer: ReturnType<typeof setTimeout>;
}

function failure(message: string, frame: RequestFailure["frame"]): RequestFailure {
  return Object.assign(new Error(message), { frame });
}

const PING_EVERY_MS = 20000;
const PONG_WITHIN_MS = 10000;

export class AgentSocket {
  h: SocketHandlers;
  ws: WebSocket | null;
  rid: number;
  pending: Map<string, Waiter>;
  stopped: boolean;
  attempt: number;
  timer: ReturnType<typeof setTimeout> | undefined;
  pingTimer: ReturnType<typeof setInterval> | undefined;
  welcomed: boolean;
  lastSeen = 0;

  constructor(handlers: SocketHandlers) {
    this.h = handlers;
    this.ws = null;
    this.rid = 0;
    this.pending = new Map();
    this.stopped = false;
    this.attempt = 0;
    this.timer = undefined;
    this.pingTimer = undefined;
    this.welcomed = false;
  }

  url(): string {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${location.host}/ws/agent`;
  }

  connect(): void {
    this.stopped = false;
    clearTimeout(this.timer);
    const ws = new WebSocket(this.url(), ["lc.v1"]);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    this.welcomed = false;
    ws.onmessage = (ev) => {
      if (typeof ev.data === "string") return;
      let frame: ServerFrame;
      try {
        frame = decode(new Uint8Array(ev.data)) as ServerFrame;
      } catch {
        return;
      }
      if (!frame || typeof frame !== "object") return;
      this.lastSeen = Date.now();
      if (frame.type === "welcome") {
        this.welcomed = true;
        this.attempt = 0;
      }
      const rid = "rid" in frame ? frame.rid : undefined;
      const waiter = rid != null ? this.pending.get(rid) : undefined;
      if (waiter) {
        this.pending.delete(rid!);
        clearTimeout(waiter.timer);
        if (frame.type === "error") waiter.reject(failure(frame.message, frame));
        else waiter.resolve(frame);
      }
      this.h.onFrame(frame);
      if (frame.type === "welcome") {
        this.startPings();
        this.h.onOpen();
        const sent = Date.now();
        this.request({ type: "ping" })
          .then((pong) => this.h.onPong && this.h.onPong(pong as Pong, sent, Date.now()))
          .catch(() => {});
      }
    };
    ws.onclose = (ev) => this.closed(ws, ev.code);
    ws.onerror = () => {};
  }

  closed(ws: WebSocket, code: number): void {
    if (ws !== this.ws) return;
    this.ws = null;
    clearInterval(this.pingTimer);
    for (const [, w] of this.pending) {
      clearTimeout(w.timer);
      w.reject(failure("connection lost", { code: "disconnected" }));
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

  startPings(): void {
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => {
      const ws = this.ws;
      if (!ws) return;
      const sent = Date.now();
      this.request({ type: "ping" }, PONG_WITHIN_MS)
        .then((pong) => this.h.onPong && this.h.onPong(pong as Pong, sent, Date.now()))
        .catch((e: RequestFailure) => {
          // no pong in time: the connection is half-open; drop it and reconnect
          if (this.ws === ws && e.frame && e.frame.code === "timeout") ws.close();
        });
    }, PING_EVERY_MS);
  }

  get open(): boolean {
    return !!this.ws && this.ws.readyState === WebSocket.OPEN && this.welcomed;
  }

  send(frame: ClientFrame): boolean {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(encode(frame));
    return true;
  }

  /** Send a frame with a fresh rid; resolves with the reply, rejects on an error frame. */
  request(frame: ClientFrame, timeoutMs = 15000): Promise<ServerFrame> {
    return new Promise((resolve, reject) => {
      const rid = `r${++this.rid}`;
      if (!this.send({ ...frame, rid })) {
        reject(failure("not connected", { code: "disconnected" }));
        return;
      }
      const timer = setTimeout(() => {
        this.pending.delete(rid);
        reject(failure("no reply", { code: "timeout" }));
      }, timeoutMs);
      this.pending.set(rid, { resolve, reject, timer });
    });
  }

  stop(): void {
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
