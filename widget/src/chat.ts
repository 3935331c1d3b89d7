// The visitor's chat as the widget knows it, and the protocol rules that keep it whole
// across reloads, tabs and network drops (the same rules as chatserver/client.py):
//
// - the token is kept in localStorage; with it a reload or another tab is the same visitor;
//   it survives any outage, and is dropped only when the server, asked after handshakes
//   kept failing, answers that it is invalid (see link.ts);
// - per chat, `lastSeq` is the highest sequence number received; a `msg` at or below it is
//   a duplicate and dropped;
// - after every (re)connection the chat is resumed from `lastSeq` (0 on a fresh page: the
//   server replays the stored log), and every message not yet acknowledged is resent with
//   its original client id (`cid`), so that the server's dedup stores it once;
// - unacknowledged messages are also kept in localStorage, so a reload does not lose them;
// - `resync` (messages no longer stored) restarts the view from what the server still has;
// - the server does not send a message back to the connection that sent it: its `ack`
//   (with the seq) puts it in the transcript; when a replay brings it back later (resume
//   after a reconnect), it is recognized by its seq and shown once.
//
// This module holds state and talks to the server; ui.ts draws it.

import type {
  Ack,
  AvailabilityView,
  ChatView,
  ClientFrameOf,
  Message,
  NoticeView,
  ServerFrame,
  Welcome,
} from "../../clients/protocol";
import { type Link, type RequestError, type TokenAnswer, visitorLink } from "./link";
import { randomId } from "./dom";
import { Store } from "./storage";

/** A message as the transcript holds it (a `msg` frame without its envelope fields). */
export type Msg = Pick<Message, "seq" | "cid" | "text" | "ts" | "kind" | "from" | "file">;

/** Why a file was not sent: a key of the widget's strings. */
export type FileRefusal = "fileTooLarge" | "fileType" | "fileFailed";

export interface Pending {
  cid: string;
  chat: string;
  text: string;
  ts: number;
  /** sending: not acknowledged yet (resent on reconnect); failed: refused or timed out */
  state: "sending" | "failed";
  /** acknowledged with this seq; waiting for the message itself */
  seq?: number;
  /** refused for good (for example the chat ended): no retry */
  final?: boolean;
  /** `overloaded` refusals in a row (resent after the server's hint, a bounded number of times) */
  overloaded?: number;
}

/** The chat object (docs/protocol.md 5.1), visitor view. */
export type ChatInfo = ChatView;

export interface WidgetConfig {
  languages: string[];
  default_language: string;
  open: boolean;
  agents_available: boolean;
  topics_available?: Record<string, boolean>;
  offline_message: Record<string, string>;
  prechat_fields: string[];
  required_fields: string[];
  topics: string[];
  /** topic -> language -> its translated name (topics with translations only) */
  topic_labels?: Record<string, Record<string, string>>;
  color: string;
  title: Record<string, string>;
  /** ask "how likely are you to recommend us?" 0-10 beside the rating */
  nps_question?: boolean;
  limits?: { max_text_chars?: number; visitor_tracking?: boolean };
  /** offer "email me the transcript" at the end of a chat (the server sends e-mail) */
  email_transcript?: boolean;
  /** outage notices in force (the socket's welcome and frames take over once connected) */
  notices?: Notice[];
}

/** An outage notice (the `notice` frame, and `welcome.notices`). */
export type Notice = NoticeView;

/** The notice's text in `lang`, else English, else any. */
export function noticeText(n: Notice, lang: string): string {
  return n.texts[lang] || n.texts.en || Object.values(n.texts)[0] || "";
}

/** What the server says a visitor may be offered (welcome, then `availability` frames). */
export type Availability = AvailabilityView;

export const OPEN_STATES = ["queued", "offered", "active"];

export function isOpen(chat: ChatInfo | null): boolean {
  return !!chat && OPEN_STATES.includes(chat.state);
}

export interface Hooks {
  changed(what: "chat" | "messages" | "status" | "typing" | "connection" | "config" | "read" | "notices" | "invite"): void;
  /** A new message arrived; `live` is false for messages replayed on (re)load. */
  message(msg: Msg, live: boolean): void;
  chatStarted(chat: ChatInfo): void;
  chatEnded(chat: ChatInfo): void;
}

