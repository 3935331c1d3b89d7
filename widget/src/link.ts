// The visitor WebSocket: the shared link (clients/link.ts: msgpack frames, request ids,
// liveness pings, reconnection with back-off) with what is the widget's own.
//
// The token travels in the subprotocol list ["lc.v1", "lc.token.<token>"], never in the URL.
//
// The token is kept through an outage of any length.  A refused handshake looks to a browser
// exactly like a server that is down or restarting (a 1006 close), so failed handshakes are
// never a reason to drop it by themselves: after every CHECK_AFTER_REFUSALS of them in a row
// the owner asks the server (POST /api/visitor/check, docs/protocol.md 2.6), and only its
// explicit "invalid_token" answer drops the token; the next connection is then a new visitor.
//
// Each (re)connection reports `onWelcome`; the owner then resumes its chat and resends what
// was never acknowledged (see chat.ts).

import { Decoder, Encoder } from "@msgpack/msgpack";
import { Link, RequestError, type LinkOwner } from "../../clients/link";
import type { ClientFrame, ServerFrame } from "../../clients/protocol";

export { Link, RequestError };
export type { ClientFrame, ServerFrame };

/** What the server says of a token: "invalid" only on its explicit, documented answer. */
export type TokenAnswer = "valid" | "invalid" | "unknown";

export interface VisitorOwner extends Pick<LinkOwner, "onWelcome" | "onFrame" | "onConnection"> {
  token(): string | null;
  /** The query string of the next handshake (the chat to resume in it), or "". */
  query(): string;
  /** Ask the server whether the token is valid (never throws). */
  checkToken(token: string): Promise<TokenAnswer>;
  /** The server said the token is invalid: forget it (if it is still the stored one). */
  dropToken(token: string): void;
}

const CHECK_AFTER_REFUSALS = 3;

export function visitorLink(url: string, owner: VisitorOwner): Link {
  const enc = new Encoder({ ignoreUndefined: true });
  const dec = new Decoder();
  let checking = false;
  const link: Link = new Link(
    {
      url,
      protocols: () => {
        const token = owner.token();
        return token ? ["lc.v1", "lc.token." + token] : ["lc.v1"];
      },
      query: () => owner.query(),
      codec: { encode: (frame) => enc.encode(frame), decode: (data) => dec.decode(data) },
      pingEveryMs: 15_000,
      pongWithinMs: 6_000,
      requestTimeoutMs: 10_000,
      backoff: { firstMs: 150, capMs: 8_000, quickAfterDrop: true },
      floodMs: 10_000,
      terminal: [],
    },
    {
      onWelcome: (w) => owner.onWelcome(w),
      onFrame: (f) => owner.onFrame(f),
      onConnection: (up) => owner.onConnection?.(up),
      onRefused: (refusals) => {
        // the server may be down, WebSockets blocked, or the token dead (expired, or signed
        // by another server): ask whether it is still valid; drop it only when the server
        // says it is not (then connect at once, without it).  No answer, or any other: keep it.
        const token = owner.token();
        if (!token || refusals % CHECK_AFTER_REFUSALS !== 0 || checking) return;
        checking = true;
        owner.checkToken(token).then((answer) => {
          checking = false;
          if (answer !== "invalid" || !link.running) return;
          owner.dropToken(token);
          link.retryNow();
        });
      },
    },
  );
  return link;
}
