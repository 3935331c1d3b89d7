// The visitor WebSocket: msgpack frames, request ids, liveness checks and reconnection.
//
// Call order: `start()` once; the link then stays connected until `stop()`, reconnecting
// with exponential back-off (and jitter) whenever the socket drops.  Each (re)connection
// reports `onWelcome` with the server's first frame; the owner then resumes its chat and
// resends what was never acknowledged (see chat.ts).  Every other frame goes to `onFrame`,
// replies included (after the request's promise settled).
//
// The token travels in the subprotocol list ["lc.v1", "lc.token.<token>"], never in the URL.
//
// The token is kept through an outage of any length.  A refused handshake looks to a browser
// exactly like a server that is down or restarting (a 1006 close), so failed handshakes are
// never a reason to drop it by themselves: after every CHECK_AFTER_REFUSALS of them in a row
// the owner asks the server (POST /api/visitor/check, docs/protocol.md 2.6), and only its
// explicit "invalid_token" answer drops the token; the next connection is then a new visitor.

import { Decoder, Encoder } from "@msgpack/msgpack";
import type { ClientFrame, ErrorFrame, ServerFrame, Welcome } from "../../clients/protocol";

export type { ClientFrame, ServerFrame };

export class RequestError extends Error {
  constructor(
    readonly code: string,
    readonly frame: ErrorFrame | null,
  ) {
    super(code);
  }
}

/** What the server says of a token: "invalid" only on its explicit, documented answer. */
export type TokenAnswer = "valid" | "invalid" | "unknown";

export interface LinkOwner {
  token(): string | null;
  /** Ask the server whether the token is valid (never throws). */
  checkToken(token: string): Promise<TokenAnswer>;
  /** The server said the token is invalid: forget it (if it is still the stored one). */
  dropToken(token: string): void;
  onWelcome(welcome: Welcome): void;
  onFrame(frame: ServerFrame): void;
  onConnection(connected: boolean): void;
}

const PING_EVERY_MS = 15_000;
const PONG_WITHIN_MS = 6_000;
const MAX_BACKOFF_MS = 8_000;
const CHECK_AFTER_REFUSALS = 3;

export class Link {
  private ws: WebSocket | null = null;
  private welcomed = false;
  private stopped = true;
  private attempts = 0;
  private refusals = 0;
  private checking = false;
  private retryTimer = 0;
  private pingTimer = 0;
  private probing = false;
  private rid = 0;
  private waiters = new Map<string, { resolve: (f: ServerFrame) => void; reject: (e: Error) => void; timer: number }>();
  private readyWaiters: (() => void)[] = [];
  private readonly enc = new Encoder({ ignoreUndefined: true });
  private readonly dec = new Decoder();

  constructor(
    private readonly url: string,
    private readonly owner: LinkOwner,
  ) {}

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
      const timer = window.setTimeout(() => reject(new RequestError("offline", null)), timeoutMs);
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

  /** Send a frame if connected; false when it could not be sent. */
  send(frame: ClientFrame): boolean {
    if (!this.connected || !this.ws) return false;
    try {
      this.ws.send(this.enc.encode(frame));
      return true;
    } catch {
      return false;
    }
  }

  /** Send with a fresh `rid` and wait for the reply; `error` replies reject. */
  request(frame: ClientFrame, timeoutMs = 10_000): Promise<ServerFrame> {
    const rid = "r" + ++this.rid;
    return new Promise((resolve, reject) => {
      if (!this.send({ ...frame, rid })) {
        reject(new RequestError("offline", null));
        return;
      }
      const timer = window.setTimeout(() => {
        this.waiters.delete(rid);
        reject(new RequestError("timeout", null));
      }, timeoutMs);
      this.waiters.set(rid, { resolve, reject, timer });
    });
  }

  private connect(): void {
    if (this.stopped || this.ws) return;
    const token = this.owner.token();
    const protocols = token ? ["lc.v1", "lc.token." + token] : ["lc.v1"];
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.url, protocols);
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
        frame = this.dec.decode(new Uint8Array(ev.data)) as ServerFrame;
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
        this.owner.onConnection(true);
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

  /** Forget the current socket: no more events from it. */
  private detach(): void {
    const ws = this.ws;
    const wasWelcomed = this.welcomed;
    this.ws = null;
    this.welcomed = false;
    clearTimeout(this.pingTimer);
    if (ws) {
      ws.onmessage = ws.onclose = ws.onerror = null;
    }
    for (const [, w] of this.waiters) {
      clearTimeout(w.timer);
      w.reject(new RequestError("offline", null));
    }
    this.waiters.clear();
    if (wasWelcomed) this.owner.onConnection(false);
  }

  private dropped(code: number): void {
    const wasWelcomed = this.welcomed;
    this.detach();
    if (this.stopped) return;
    if (!wasWelcomed) {
      // Handshakes failing again and again: the server may be down or restarting, the
      // network may block WebSockets, or the stored token may be dead (expired, or signed
      // by another server).  The browser cannot tell (all are a 1006 close): ask.
      this.refusals++;
      const token = this.owner.token();
      if (token && this.refusals % CHECK_AFTER_REFUSALS === 0) this.checkToken(token);
    }
    let delay = Math.min(MAX_BACKOFF_MS, 150 * 2 ** this.attempts) * (0.5 + Math.random() / 2);
    if (wasWelcomed && this.attempts === 0) delay = 50 + Math.random() * 100;
    if (code === 4429) delay = 5_000 + Math.random() * 5_000; // flooding: back off
    if (code === 4409) delay = 10_000; // too many connections for this visitor
    this.attempts = Math.min(this.attempts + 1, 10);
    this.scheduleRetry(delay);
  }

  /** Ask whether the token is still valid; drop it only when the server says it is not
   * (then connect at once, without it).  No answer, or any other: keep it. */
  private checkToken(token: string): void {
    if (this.checking) return;
    this.checking = true;
    this.owner.checkToken(token).then((answer) => {
      this.checking = false;
      if (answer !== "invalid" || this.stopped) return;
      this.owner.dropToken(token);
      if (!this.ws) {
        this.attempts = 0;
        this.scheduleRetry(0);
      }
    });
  }

  private scheduleRetry(delay: number): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = window.setTimeout(() => this.connect(), delay);
  }

  private schedulePing(): void {
    clearTimeout(this.pingTimer);
    this.pingTimer = window.setTimeout(() => this.probe(PONG_WITHIN_MS), PING_EVERY_MS);
  }

  /** Ping; without a pong in time the socket is dead (a cut network often leaves it
   * looking open): drop it and reconnect at once. */
  private probe(timeoutMs: number): void {
    if (this.probing || !this.ws) return;
    const ws = this.ws;
    this.probing = true;
    this.request({ type: "ping" }, timeoutMs).then(
      () => {
        this.probing = false;
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
          this.attempts = 0;
          if (!this.stopped) this.scheduleRetry(0);
        } else {
          this.schedulePing();
        }
      },
    );
  }
}