const ACK_TIMEOUT_MS = 10_000;
/** Sends of one message refused with `overloaded` before it is shown as failed. */
const OVERLOAD_ATTEMPTS = 6;

/** How long to wait before resending a frame refused with `overloaded`: the server's
 * `retry_ms` hint, doubled per further refusal (at most 8 s), with +-50 % jitter so that the
 * clients refused together do not come back together. */
export function overloadDelay(retryMs: unknown, attempt: number): number {
  const base = typeof retryMs === "number" && retryMs > 0 ? retryMs : 500;
  return Math.min(base * 2 ** attempt, 8_000) * (0.5 + Math.random());
}
const TYPING_IDLE_MS = 3_000;
const AGENT_TYPING_TTL_MS = 6_000;

export class ChatSession {
  readonly link: Link;
  config: WidgetConfig | null = null;
  visitorId = "";
  agentsAvailable: boolean | null = null;
  availability: Availability | null = null;
  maxText = 4000;
  /** Attachment limits from the welcome (FILE_MAX_BYTES, FILE_TYPES). */
  fileMax = 10 * 1024 * 1024;
  fileTypes: string[] = ["image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf"];
  typingIntervalMs = 1000;
  /** Typing preview (`welcome.limits.typing_preview`): only then does the draft go out
   * with `typing` frames, at most `previewChars` characters, one per `previewIntervalMs`. */
  typingPreview = false;
  previewChars = 500;
  previewIntervalMs = 500;
  /** Visitors on the site (`limits.visitor_tracking`): page views are reported. */
  tracking = false;
  /** The visitor's language, for page views. */
  lang = "";
  /** An agent's invitation to chat, waiting for the visitor's answer. */
  invitation: { id: string; agent: string; text: string } | null = null;
  /** The page last reported on this connection ("" after each welcome). */
  private pageSent = "";
  private pageTimer = 0;

  chat: ChatInfo | null = null;
  /** Outage notices in force that the server shows this visitor, oldest first. */
  notices: Notice[] = [];
  msgs: Msg[] = [];
  lastSeq = 0;
  /** seqs of our own messages shown from their ack, not yet received as `msg` */
  private ownSeqs = new Set<number>();
  pending = new Map<string, Pending>();
  agentRead = 0;
  myRead = 0;
  agentTyping = "";
  connected = false;

  private liveAfter = Infinity;
  private awaitingResume = "";
  private typingSentAt = 0;
  private typingOn = false;
  private typingIdle = 0;
  private typingLater = 0;
  private previewSentAt = 0;
  private previewSent = "";
  private previewLater = 0;
  private draft = "";
  private agentTypingTimer = 0;
  private sentRead = 0;

  constructor(
    readonly base: string,
    readonly store: Store,
    private readonly hooks: Hooks,
  ) {
    const wsBase = base.replace(/^http/, "ws");
    this.link = visitorLink(wsBase + "/ws/visitor", {
      token: () => store.get("token"),
      query: () => this.resumeQuery(),
      checkToken: (token) => this.checkToken(token),
      dropToken: (token) => {
        if (store.get("token") === token) store.set("token", null);
      },
      onWelcome: (w) => this.onWelcome(w),
      onFrame: (f) => this.onFrame(f),
      onConnection: (up) => {
        this.connected = up;
        hooks.changed("connection");
      },
    });
  }

  // ---- configuration ------------------------------------------------------------------
  async loadConfig(): Promise<void> {
    try {
      const resp = await fetch(this.base + "/api/widget/config", {
        credentials: "omit",
        cache: "no-store",
      });
      if (!resp.ok) return;
      const cfg = (await resp.json()) as WidgetConfig;
      const same = JSON.stringify(cfg) === JSON.stringify(this.config);
      this.config = cfg;
      if (cfg.limits?.max_text_chars) this.maxText = cfg.limits.max_text_chars;
      // visitors on the site: connect now (not only when the visitor opens the chat)
      if (cfg.limits?.visitor_tracking) this.link.start();
      if (!this.connected) this.agentsAvailable = cfg.agents_available;
      if (!this.connected && Array.isArray(cfg.notices)) {
        this.notices = cfg.notices;
        this.hooks.changed("notices");
      }
      if (!same) this.hooks.changed("config");
    } catch {
      /* offline: keep what we have */
    }
  }

