// The one client link of the widget and the console (docs/protocol.md 1, 3.1, 6.3, 10):
// a WebSocket of binary msgpack frames, request ids, liveness pings, and reconnection with
// exponential back-off (with jitter and a cap) for as long as the owner wants it.
//
// Written by hand (unlike protocol.ts next to it, which `make types` generates); bundled
// into widget/ (src/link.ts) and agent_console/ (src/socket.ts), which give it what differs
// between them: the URL, the subprotocols (the widget's token travels in them, the
// console's session in a cookie), the msgpack codec (each package has its own copy of
// @msgpack/msgpack: this directory has no node_modules), the timings, and the callbacks.
//
// Call order: `start()`; the link then stays connected until `stop()` (or a terminal close
// code), reconnecting whenever the socket drops.  Each (re)connection reports `onWelcome`
// with the server's first frame (frames before it are ignored); that is where the owner
// resumes every chat it follows from its last seen seq (`resume()`, unless the handshake's
// `query()` asked for it and `welcome.resumed` says it was done), drops the replayed
// frames it already holds by their seq (docs/protocol.md 6.1), and resends what was never
// acknowledged.  Every other frame goes to `onFrame`, replies included (after the request's
// promise settled).
//
// A refused handshake looks to a browser exactly like a server that is down (a 1006
// close), so a refusal never ends anything by itself: `onRefused` counts them and the owner
// asks the server (docs/protocol.md 2.6); only its explicit answer ends the credential.

import type { ChatChanged, ClientFrame, ErrorFrame, Pong, ServerFrame, Welcome } from "./protocol";

/** A refused or failed request: `code` is the server's error code (`frame` is then its
 * `error` frame), or "offline" (not connected, or the connection dropped before the reply)
 * or "timeout" (no reply in time), with `frame` null. */
export class RequestError extends Error {
  constructor(
    readonly code: string,
    readonly frame: ErrorFrame | null,
    message?: string,
  ) {
    super(message ?? frame?.message ?? code);
  }
}

export interface Codec {
  encode(frame: ClientFrame): Uint8Array;
  decode(data: Uint8Array): unknown;
}

export interface LinkOptions {
  url: string;
  /** The subprotocols of the next handshake (asked before each one). */
  protocols(): string[];
  /** The query string of the next handshake (asked before each one), without "?":
   * the widget names the chat to resume there (docs/protocol.md 2.2). */
  query?(): string;
  codec: Codec;
  /** An application ping this long after the last one was answered... */
  pingEveryMs: number;
  /** ...and the socket is dead (dropped, reconnected at once) without a pong within this. */
  pongWithinMs: number;
  requestTimeoutMs: number;
  /** The n-th retry in a row waits min(capMs, firstMs * 2^n), times 0.5 to 1 (jitter). */
  backoff: { firstMs: number; capMs: number; quickAfterDrop: boolean };
  /** After a 4429 close (flooding): wait floodMs times 0.5 to 1. */
  floodMs: number;
  /** Close codes after which the link stops (onClose(code, false)), e.g. 4401. */
  terminal: number[];
}

export interface LinkOwner {
  /** The server's first frame on a new connection (the link is connected from now). */
  onWelcome(welcome: Welcome): void;
  /** Every later server frame. */
  onFrame(frame: ServerFrame): void;
  /** Connected (after onWelcome) or no longer (a welcomed socket dropped or was stopped). */
  onConnection?(connected: boolean): void;
  /** A socket closed (or was found dead) without stop(); willRetry false: a terminal code. */
  onClose?(code: number, willRetry: boolean): void;
  /** A handshake failed before any welcome: `refusals` in a row so far. */
  onRefused?(refusals: number): void;
  /** The reply to a ping: when it was sent and when the pong came (Date.now()). */
  onPong?(pong: Pong, sent: number, got: number): void;
}

/** The code passed to onClose when a socket that looked open did not answer a ping. */
export const CLOSE_DEAD = 1006;

type Timer = ReturnType<typeof setTimeout>;

interface Waiter {
  resolve: (frame: ServerFrame) => void;
  reject: (err: RequestError) => void;
  timer: Timer;
}

