// What the widget keeps in the host page's storage, under one prefix per server and site.
//
// localStorage (shared by the site's tabs, survives reloads):
//   <ns>token         the visitor token (sent only in the WebSocket subprotocol list and
//                     in the body of POST /api/visitor/check); removed only when the
//                     server answers that it is invalid (see link.ts)
//   <ns>chat          the id of the visitor's last chat (to show its end, rating, transcript)
//   <ns>done          ids of chats the visitor rated or dismissed
//   <ns>out.<cid>     a message not yet acknowledged by the server: resent after a reload
// sessionStorage (one tab):
//   <ns>open          the panel was open: reopen it after a reload
//
// Storage may be missing or throw (private modes, sandboxed frames, full quota): then the
// widget works from memory for this page view.

export interface Outgoing {
  cid: string;
  chat: string;
  text: string;
  ts: number;
}

export class Store {
  private memory = new Map<string, string>();

  constructor(private readonly ns: string) {}

  private area(session: boolean): Storage | null {
    try {
      return session ? window.sessionStorage : window.localStorage;
    } catch {
      return null;
    }
  }

  get(key: string, session = false): string | null {
    const k = this.ns + key;
    try {
      const v = this.area(session)?.getItem(k);
      if (v != null) return v;
    } catch {
      /* fall back to memory */
    }
    return this.memory.get((session ? "s:" : "l:") + k) ?? null;
  }

  set(key: string, value: string | null, session = false): void {
    const k = this.ns + key;
    const mk = (session ? "s:" : "l:") + k;
    if (value == null) this.memory.delete(mk);
    else this.memory.set(mk, value);
    try {
      const area = this.area(session);
      if (value == null) area?.removeItem(k);
      else area?.setItem(k, value);
    } catch {
      /* memory only */
    }
  }

  getJSON<T>(key: string, fallback: T): T {
    const raw = this.get(key);
    if (raw == null) return fallback;
    try {
      return JSON.parse(raw) as T;
    } catch {
      return fallback;
    }
  }

  /** Every kept unacknowledged message, oldest first. */
  outgoing(): Outgoing[] {
    const found: Outgoing[] = [];
    const prefix = this.ns + "out.";
    try {
      const ls = window.localStorage;
      for (let i = 0; i < ls.length; i++) {
        const k = ls.key(i);
        if (!k || !k.startsWith(prefix)) continue;
        try {
          const o = JSON.parse(ls.getItem(k) || "null") as Outgoing | null;
          if (o && typeof o.cid === "string" && typeof o.chat === "string" && typeof o.text === "string") {
            found.push(o);
          }
        } catch {
          /* ignore a damaged entry */
        }
      }
    } catch {
      for (const [k, v] of this.memory) {
        if (k.startsWith("l:" + prefix)) found.push(JSON.parse(v) as Outgoing);
      }
    }
    return found.sort((a, b) => a.ts - b.ts);
  }

  keepOutgoing(o: Outgoing): void {
    this.set("out." + o.cid, JSON.stringify(o));
  }

  dropOutgoing(cid: string): void {
    this.set("out." + cid, null);
  }

  isKey(storageKey: string | null, key: string): boolean {
    return storageKey === this.ns + key;
  }
}