  // ---- connection ---------------------------------------------------------------------
  /** POST /api/visitor/check: "invalid" only on 401 with the code `invalid_token`.  The
   * body is sent as text/plain, so the cross-origin request needs no preflight. */
  private async checkToken(token: string): Promise<TokenAnswer> {
    const abort = new AbortController();
    const timer = window.setTimeout(() => abort.abort(), 10_000);
    try {
      const resp = await fetch(this.base + "/api/visitor/check", {
        method: "POST",
        body: JSON.stringify({ token }),
        credentials: "omit",
        cache: "no-store",
        signal: abort.signal,
      });
      if (resp.ok) return "valid";
      if (resp.status === 401) {
        const body = (await resp.json()) as { error?: unknown } | null;
        if (body && body.error === "invalid_token") return "invalid";
      }
    } catch {
      /* down, unreachable, or not our server's answer */
    } finally {
      clearTimeout(timer);
    }
    return "unknown";
  }

  private onWelcome(w: Welcome): void {
    if (typeof w.token === "string") this.store.set("token", w.token);
    this.visitorId = String(w.visitor || "");
    this.agentsAvailable = !!w.agents_available;
    this.applyAvailability(w.availability);
    this.notices = Array.isArray(w.notices) ? (w.notices as Notice[]) : [];
    this.hooks.changed("notices");
    const limits = w.limits || {};
    if (limits.max_text_chars) this.maxText = limits.max_text_chars;
    if (limits.file_max_bytes) this.fileMax = limits.file_max_bytes;
    if (Array.isArray(limits.file_types)) this.fileTypes = limits.file_types;
    if (limits.typing_interval_s) this.typingIntervalMs = limits.typing_interval_s * 1000;
    // off unless this welcome says it is on (a server may turn it off between connections)
    this.typingPreview = limits.typing_preview === true;
    if (limits.typing_preview_chars) this.previewChars = limits.typing_preview_chars;
    if (limits.typing_preview_interval_s) this.previewIntervalMs = limits.typing_preview_interval_s * 1000;
    this.tracking = limits.visitor_tracking === true;
    this.pageSent = "";
    this.pageView();
    if (this.tracking && !this.pageTimer) {
      // single-page sites change the address without a load: look for it
      const check = () => this.pageView();
      window.addEventListener("popstate", check);
      window.addEventListener("hashchange", check);
      this.pageTimer = window.setInterval(check, 1000);
    }
    const open: ChatInfo | null = w.chat || null;
    if (open && (!this.chat || this.chat.id !== open.id)) {
      // replayed messages are history until the resume reply says where live ones start
      this.adopt(open, Infinity);
    }
    // kept unacknowledged messages of chats that are over can never be sent
    for (const o of this.store.outgoing()) {
      if (!open || o.chat !== open.id) this.store.dropOutgoing(o.cid);
    }
    const target = this.resumeTarget();
    if (target && open && w.resumed === target) {
      // resumed by the handshake: the welcome's chat is the resume's reply, the replay
      // follows the welcome
      this.awaitingResume = target;
      this.applyChat(open, open.seq ?? 0);
    } else if (target) {
      this.resume(target, this.chat?.id === target ? this.lastSeq : 0);
    }
    this.flushPending();
    this.hooks.changed("config");
  }

  /** The chat to follow again after a (re)connection: the one shown, else the stored
   * one unless it is over. */
  private resumeTarget(): string {
    const shown = this.chat?.id || "";
    if (shown) return shown;
    const stored = this.store.get("chat");
    return stored && !this.isDone(stored) ? stored : "";
  }

  /** The handshake asks to resume the chat with the token's visitor (docs/protocol.md 2.2):
   * one request less per reconnection; the server ignores it for a chat not open. */
  private resumeQuery(): string {
    const target = this.resumeTarget();
    if (!target || !this.store.get("token")) return "";
    const after = this.chat?.id === target ? this.lastSeq : 0;
    return `resume=${encodeURIComponent(target)}&after=${after}`;
  }

  private resume(chatId: string, after: number): void {
    this.awaitingResume = chatId;
    this.link.resume(chatId, after).then(
      (reply) => {
        if (reply) this.applyChat(reply.chat, reply.chat.seq ?? 0);
      },
      (err: RequestError) => {
        if (this.awaitingResume === chatId) this.awaitingResume = "";
        if (err.code === "forbidden" || err.code === "not_found") {
          // gone (retention passed) or not ours: forget it
          if (this.store.get("chat") === chatId) this.store.set("chat", null);
          if (this.chat?.id === chatId && !isOpen(this.chat)) this.dismiss();
        }
      },
    );
  }