/** The wait before the next try, `attempts` failures after the last welcome: exponential,
 * capped, with jitter (so that the clients of one outage do not come back together). */
export function backoffDelay(attempts: number, firstMs: number, capMs: number): number {
  return Math.min(capMs, firstMs * 2 ** attempts) * (0.5 + Math.random() / 2);
}

export class Link {
  private ws: WebSocket | null = null;
  private welcomed = false;
  private stopped = true;
  private attempts = 0;
  private refusals = 0;
  private retryTimer: Timer | undefined;
  private pingTimer: Timer | undefined;
  private probing = false;
  private rid = 0;
  private waiters = new Map<string, Waiter>();
  private readyWaiters: (() => void)[] = [];

  constructor(
    private readonly opts: LinkOptions,
    private readonly owner: LinkOwner,
  ) {}

  /** Started and not stopped (by stop() or a terminal close code). */
  get running(): boolean {
    return !this.stopped;
  }

  get connected(): boolean {
    return this.welcomed && !!this.ws && this.ws.readyState === WebSocket.OPEN;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    const ws = this.ws;
    this.detach();
    if (ws) {
      try {
        ws.close(1000);
      } catch {
        /* already closed */
      }
    }
  }

  /** Resolves once connected (after the welcome was handled). */
  ready(timeoutMs: number): Promise<void> {
    if (this.connected) return Promise.resolve();
    this.start();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new RequestError("offline", null, "not connected")), timeoutMs);
      this.readyWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** The network may be back (online event, tab visible again): check at once. */
  nudge(): void {
    if (this.stopped) return;
    if (this.ws && this.welcomed) {
      this.probe(3_000);
    } else if (!this.ws) {
      this.attempts = 0;
      clearTimeout(this.retryTimer);
      this.connect();
    }
  }

  /** Between tries: try again now (the reason of the failures is gone). */
  retryNow(): void {
    if (this.stopped || this.ws) return;
    this.attempts = 0;
    this.scheduleRetry(0);
  }

  /** Send a frame if connected; false when it could not be sent. */
  send(frame: ClientFrame): boolean {
    if (!this.connected || !this.ws) return false;
    try {
      this.ws.send(this.opts.codec.encode(frame));
      return true;
    } catch {
      return false;
    }
  }

  /** Send with a fresh `rid` and wait for the reply; `error` replies reject. */
  request(frame: ClientFrame, timeoutMs = this.opts.requestTimeoutMs): Promise<ServerFrame> {
    const rid = "r" + ++this.rid;
    return new Promise((resolve, reject) => {
      if (!this.send({ ...frame, rid })) {
        reject(new RequestError("offline", null, "not connected"));
        return;
      }
      const timer = setTimeout(() => {
        this.waiters.delete(rid);
        reject(new RequestError("timeout", null, "no reply"));
      }, timeoutMs);
      this.waiters.set(rid, { resolve, reject, timer });
    });
  }

  /** Follow a chat again from `after`, the last seq seen of it (0: its whole stored log).
   * The reply is the chat's state; then come `resync` if some of what follows is no longer
   * stored, the stored messages after `after`, and live ones (docs/protocol.md 6.3). */
  async resume(chat: string, after: number): Promise<ChatChanged | null> {
    const reply = await this.request({ type: "resume", chat, after });
    return reply.type === "chat" ? reply : null;
  }

  private connect(): void {
    if (this.stopped || this.ws) return;
    let ws: WebSocket;
    try {
      const query = this.opts.query?.() ?? "";
      const url = query ? this.opts.url + (this.opts.url.includes("?") ? "&" : "?") + query : this.opts.url;
      ws = new WebSocket(url, this.opts.protocols());
    } catch {
      this.scheduleRetry(0);
      return;
    }
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    this.welcomed = false;
    ws.onmessage = (ev) => {
      if (this.ws !== ws || !(ev.data instanceof ArrayBuffer)) return;
      let frame: ServerFrame;
      try {
        // trusted to be what the server sends (tests/test_server_frames.py checks that
        // every frame a real server sends matches these types)
        frame = this.opts.codec.decode(new Uint8Array(ev.data)) as ServerFrame;
      } catch {
        return;
      }
      if (!frame || typeof frame !== "object" || typeof frame.type !== "string") return;
      if (!this.welcomed) {
        if (frame.type !== "welcome") return;
        this.welcomed = true;
        this.attempts = 0;
        this.refusals = 0;
        this.schedulePing();
        this.owner.onWelcome(frame);
        this.owner.onConnection?.(true);
        const waiting = this.readyWaiters;
        this.readyWaiters = [];
        waiting.forEach((w) => w());
        return;
      }
      this.dispatch(frame);
    };
    ws.onclose = (ev) => {
      if (this.ws === ws) this.dropped(ev.code);
    };
    ws.onerror = () => {
      /* a close event follows */
    };
  }

  private dispatch(frame: ServerFrame): void {
    const rid = "rid" in frame ? frame.rid : undefined;
    if (typeof rid === "string") {
      const waiter = this.waiters.get(rid);
      if (waiter) {
        this.waiters.delete(rid);
        clearTimeout(waiter.timer);
        if (frame.type === "error") waiter.reject(new RequestError(String(frame.code), frame));
        else waiter.resolve(frame);
      }
    }
    this.owner.onFrame(frame);
  }

  /** Forget the current socket: no more events from it; its requests fail "offline". */
  private detach(): void {
    const ws = this.ws;
    const wasWelcomed = this.welcomed;
    this.ws = null;
    this.welcomed = false;
    clearTimeout(this.pingTimer);
    if (ws) {
      ws.onmessage = ws.onclose = ws.onerror = null;
    }
    const waiters = [...this.waiters.values()];
    this.waiters.clear();
    for (const w of waiters) {
      clearTimeout(w.timer);
      w.reject(new RequestError("offline", null, "connection lost"));
    }
    if (wasWelcomed) this.owner.onConnection?.(false);
  }

  private dropped(code: number): void {
    const wasWelcomed = this.welcomed;
    this.detach();
    if (this.stopped) return;
    if (this.opts.terminal.includes(code)) {
      this.stopped = true;
      this.owner.onClose?.(code, false);
      return;
    }
    if (!wasWelcomed) {
      // Handshakes failing again and again: the server may be down or restarting, the
      // network may block WebSockets, or the credential may be dead.  The browser cannot
      // tell (all are a 1006 close): the owner asks.
      this.refusals++;
      this.owner.onRefused?.(this.refusals);
      if (this.stopped) return;
    }
    const { firstMs, capMs, quickAfterDrop } = this.opts.backoff;
    let delay = backoffDelay(this.attempts, firstMs, capMs);
    if (quickAfterDrop && wasWelcomed && this.attempts === 0) delay = 50 + Math.random() * 100;
    if (code === 4429) delay = this.opts.floodMs * (0.5 + Math.random() / 2); // flooding: back off
    if (code === 4409) delay = 10_000; // too many connections for this visitor
    this.attempts = Math.min(this.attempts + 1, 10);
    this.owner.onClose?.(code, true);
    this.scheduleRetry(delay);
  }

  private scheduleRetry(delay: number): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  private schedulePing(): void {
    clearTimeout(this.pingTimer);
    this.pingTimer = setTimeout(() => this.probe(this.opts.pongWithinMs), this.opts.pingEveryMs);
  }

  /** Ping; without a pong in time the socket is dead (a cut network often leaves it
   * looking open): drop it and reconnect at once. */
  private probe(timeoutMs: number): void {
    if (this.probing || !this.ws) return;
    const ws = this.ws;
    this.probing = true;
    const sent = Date.now();
    this.request({ type: "ping" }, timeoutMs).then(
      (pong) => {
        this.probing = false;
        if (pong.type === "pong") this.owner.onPong?.(pong, sent, Date.now());
        if (this.ws === ws) this.schedulePing();
      },
      (err: RequestError) => {
        this.probing = false;
        if (this.ws !== ws) return;
        if (err.code === "timeout" || err.code === "offline") {
          this.detach();
          try {
            ws.close();
          } catch {
            /* ignore */
          }
          if (this.stopped) return;
          this.attempts = 0;
          this.owner.onClose?.(CLOSE_DEAD, true);
          this.scheduleRetry(0);
        } else {
          this.schedulePing();
        }
      },
    );
  }
}
