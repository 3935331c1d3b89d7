// The agent WebSocket: the shared link (clients/link.ts: msgpack frames, request ids,
// liveness pings, reconnection with back-off) with what is the console's own.
//
// The socket authenticates with the HttpOnly `lc_session` cookie that POST /api/login set
// (the browser sends it with the handshake; the server checks the Origin too).  Close codes
// (chatserver/protocol/codes.py CloseCode): 4401 = credentials revoked (logged out elsewhere,
// disabled, password changed): never retry; 4429 = flooding: back off; 1001 / 1013 / 1011 /
// 1006: reconnect (to any process) and resume every chat from its last sequence number.
import { decode, encode } from "@msgpack/msgpack";
import { Link, RequestError } from "../../clients/link";
import type { Pong, ServerFrame } from "../../clients/protocol";

export { Link, RequestError };

export interface SocketHandlers {
  /** every server frame (after request replies are routed), the welcome first */
  onFrame(frame: ServerFrame): void;
  /** the welcome frame arrived (it is passed to onFrame first) */
  onOpen(): void;
  /** the socket closed (or did not answer a ping); willRetry false: 4401, the end */
  onDown(code: number, willRetry: boolean): void;
  /** closed before any welcome: maybe no longer logged in */
  onRefused(): void;
  /** a pong, with when its ping was sent and when the pong arrived (ms) */
  onPong?(pong: Pong, sent: number, got: number): void;
}

function agentUrl(): string {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/ws/agent`;
}

/** The console's link (not started: call start()). */
export function agentSocket(h: SocketHandlers): Link {
  const link: Link = new Link(
    {
      url: agentUrl(),
      protocols: () => ["lc.v1"],
      codec: { encode: (frame) => encode(frame), decode: (data) => decode(data) },
      pingEveryMs: 20_000,
      pongWithinMs: 10_000,
      requestTimeoutMs: 15_000,
      backoff: { firstMs: 600, capMs: 10_000, quickAfterDrop: false },
      floodMs: 5_000,
      terminal: [4401],
    },
    {
      onWelcome: (w) => {
        h.onFrame(w);
        h.onOpen();
        // at once, for the offset to the server clock
        const sent = Date.now();
        link
          .request({ type: "ping" })
          .then((pong) => h.onPong && pong.type === "pong" && h.onPong(pong, sent, Date.now()))
          .catch(() => {});
      },
      onFrame: (f) => h.onFrame(f),
      onClose: (code, willRetry) => h.onDown(code, willRetry),
      onRefused: () => h.onRefused(),
      onPong: (pong, sent, got) => h.onPong && h.onPong(pong, sent, got),
    },
  );
  return link;
}