  /** Start showing another chat (a new one, or the one the server says is open). */
  private adopt(chat: ChatInfo, liveAfter: number): void {
    this.chat = { ...chat };
    this.msgs = [];
    this.ownSeqs.clear();
    this.lastSeq = 0;
    this.agentRead = 0;
    this.sentRead = 0;
    this.myRead = 0;
    this.liveAfter = liveAfter;
    this.readPointers(chat);
    this.store.set("chat", chat.id);
    this.hooks.changed("chat");
    this.hooks.changed("messages");
  }

  // ---- incoming frames ----------------------------------------------------------------
  private onFrame(f: ServerFrame): void {
    switch (f.type) {
      case "msg":
        this.onMsg(f);
        break;
      case "ack":
        this.onAck(f);
        break;
      case "chat":
        if (f.chat && typeof f.rid !== "string") this.applyChat(f.chat, null);
        break;
      case "queue":
        if (this.chat && f.chat === this.chat.id) {
          this.chat.position = f.position;
          this.chat.eta_s = f.eta_s;
          this.chat.available = f.available;
          this.hooks.changed("status");
        }
        break;
      case "availability":
        this.applyAvailability(f);
        this.hooks.changed("status");
        break;
      case "notice":
        this.notices = [...this.notices.filter((n) => n.id !== f.id), f];
        this.hooks.changed("notices");
        break;
      case "notice_end":
        this.notices = this.notices.filter((n) => n.id !== f.id);
        this.hooks.changed("notices");
        break;
      case "typing":
        if (this.chat && f.chat === this.chat.id && f.from?.role === "agent") {
          clearTimeout(this.agentTypingTimer);
          this.agentTyping = f.on ? String(f.from.name || "") || "-" : "";
          if (f.on) {
            this.agentTypingTimer = window.setTimeout(() => {
              this.agentTyping = "";
              this.hooks.changed("typing");
            }, AGENT_TYPING_TTL_MS);
          }
          this.hooks.changed("typing");
        }
        break;
      case "read":
        if (this.chat && f.chat === this.chat.id) {
          const seq = Math.min(Number(f.seq) || 0, Math.max(this.lastSeq, this.chat.seq || 0));
          if (f.by?.role === "agent" && seq > this.agentRead) {
            this.agentRead = seq;
            this.hooks.changed("read");
          } else if (f.by?.role === "visitor" && f.by.id === this.visitorId && seq > this.myRead) {
            this.myRead = seq; // read in another tab
            this.sentRead = Math.max(this.sentRead, seq);
            this.hooks.changed("read");
          }
        }
        break;
      case "resync":
        if (this.chat && f.chat === this.chat.id) {
          // some messages are gone from the server's log: rebuild from what it still has
          this.msgs = [];
          this.ownSeqs.clear();
          this.lastSeq = 0;
          this.hooks.changed("messages");
          this.resume(this.chat.id, 0);
        }
        break;
      case "invite":
        if (!isOpen(this.chat) && this.store.get("invite") !== f.id) {
          this.invitation = { id: f.id, agent: f.agent, text: f.text };
          this.hooks.changed("invite");
        }
        break;
      case "error":
        if (f.code === "rate_limited" || f.code === "internal") this.retryLater();
        break;
    }
  }

  private applyAvailability(a: unknown): void {
    if (!a || typeof a !== "object") return;
    const f = a as Partial<Availability>;
    this.availability = {
      open: f.open !== false,
      topics: f.topics && typeof f.topics === "object" ? { ...f.topics } : {},
      agents_available: !!f.agents_available,
    };
    this.agentsAvailable = this.availability.agents_available;
  }

  /** The server refused a `start` outside business hours: show the offline form. */
  closedNow(): void {
    const a = this.availability;
    this.availability = { open: false, topics: a?.topics || {}, agents_available: a?.agents_available ?? false };
    this.hooks.changed("status");
  }

  /** Remember that the visitor is finished with this chat (also after a reload). */
  markDone(chatId: string): void {
    const done = this.store.getJSON<string[]>("done", []).filter((id) => id !== chatId);
    done.push(chatId);
    this.store.set("done", JSON.stringify(done.slice(-20)));
  }

  private onMsg(m: Message): void {
    if (!this.chat || m.chat !== this.chat.id || m.internal) return;
    if (this.awaitingResume === m.chat) return; // stale replay from before our resume
    if (typeof m.seq !== "number" || m.seq <= this.lastSeq) return; // duplicate
    this.lastSeq = m.seq;
    if (this.ownSeqs.delete(m.seq)) {
      this.settle(String(m.cid || "")); // ours, shown from its ack: a replay of it
      return;
    }
    const msg: Msg = {
      seq: m.seq, cid: String(m.cid || ""), text: String(m.text ?? ""), ts: Number(m.ts) || Date.now(),
      kind: m.kind || "message", from: m.from || { role: "agent", id: "", name: "" },
    };
    if (m.file) msg.file = m.file;
    this.msgs.push(msg);
    if (msg.from.role === "visitor") this.settle(msg.cid);
    else if (msg.kind === "message" && this.agentTyping) {
      clearTimeout(this.agentTypingTimer);
      this.agentTyping = "";
      this.hooks.changed("typing");
    }
    this.hooks.message(msg, msg.seq > this.liveAfter);
    this.hooks.changed("messages");
  }

  private onAck(a: Ack): void {
    // stored by the server: never resend it.  The server does not send it back to this
    // connection, so the ack puts it in the transcript, in seq order.
    this.store.dropOutgoing(a.cid);
    const p = this.pending.get(a.cid);
    if (!p) return;
    const seq = Number(a.seq);
    if (!this.chat || p.chat !== this.chat.id || !Number.isFinite(seq) || seq <= 0) return;
    this.settle(p.cid);
    if (seq <= this.lastSeq && this.msgs.some((x) => x.seq === seq)) {
      this.hooks.changed("messages"); // already received (a resend answered as a duplicate)
      return;
    }
    const msg: Msg = {
      seq, cid: p.cid, text: p.text, ts: p.ts, kind: "message",
      from: { role: "visitor", id: this.visitorId, name: "" },
    };
    let at = this.msgs.length;
    while (at > 0 && this.msgs[at - 1].seq > seq) at--;
    this.msgs.splice(at, 0, msg);
    if (seq > this.lastSeq) this.ownSeqs.add(seq);
    this.hooks.message(msg, seq > this.liveAfter);
    this.hooks.changed("messages");
  }

  /** Our message is in the chat: it is no longer pending anywhere. */
  private settle(cid: string): void {
    this.pending.delete(cid);
    this.store.dropOutgoing(cid);
  }

  private applyChat(info: ChatInfo, replySeq: number | null): void {
    const before = this.chat;
    if (!before || before.id !== info.id) {
      // a chat we learn of from a notification (started here or in another tab) is new
      this.adopt(info, replySeq === null ? 0 : Infinity);
      if (isOpen(info)) this.hooks.chatStarted(this.chat!);
    } else {
      const wasOpen = isOpen(before);
      this.chat = { ...before, ...info };
      if (info.state !== "queued") {
        delete this.chat.position;
        delete this.chat.eta_s;
      }
      this.readPointers(info);
      if (wasOpen && !isOpen(this.chat)) this.ended();
      this.hooks.changed("chat");
    }
    if (replySeq !== null && this.awaitingResume === info.id) {
      // the reply to our resume: everything after it is the replay, then live messages
      this.awaitingResume = "";
      this.liveAfter = this.liveAfter === Infinity ? replySeq : this.liveAfter;
      if (!isOpen(this.chat)) this.failPending(true);
    }
  }

  private readPointers(info: ChatInfo): void {
    for (const [who, seq] of Object.entries(info.read || {})) {
      if (who.startsWith("agent:")) this.agentRead = Math.max(this.agentRead, seq);
      if (who === "visitor:" + this.visitorId) {
        this.myRead = Math.max(this.myRead, seq);
        this.sentRead = Math.max(this.sentRead, seq);
      }
    }
  }

  private ended(): void {
    clearTimeout(this.agentTypingTimer);
    this.agentTyping = "";
    this.hooks.changed("typing");
    this.typingOn = false;
    clearTimeout(this.previewLater);
    this.previewLater = 0;
    this.draft = this.previewSent = "";
    this.failPending(true);
    if (this.chat) this.hooks.chatEnded(this.chat);
  }

  // ---- sending ------------------------------------------------------------------------
  /** Visitors on the site: report the page (once per page and connection; never when the
   * setting is off).  Called on each welcome and when the page's address changes. */
  pageView(): void {
    const url = location.href.slice(0, 2048);
    if (!this.tracking || url === this.pageSent) return;
    const frame: ClientFrameOf<"page"> = { type: "page", url, title: document.title.slice(0, 256) };
    if (this.lang) frame.locale = this.lang;
    if (this.link.send(frame)) this.pageSent = url;
  }

  /** Answer the invitation shown: the agent hears of it; accepting is then a `start`. */
  answerInvite(accept: boolean): void {
    const inv = this.invitation;
    this.invitation = null;
    if (inv) {
      this.link.send({ type: "invite_answer", invite: inv.id, accept });
      this.store.set("invite", inv.id); // the visitor's other tabs hide it too
    }
    this.hooks.changed("invite");
  }

  /** Another tab answered the invitation shown here. */
  answeredElsewhere(): void {
    if (this.invitation && this.store.get("invite") === this.invitation.id) {
      this.invitation = null;
      this.hooks.changed("invite");
    }
  }

  async start(fields: {
    name?: string; email?: string; topic?: string; locale: string;
  }): Promise<void> {
    await this.link.ready(15_000);
    const frame: ClientFrameOf<"start"> = {
      type: "start",
      locale: fields.locale,
      page: location.href.slice(0, 2048),
    };
    if (document.referrer) frame.referrer = document.referrer.slice(0, 2048);
    if (fields.name) frame.name = fields.name.slice(0, 256);
    if (fields.email) frame.email = fields.email.slice(0, 256);
    if (fields.topic) frame.topic = fields.topic;
    try {
      const reply = await this.link.request(frame);
      if (reply.type === "chat") this.applyChat(reply.chat, null);
    } catch (err) {
      const e = err as RequestError;
      if (e.code === "chat_open" && e.frame?.chat) {
        // another tab was quicker: carry on with that chat
        this.resume(String(e.frame.chat), 0);
        return;
      }
      throw err;
    }
  }

  /** Queue a message; it is sent now or as soon as the connection is back. */
  send(text: string): void {
    if (!this.chat || !isOpen(this.chat)) return;
    const p: Pending = { cid: randomId("w"), chat: this.chat.id, text, ts: Date.now(), state: "sending" };
    this.pending.set(p.cid, p);
    this.store.keepOutgoing({ cid: p.cid, chat: p.chat, text, ts: p.ts });
    this.typing(false);
    this.transmit(p);
    this.hooks.changed("messages");
  }

  /** Send a file (docs/files.md): POST its bytes with the visitor's token; on success it
   * is in the transcript at once (the server sends it to the others as a msg). */
  async sendFile(file: File): Promise<FileRefusal | null> {
    const chat = this.chat;
    const token = this.store.get("token");
    if (!chat || !isOpen(chat) || !token) return "fileFailed";
    if (file.size > this.fileMax) return "fileTooLarge";
    const cid = randomId("f");
    const q = new URLSearchParams({ name: file.name.slice(0, 1000), cid });
    let resp: Response;
    try {
      resp = await fetch(`${this.base}/api/chats/${encodeURIComponent(chat.id)}/files?${q}`, {
        method: "POST", credentials: "omit", body: file,
        headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/octet-stream" },
      });
    } catch {
      return "fileFailed";
    }
    if (resp.status === 413) return "fileTooLarge";
    if (resp.status === 415) return "fileType";
    if (resp.status !== 201) return "fileFailed";
    const body = (await resp.json()) as { seq: number; file: NonNullable<Msg["file"]> };
    const seq = Number(body.seq);
    if (!this.chat || this.chat.id !== chat.id || !(seq > 0)) return null;
    if (this.msgs.some((x) => x.seq === seq)) return null;
    const msg: Msg = {
      seq, cid, text: "", ts: Date.now(), kind: "message",
      from: { role: "visitor", id: this.visitorId, name: "" }, file: body.file,
    };
    let at = this.msgs.length;
    while (at > 0 && this.msgs[at - 1].seq > seq) at--;
    this.msgs.splice(at, 0, msg);
    if (seq > this.lastSeq) this.ownSeqs.add(seq);
    this.hooks.message(msg, true);
    this.hooks.changed("messages");
    return null;
  }

  /** A short-lived signed URL for one of the chat's files (absolute) and its expiry (ms,
   * by the server's clock), or null. */
  async fileUrl(fileId: string): Promise<{ url: string; expires: number } | null> {
    const chat = this.chat;
    const token = this.store.get("token");
    if (!chat || !token) return null;
    try {
      const resp = await fetch(
        `${this.base}/api/chats/${encodeURIComponent(chat.id)}/files/${encodeURIComponent(fileId)}`,
        { credentials: "omit", headers: { Authorization: `Bearer ${token}` } },
      );
      if (resp.status !== 200) return null;
      const body = (await resp.json()) as { url: string; expires: number };
      // the expiry by the server's clock, and at most two minutes by ours (clocks differ)
      return { url: this.base + body.url, expires: Math.min(body.expires, Date.now() + 120_000) };
    } catch {
      return null;
    }
  }

  retry(cid: string): void {
    const p = this.pending.get(cid);
    if (!p || p.final) return;
    p.state = "sending";
    this.transmit(p);
    this.hooks.changed("messages");
  }

  private transmit(p: Pending): void {
    const sent = this.link.request({ type: "msg", chat: p.chat, cid: p.cid, text: p.text }, ACK_TIMEOUT_MS);
    sent.catch((err: RequestError) => {
      if (!this.pending.has(p.cid)) return;
      if (err.code === "offline") return; // resent when the connection is back
      if (err.code === "rate_limited" || err.code === "internal") return; // retried later
      if (err.code === "overloaded") {
        // the server is busy: the message stays pending and is resent (same cid, so the
        // server stores it once) after its hint, a bounded number of times
        const attempt = p.overloaded ?? 0;
        if (attempt + 1 < OVERLOAD_ATTEMPTS) {
          p.overloaded = attempt + 1;
          window.setTimeout(() => {
            if (this.pending.get(p.cid) === p && p.seq === undefined && p.state === "sending") this.transmit(p);
          }, overloadDelay(err.frame?.retry_ms, attempt));
          return;
        }
      }
      p.overloaded = 0;
      p.state = "failed";
      if (["invalid_state", "forbidden", "too_large", "bad_frame"].includes(err.code)) p.final = true;
      if (p.final) this.store.dropOutgoing(p.cid);
      this.hooks.changed("messages");
    });
  }

  private retryTimer = 0;
  private retryLater(): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = window.setTimeout(() => this.flushPending(), 3_000);
  }

  /** After a (re)connection: resend every message of the current chat that was never
   * acknowledged (from this page, or kept from an earlier one), with its original cid. */
  private flushPending(): void {
    for (const o of this.store.outgoing()) {
      if (!this.pending.has(o.cid) && this.chat && o.chat === this.chat.id) {
        this.pending.set(o.cid, { ...o, state: "sending" });
      }
    }
    for (const p of this.pending.values()) {
      if (p.final || p.seq !== undefined) continue;
      if (this.chat && p.chat === this.chat.id && isOpen(this.chat)) {
        p.state = "sending";
        this.transmit(p);
      }
    }
    this.hooks.changed("messages");
  }

  private failPending(final: boolean): void {
    for (const p of this.pending.values()) {
      if (p.seq !== undefined) continue;
      p.state = "failed";
      p.final = final;
      this.store.dropOutgoing(p.cid);
    }
    this.hooks.changed("messages");
  }

  /** The visitor is typing (at most one `on` per interval, as the server allows; `off`
   * after a pause or when the message is sent).  With typing preview on, `draft` (what
   * the composer holds) goes with it, at most one per preview interval: the newest one
   * once the interval has passed. */
  typing(on: boolean, draft = ""): void {
    if (!this.chat || !isOpen(this.chat)) return;
    clearTimeout(this.typingIdle);
    clearTimeout(this.typingLater);
    if (!on) {
      clearTimeout(this.previewLater);
      this.previewLater = 0;
      this.draft = "";
      this.previewSent = "";
      this.previewSentAt = 0; // stopping re-arms the server's throttle
      if (this.typingOn) {
        this.typingOn = false;
        this.link.send({ type: "typing", chat: this.chat.id, on: false });
      }
      return;
    }
    if (this.typingPreview && draft.trim()) {
      this.draft = Array.from(draft).slice(0, this.previewChars).join("");
      this.sendPreview();
      this.typingIdle = window.setTimeout(() => this.typing(false), TYPING_IDLE_MS);
      return;
    }
    const wait = this.typingSentAt + this.typingIntervalMs - Date.now();
    if (wait > 0) {
      // too soon after the last `on`: the server would drop it; send it when allowed
      if (!this.typingOn) this.typingLater = window.setTimeout(() => this.typing(true), wait + 20);
    } else if (this.link.send({ type: "typing", chat: this.chat.id, on: true })) {
      this.typingSentAt = Date.now();
      this.typingOn = true;
    }
    this.typingIdle = window.setTimeout(() => this.typing(false), TYPING_IDLE_MS);
  }

  /** Send the newest draft if the preview interval allows (with a margin, so the server's
   * throttle does not drop it), else once it does. */
  private sendPreview(): void {
    if (!this.chat || !this.typingPreview || !this.draft || this.draft === this.previewSent) return;
    const wait = this.previewSentAt + this.previewIntervalMs + 50 - Date.now();
    if (wait > 0) {
      if (!this.previewLater) {
        this.previewLater = window.setTimeout(() => {
          this.previewLater = 0;
          this.sendPreview();
        }, wait);
      }
      return;
    }
    if (this.link.send({ type: "typing", chat: this.chat.id, on: true, text: this.draft })) {
      this.previewSentAt = this.typingSentAt = Date.now();
      this.previewSent = this.draft;
      this.typingOn = true;
    }
  }

  /** The visitor has seen everything up to the newest message. */
  markRead(): void {
    if (!this.chat || this.lastSeq <= this.sentRead) return;
    if (this.link.send({ type: "read", chat: this.chat.id, seq: this.lastSeq })) {
      this.sentRead = this.lastSeq;
      this.myRead = Math.max(this.myRead, this.lastSeq);
      this.hooks.changed("read");
    }
  }

  unread(): number {
    let n = 0;
    for (const m of this.msgs) if (m.from.role !== "visitor" && m.seq > this.myRead) n++;
    return n;
  }

  async leave(): Promise<void> {
    if (!this.chat || !isOpen(this.chat)) return;
    await this.link.request({ type: "leave", chat: this.chat.id });
  }

  /** The post-chat survey: 1-5, a comment and, when asked, the 0-10 NPS answer (null: none). */
  async rate(rating: number, comment: string, nps: number | null = null): Promise<void> {
    if (!this.chat) return;
    const frame: ClientFrameOf<"rate"> = { type: "rate", chat: this.chat.id, rating, comment: comment.slice(0, 2000) };
    if (nps !== null && Number.isInteger(nps) && nps >= 0 && nps <= 10) frame.nps = nps;
    await this.link.request(frame);
  }

  /** "Email me the transcript" once the chat has ended (sent when its record is written). */
  async emailTranscript(email: string): Promise<void> {
    if (!this.chat) return;
    const frame: ClientFrameOf<"transcript"> = { type: "transcript", chat: this.chat.id, email: email.slice(0, 254) };
    await this.link.request(frame);
  }

  async offline(form: { name: string; email: string; text: string; topic: string; locale: string; notice?: string }): Promise<string> {
    await this.link.ready(15_000);
    const frame: ClientFrameOf<"offline"> = {
      type: "offline", email: form.email.slice(0, 256), text: form.text,
      page: location.href.slice(0, 2048), locale: form.locale,
    };
    if (form.name) frame.name = form.name.slice(0, 256);
    if (form.topic) frame.topic = form.topic;
    if (form.notice) frame.notice = form.notice;
    const reply = await this.link.request(frame);
    return reply.type === "ok" ? String(reply.chat || "") : "";
  }

  // ---- finished chats -----------------------------------------------------------------
  isDone(chatId: string): boolean {
    return this.store.getJSON<string[]>("done", []).includes(chatId);
  }

  /** The visitor is finished with the ended chat (rated it, or wants a new one). */
  dismiss(): void {
    if (this.chat) {
      const done = this.store.getJSON<string[]>("done", []).filter((id) => id !== this.chat!.id);
      done.push(this.chat.id);
      this.store.set("done", JSON.stringify(done.slice(-20)));
    }
    this.chat = null;
    this.msgs = [];
    this.ownSeqs.clear();
    this.lastSeq = 0;
    this.pending.clear();
    this.hooks.changed("chat");
    this.hooks.changed("messages");
  }
}
