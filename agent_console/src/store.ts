// The console's state and everything that changes it: server frames in, actions out.
//
// One Store per tab.  Components read it and call its actions; every change ends with
// emit(), which re-renders (batched in a microtask).  Messages are kept per chat in
// sequence order, each once: a frame whose seq is already known is dropped, which is what
// makes a re-offered chat (its history is replayed from seq 1) or a resume safe.
import * as api from "./api";
import { beep, blinkTitle, notify, stopBlink, unlockAudio } from "./alerts";
import { agentSocket, type Link, type RequestError } from "./socket";
import { t } from "./i18n";
import { newId, overloadDelay, sleep } from "./util";
import type {
  AgentView, ChatChanged, ChatView, ClientFrame, ClientFrameOf, FrameOf, LiveFigures, Limits, Message, NoticeView,
  Ok, Sender, ServerFrame,
} from "../../clients/protocol";

/** The signed-in agent: the REST `AgentOut` (/api/me, /api/login), then the welcome's. */
export type Me = AgentView;
export type AgentStatus = AgentView["status"];
export type Conn = "idle" | "connecting" | "open" | "reconnecting";

/** What the console knows of a chat: the server's chat object, field by field as frames
 * bring them (`visitor_name`, `visitor_id` when a view has them). */
export type ChatInfo = Partial<ChatView> & { visitor_name?: string; visitor_id?: string; accepted?: number | null };

/** A message the server stored (it has its seq). */
export interface StoredMsg extends Message {
  local?: undefined;
  pending?: undefined;
  failed?: undefined;
}

/** A message sent from this tab and not yet acknowledged (no seq yet). */
export interface LocalMsg {
  cid: string;
  text: string;
  kind: Message["kind"];
  internal: boolean;
  ts: number;
  from: Sender;
  local: true;
  pending: boolean;
  failed?: boolean;
  seq?: undefined;
  file?: undefined;
}

export type ChatMsg = StoredMsg | LocalMsg;

export interface Toast {
  id: string;
  text: string;
  kind: string;
}

/** REST /api/canned (CannedOut). */
export interface Canned {
  id: string;
  shortcut: string;
  text: string;
  language: string;
}

/** REST /api/topics (TopicOut). */
export interface Topic {
  name: string;
  required: Record<string, number>;
  optional: Record<string, number>;
  priority: number;
  /** language -> the name visitors read */
  labels?: Record<string, string>;
}

/** REST /api/agents (AgentOut). */
export type DirectoryAgent = AgentView;

type Handlers = { [T in ServerFrame["type"]]?: (this: Store, f: FrameOf<T>) => void };

/** Sends of one message refused with `overloaded` before it is shown as failed. */
const OVERLOAD_ATTEMPTS = 6;

const OPEN_STATES = new Set<string>(["queued", "offered", "active"]);
const TYPING_SHOWN_MS = 6000;
const DRAFT_KEY = "lc.drafts";

function loadDrafts(): Record<string, string> {
  try {
    return JSON.parse(sessionStorage.getItem(DRAFT_KEY) || "{}") || {};
  } catch {
    return {};
  }
}

export class Chat {
  id: string;
  info: ChatInfo;
  visitor: Partial<NonNullable<ChatView["visitor"]>>;
  state: string;
  mode: "mine" | "watch" | "joined";
  msgs: ChatMsg[];
  bySeq: Map<number, StoredMsg>;
  lastSeq: number;
  readSent: number;
  peerRead: number;
  /** Who is typing; `text`: the visitor's draft so far (typing preview), if any. */
  typing: { name: string; role: Sender["role"]; id: string; until: number; text?: string } | null;
  tags: string[];
  offerExpires: number;
  ended: { by: string } | null;
  note: string;
  resynced: boolean;
  seenAt: number;
  draft?: string;
  offerTotal?: number;
  declinedByMe?: boolean;

  constructor(id: string) {
    this.id = id;
    this.info = {};
    this.visitor = {};
    this.state = "";
    this.mode = "mine"; // mine: offered to / held by me; watch: supervisor reading; joined
    this.msgs = [];
    this.bySeq = new Map();
    this.lastSeq = 0;
    this.readSent = 0; // how far I told the server I read
    this.peerRead = 0; // how far the visitor read
    this.typing = null; // {name, until}
    this.tags = [];
    this.offerExpires = 0;
    this.ended = null; // {by} once the chat ended while in my list
    this.note = "";
    this.resynced = false;
    this.seenAt = Date.now();
  }

  get visitorName(): string {
    return this.visitor.name || this.info.visitor_name || "";
  }

  get unread(): number {
    let n = 0;
    for (const m of this.msgs) {
      if (!m.local && m.seq > this.readSent && m.from && m.from.role === "visitor") n++;
    }
    return n;
  }

  /** When the visitor's unanswered message was sent (ms), or 0 when nobody waits. */
  get waitingSince(): number {
    let since = 0;
    for (let i = this.msgs.length - 1; i >= 0; i--) {
      const m = this.msgs[i];
      if (m.internal || m.kind === "system") continue;
      if (m.from && m.from.role === "visitor") since = m.ts;
      else break;
    }
    return since;
  }

  get lastMessage(): ChatMsg | null {
    for (let i = this.msgs.length - 1; i >= 0; i--) {
      if (this.msgs[i].kind !== "system") return this.msgs[i];
    }
    return null;
  }
}

export class Store {
  listeners: Set<() => void>;
  scheduled: boolean;
  drafts: Record<string, string>;
  socket!: Link | null;
  me!: Me | null;
  status!: AgentStatus;
  conn!: Conn;
  chats!: Map<string, Chat>;
  selected!: string | null;
  watching!: string | null;
  live!: LiveFigures | null;
  liveAt!: number;
  toasts!: Toast[];
  canned!: Canned[];
  topics!: Topic[];
  /** GET /api/tags: the tags agents may use; `free`: any tag is accepted. */
  tagList!: { tags: string[]; free: boolean };
  directory!: DirectoryAgent[];
  notices!: NoticeView[];
  clockOffset!: number;
  autoAway!: boolean;
  ring!: ReturnType<typeof setInterval> | null;
  limits?: Partial<Limits>;
  loggedOutReason?: string | null;
  offerNote?: Notification | null;
  settingStatus?: boolean;

  constructor() {
    this.listeners = new Set();
    this.scheduled = false;
    this.drafts = loadDrafts();
    this.resetSession();
    api.setUnauthorizedHandler(() => this.sessionEnded("expired"));
  }

  resetSession(): void {
    if (this.socket) this.socket.stop();
    this.socket = null;
    this.me = null;
    this.status = "offline";
    this.conn = "idle";
    this.chats = new Map();
    this.selected = null;
    this.watching = null;
    this.live = null;
    this.liveAt = 0;
    this.toasts = [];
    this.canned = [];
    this.topics = [];
    this.tagList = { tags: [], free: true };
    this.directory = [];
    this.notices = []; // outage notices in force (welcome, then notice / notice_end frames)
    this.clockOffset = 0;
    this.autoAway = false;
    clearInterval(this.ring ?? undefined);
    this.ring = null;
    stopBlink();
  }

  // ---- rendering ----------------------------------------------------------------------
  subscribe(fn: () => void): () => boolean {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  emit(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      for (const fn of this.listeners) fn();
    });
  }

  toast(text: string, kind = "info"): void {
    const id = newId("t");
    this.toasts = [...this.toasts, { id, text, kind }];
    this.emit();
    setTimeout(() => {
      this.toasts = this.toasts.filter((x) => x.id !== id);
      this.emit();
    }, kind === "error" ? 8000 : 5000);
  }

  now(): number {
    return Date.now() + this.clockOffset;
  }

  /** Post an outage notice (supervisors): {texts, topics, expires_at}. */
  async postNotice(body: { texts: Record<string, string>; topics: string[]; expires_at?: number }): Promise<unknown> {
    try {
      return await api.post("/api/notices", body);
    } catch (e) {
      this.toast(t("notice.failed", { message: (e as Error).message }), "error");
      throw e;
    }
  }

  /** End an outage notice; ``closeQueued``: also close the chats waiting in its topics. */
  async endNotice(id: string, closeQueued = false): Promise<{ closed: number }> {
    try {
      const r = await api.post<{ closed: number }>(`/api/notices/${encodeURIComponent(id)}/end`, { close_queued: closeQueued });
      if (closeQueued) this.toast(t("notice.closed", { n: r.closed }));
      return r;
    } catch (e) {
      this.toast(t("notice.failed", { message: (e as Error).message }), "error");
      throw e;
    }
  }

  get isSupervisor(): boolean {
    return !!this.me && (this.me.role === "supervisor" || this.me.role === "admin");
  }

  get isAdmin(): boolean {
    return !!this.me && this.me.role === "admin";
  }

  // ---- session ------------------------------------------------------------------------
  async restore(): Promise<void> {
    try {
      const me = await api.get<Me>("/api/me");
      this.start(me);
    } catch {
      this.conn = "idle";
      this.emit();
    }
  }

  async login(id: string, password: string): Promise<void> {
    unlockAudio();
    const reply = await api.post<{ agent: Me }>("/api/login", { id, password });
    this.loggedOutReason = null;
    this.start(reply.agent);
  }

  async logout(): Promise<void> {
    try {
      await api.post("/api/logout");
    } catch {
      /* the session may be gone already */
    }
    this.sessionEnded("logout");
  }

  sessionEnded(reason: string): void {
    if (!this.me && reason !== "logout") return;
    this.resetSession();
    this.loggedOutReason = reason;
    this.emit();
  }

  start(me: Me): void {
    this.resetSession();
    this.me = me;
    this.status = me.status || "offline";
    this.conn = "connecting";
    this.socket = agentSocket({
      onFrame: (f) => this.onFrame(f),
      onOpen: () => this.onOpen(),
      onDown: (code, retry) => this.onDown(code, retry),
      onRefused: () => this.checkSession(),
      onPong: (pong, sent, got) => {
        if (typeof pong.ts === "number") this.clockOffset = pong.ts - (sent + got) / 2;
      },
    });
    this.socket.start();
    this.loadCanned();
    this.loadTopics();
    this.loadTags();
    if (this.isSupervisor) this.loadDirectory();
    this.emit();
  }

  async checkSession(): Promise<void> {
    try {
      this.me = { ...this.me!, ...(await api.get<Me>("/api/me")) };
    } catch (e) {
      // a refused handshake looks like a server that is down: only the explicit answer
      // (401 unauthorized) ends the session; no answer or another one keeps it
      const err = e as api.ApiError;
      if (err.status === 401 && err.code === "unauthorized") this.sessionEnded("expired");
    }
  }

  async loadCanned(): Promise<void> {
    try {
      this.canned = await api.get("/api/canned");
      this.emit();
    } catch {
      /* canned answers are optional */
    }
  }

  async loadTopics(): Promise<void> {
    try {
      this.topics = await api.get("/api/topics");
      this.emit();
    } catch {
      /* shown as empty */
    }
  }

  async loadTags(): Promise<void> {
    try {
      this.tagList = await api.get("/api/tags");
      this.emit();
    } catch {
      /* the server still checks every tag */
    }
  }

  async loadDirectory(): Promise<void> {
    try {
      this.directory = await api.get("/api/agents");
      this.emit();
    } catch {
      this.directory = [];
    }
  }

  onOpen(): void {
    this.conn = "open";
    this.emit();
  }

  onDown(code: number, retry: boolean): void {
    if (!retry) {
      this.sessionEnded(code === 4401 ? "revoked" : "closed");
      return;
    }
    this.conn = "reconnecting";
    this.emit();
  }

  // ---- frames in ----------------------------------------------------------------------
  chat(id: string): Chat {
    let c = this.chats.get(id);
    if (!c) {
      c = new Chat(id);
      c.draft = this.drafts[id] || "";
      this.chats.set(id, c);
    }
    return c;
  }

  applyInfo(c: Chat, info: ChatInfo): void {
    c.info = { ...c.info, ...info };
    if (info.visitor) c.visitor = info.visitor;
    if (info.state) c.state = info.state;
    if (info.offer_expires) c.offerExpires = info.offer_expires;
    // tags kept on the chat by the server (set before a transfer, by another agent)
    if (Array.isArray(info.tags) && c.mode === "mine") c.tags = info.tags;
    const vid = c.visitor.id || info.visitor_id;
    if (info.read && vid && info.read[`visitor:${vid}`] !== undefined) {
      c.peerRead = Math.max(c.peerRead, info.read[`visitor:${vid}`]);
    }
    if (info.read && this.me && info.read[`agent:${this.me.id}`] !== undefined) {
      c.readSent = Math.max(c.readSent, info.read[`agent:${this.me.id}`]);
    }
  }

  onFrame(f: ServerFrame): void {
    const h = this.handlers[f.type] as ((this: Store, f: ServerFrame) => void) | undefined;
    if (h) h.call(this, f);
    this.emit();
  }

  handlers: Handlers = {
    welcome(f) {
      this.notices = f.notices || [];
      this.me = { ...this.me!, ...f.agent! };
      this.status = f.agent!.status;
      this.limits = f.limits || {};
      const held = new Set<string>();
      for (const info of f.chats || []) {
        held.add(info.id);
        const c = this.chat(info.id);
        c.mode = "mine";
        c.ended = null;
        this.applyInfo(c, info);
      }
      // chats I held before the connection dropped that are no longer mine
      for (const c of [...this.chats.values()]) {
        if (c.mode === "mine" && !held.has(c.id) && !c.ended) this.forget(c.id);
      }
      for (const id of held) this.resume(id);
      for (const c of this.chats.values()) {
        if (c.mode !== "mine") this.rewatch(c);
      }
      this.refreshAlerts();
    },
    notice(f) {
      this.notices = [...this.notices.filter((n) => n.id !== f.id), f];
    },
    notice_end(f) {
      this.notices = this.notices.filter((n) => n.id !== f.id);
    },
    offer(f) {
      const c = this.chat(f.chat.id);
      c.mode = "mine";
      c.ended = null;
      this.applyInfo(c, f.chat);
      c.offerTotal = Math.max(1, Math.round((c.offerExpires - this.now()) / 1000));
      this.alertOffer(c);
      this.refreshAlerts();
    },
    assigned(f) {
      const c = this.chat(f.chat.id);
      c.mode = "mine";
      c.ended = null;
      this.applyInfo(c, f.chat);
      if (!this.selected || !this.chats.has(this.selected)) this.selected = c.id;
      this.refreshAlerts();
    },
    revoked(f) {
      const c = this.chats.get(f.chat);
      if (!c || c.mode !== "mine") return;
      // a decline (from this tab or another tab of mine) needs no message
      const quiet = c.declinedByMe || f.reason === "decline";
      this.forget(f.chat);
      if (!quiet) {
        const keys: Partial<Record<typeof f.reason, string>> = { lapse: "toast.lapsed", transfer: "toast.transferred",
          transfer_queue: "toast.transferred", requeue: "toast.requeued" };
        const key = keys[f.reason] || "toast.revoked";
        this.toast(t(key, { name: c.visitorName || t("visitor.anonymous") }));
      }
      this.refreshAlerts();
    },
    ended(f) {
      const c = this.chats.get(f.chat);
      if (!c) return;
      const byMe = this.me && (f.by === `agent:${this.me.id}` || f.by === `supervisor:${this.me.id}`);
      if (byMe || c.state === "offered") {
        // closed by me (maybe in another tab), or an offer the visitor walked away from
        this.forget(f.chat);
      } else {
        c.ended = { by: f.by || "" };
        c.state = "closed";
        c.typing = null;
      }
      this.refreshAlerts();
    },
    status(f) {
      const before = this.status;
      this.status = f.status;
      if (f.status === "away" && before === "online" && !this.settingStatus) {
        this.toast(t("toast.away"));
      }
    },
    chat(f) {
      const c = this.chats.get(f.chat.id);
      if (!c) return;
      this.applyInfo(c, f.chat);
      if (!OPEN_STATES.has(f.chat.state) && c.mode !== "mine") c.ended = { by: f.chat.ended_by || "" };
    },
    msg(f) {
      const c = this.chats.get(f.chat);
      if (!c) return;
      this.addMessage(c, f);
      if (c.typing && f.from && f.from.role === "visitor") c.typing = null;
    },
    history(f) {
      const c = this.chats.get(f.chat);
      if (!c) return;
      for (const m of f.msgs || []) this.addMessage(c, m);
    },
    ack(f) {
      const c = this.chats.get(f.chat);
      if (!c) return;
      const local = c.msgs.find((m): m is LocalMsg => !!m.local && m.cid === f.cid);
      if (!local || typeof f.seq !== "number") return;
      // The server does not send my message back to this tab: the ack (with its seq) puts
      // it in place.  It does not move lastSeq (an earlier message may still be on its
      // way); a replay of it later (resume) is known by its seq.
      c.msgs.splice(c.msgs.indexOf(local), 1);
      const { local: _l, pending: _p, failed: _f, ...m } = local;
      this.addMessage(c, { ...m, type: "msg", chat: c.id, seq: f.seq }, { fromAck: true });
    },
    typing(f) {
      const c = this.chats.get(f.chat);
      if (!c || !f.from) return;
      if (this.me && f.from.role === "agent" && f.from.id === this.me.id) return;
      if (!f.on) {
        c.typing = null;
      } else {
        // a typing preview (the draft) comes with `text`; a plain `on` keeps the draft shown
        const same = c.typing && c.typing.role === f.from.role && c.typing.id === f.from.id;
        const text = typeof f.text === "string" ? f.text : same ? c.typing!.text : undefined;
        c.typing = { name: f.from.name, role: f.from.role, id: f.from.id, until: Date.now() + TYPING_SHOWN_MS, text };
      }
      if (f.on) setTimeout(() => this.emit(), TYPING_SHOWN_MS + 50);
    },
    read(f) {
      const c = this.chats.get(f.chat);
      if (!c || !f.by) return;
      if (f.by.role === "visitor") c.peerRead = Math.max(c.peerRead, f.seq);
      else if (this.me && f.by.id === this.me.id) c.readSent = Math.max(c.readSent, f.seq);
    },
    resync(f) {
      const c = this.chats.get(f.chat);
      if (c) c.resynced = true;
    },
    live(f) {
      this.live = f;
      this.liveAt = Date.now();
      if (typeof f.ts === "number") this.clockOffset = f.ts - Date.now();
    },
    invite_answer(f) {
      // the visitor answered this agent's invitation (visitors on the site)
      this.toast(t(f.accepted ? "visitors.toast_accepted" : "visitors.toast_declined"));
    },
    error(f) {
      if (f.rid) return; // the request's caller shows it
      this.toast(t("error.server", { message: f.message || f.code }), "error");
    },
  };

  addMessage(c: Chat, m: Message, { fromAck = false } = {}): void {
    if (typeof m.seq !== "number") return;
    if (c.bySeq.has(m.seq)) return;
    // my own message, sent from this tab: it replaces the local copy
    const idx = c.msgs.findIndex((x) => x.local && x.cid === m.cid && m.from
      && x.from.id === m.from.id && x.from.role === m.from.role);
    if (idx >= 0) c.msgs.splice(idx, 1);
    const msg: StoredMsg = { ...m };
    c.bySeq.set(m.seq, msg);
    if (m.seq > c.lastSeq && !fromAck) c.lastSeq = m.seq;
    // sequenced messages in order; local (not yet echoed) ones stay at the end
    let at = c.msgs.findIndex((x) => x.local || x.seq > m.seq);
    if (at < 0) at = c.msgs.length;
    c.msgs.splice(at, 0, msg);
    const mineNow = this.me && m.from && m.from.role === "agent" && m.from.id === this.me.id;
    if (mineNow) c.readSent = Math.max(c.readSent, m.seq);
    if (m.from && m.from.role === "visitor" && c.mode === "mine" && c.state === "active"
        && m.seq > c.readSent && this.conn === "open" && document.hidden) {
      notify(t("notify.message", { name: c.visitorName || t("visitor.anonymous") }), m.text, `m-${c.id}`);
    }
  }

  forget(id: string): void {
    this.chats.delete(id);
    delete this.drafts[id];
    this.saveDrafts();
    if (this.selected === id) {
      const next = [...this.chats.values()].find((c) => c.mode === "mine" && c.state === "active");
      this.selected = next ? next.id : null;
    }
    if (this.watching === id) this.watching = null;
  }

  resume(id: string): void {
    const c = this.chats.get(id);
    if (!c || !this.socket) return;
    this.socket.resume(id, c.lastSeq).catch(() => {});
  }

  rewatch(c: Chat): void {
    if (!this.socket) return;
    this.socket.request({ type: "watch", chat: c.id }).then((frame) => {
      const reply = frame as ChatChanged;
      if (reply && reply.chat) this.applyInfo(c, reply.chat);
      this.emit();
    }).catch(() => {
      c.ended = c.ended || { by: "" };
      this.emit();
    });
  }

  // ---- offers -------------------------------------------------------------------------
  get offers(): Chat[] {
    return [...this.chats.values()]
      .filter((c) => c.mode === "mine" && c.state === "offered" && !c.ended)
      .sort((a, b) => a.offerExpires - b.offerExpires);
  }

  alertOffer(c: Chat): void {
    beep(3);
    this.offerNote = notify(t("offer.title"), c.visitorName || t("visitor.anonymous"), `offer-${c.id}`);
  }

  refreshAlerts(): void {
    if (this.offers.length) {
      blinkTitle(t("offer.title"));
      // keep ringing while an offer waits
      if (!this.ring) this.ring = setInterval(() => (this.offers.length ? beep(2) : null), 6000);
    } else {
      stopBlink();
      clearInterval(this.ring ?? undefined);
      this.ring = null;
      if (this.offerNote) {
        this.offerNote.close();
        this.offerNote = null;
      }
    }
  }

  // ---- actions ------------------------------------------------------------------------
  req(frame: ClientFrame): Promise<ServerFrame> {
    if (!this.socket) return Promise.reject(new Error(t("conn.offline")));
    return this.socket.request(frame).catch((e) => this.refused(e));
  }

  refused(e: RequestError): never {
    const text = e.code === "offline" || e.code === "timeout" ? t("conn.offline")
      : t(`error.${e.code}`, {}, e.frame?.message || e.message);
    this.toast(text, "error");
    throw e;
  }

  /** Send a message frame (`msg`, `whisper`).  One refused with `overloaded` stays pending
   * and is resent with the same cid (the server stores it once) after the server's
   * `retry_ms` hint, with jitter, a bounded number of times; only then it fails. */
  async reqMessage(frame: ClientFrameOf<"msg"> | ClientFrameOf<"whisper">): Promise<ServerFrame> {
    for (let attempt = 0; ; attempt++) {
      if (!this.socket) throw new Error(t("conn.offline"));
      try {
        return await this.socket.request(frame);
      } catch (e) {
        const err = e as RequestError;
        if (err.code !== "overloaded" || attempt + 1 >= OVERLOAD_ATTEMPTS) return this.refused(err);
        await sleep(overloadDelay(err.frame?.retry_ms, attempt));
      }
    }
  }

  /** Invite a visitor on the site to chat (their answer comes as a toast). */
  async invite(visitor: string, text: string): Promise<void> {
    await this.req({ type: "invite", visitor, text });
    this.toast(t("visitors.toast_sent"));
  }

  async setStatus(status: AgentStatus, auto = false): Promise<void> {
    this.settingStatus = true;
    try {
      const reply = (await this.req({ type: "status", status })) as Ok;
      this.status = reply.status || status;
      this.autoAway = auto && status === "away";
    } finally {
      this.settingStatus = false;
      this.emit();
    }
  }

  async accept(id: string): Promise<void> {
    unlockAudio();
    await this.req({ type: "accept", chat: id });
    this.selected = id;
    const c = this.chats.get(id);
    if (c) c.state = "active";
    this.refreshAlerts();
    this.emit();
  }

  async decline(id: string): Promise<void> {
    const c = this.chats.get(id);
    if (c) c.declinedByMe = true;
    try {
      await this.req({ type: "decline", chat: id });
    } catch (e) {
      if (c) c.declinedByMe = false;
      throw e;
    }
    this.forget(id);
    this.refreshAlerts();
    this.emit();
  }

  select(id: string): void {
    this.selected = id;
    this.markRead(id);
    this.emit();
  }

  markRead(id: string): void {
    const c = this.chats.get(id);
    if (!c || c.mode !== "mine" || c.ended || !this.socket || !this.socket.connected) return;
    if (document.hidden) return;
    let last = 0;
    for (const m of c.msgs) if (!m.local && m.seq > last) last = m.seq;
    if (last > c.readSent) {
      c.readSent = last;
      this.socket.send({ type: "read", chat: id, seq: last });
      this.emit();
    }
  }

  setDraft(id: string, text: string): void {
    const c = this.chats.get(id);
    if (c) c.draft = text;
    if (text) this.drafts[id] = text;
    else delete this.drafts[id];
    this.saveDrafts();
  }

  saveDrafts(): void {
    try {
      sessionStorage.setItem(DRAFT_KEY, JSON.stringify(this.drafts));
    } catch {
      /* storage full or disabled: drafts stay in memory */
    }
  }

  /** Send a file to the chat (docs/files.md): POST its bytes with the session cookie; the
   * message is added from the answer (the socket brings the same one later: deduplicated
   * by its seq). */
  async sendFile(id: string, file: File): Promise<void> {
    const c = this.chats.get(id);
    const me = this.me;
    if (!c || !me) return;
    const max = this.limits?.file_max_bytes;
    if (max && file.size > max) {
      this.toast(t("file.too_large"), "error");
      return;
    }
    const cid = newId("f");
    const q = new URLSearchParams({ name: file.name.slice(0, 1000), cid });
    let resp: Response;
    try {
      resp = await fetch(`/api/chats/${encodeURIComponent(id)}/files?${q}`, {
        method: "POST", credentials: "same-origin", body: file,
        headers: { "Content-Type": "application/octet-stream" },
      });
    } catch {
      this.toast(t("file.failed"), "error");
      return;
    }
    if (resp.status !== 201) {
      const key = resp.status === 413 ? "file.too_large" : resp.status === 415 ? "file.type" : "file.failed";
      this.toast(t(key), "error");
      return;
    }
    const body = await resp.json();
    this.addMessage(c, {
      type: "msg", chat: id, seq: body.seq, cid, text: "", kind: "message", internal: false,
      ts: this.now(), from: { role: "agent", id: me.id, name: me.name }, file: body.file,
    });
    this.emit();
  }

  /** A short-lived signed download URL for one of the chat's files, or null. */
  async fileUrl(chatId: string, fileId: string): Promise<string | null> {
    try {
      const r = await api.get<{ url: string }>(
        `/api/chats/${encodeURIComponent(chatId)}/files/${encodeURIComponent(fileId)}`);
      return r.url;
    } catch {
      return null;
    }
  }

  async send(id: string, text: string, { internal = false, whisper = false } = {}): Promise<void> {
    const c = this.chats.get(id);
    if (!c || !text.trim()) return;
    const cid = newId("c");
    const kind = whisper ? "whisper" : internal ? "note" : "message";
    const me = this.me!;
    const pending: LocalMsg = { cid, text, kind, internal: internal || whisper, local: true, pending: true,
      ts: this.now(),
      from: { role: "agent", id: me.id, name: me.name } };
    c.msgs.push(pending);
    this.emit();
    const frame: ClientFrameOf<"msg"> | ClientFrameOf<"whisper"> = whisper ? { type: "whisper", chat: id, cid, text }
      : { type: "msg", chat: id, cid, text, ...(internal ? { internal: true } : {}) };
    try {
      await this.reqMessage(frame);
    } catch (e) {
      pending.failed = true;
      this.emit();
      throw e;
    }
  }

  retry(id: string, cid: string): void {
    const c = this.chats.get(id);
    if (!c) return;
    const m = c.msgs.find((x) => x.cid === cid && x.failed);
    if (!m) return;
    m.failed = false;
    this.emit();
    const frame: ClientFrameOf<"msg"> | ClientFrameOf<"whisper"> = m.kind === "whisper" ? { type: "whisper", chat: id, cid, text: m.text }
      : { type: "msg", chat: id, cid, text: m.text, ...(m.internal ? { internal: true } : {}) };
    this.reqMessage(frame).catch(() => {
      m.failed = true;
      this.emit();
    });
  }

  typing(id: string, on: boolean): void {
    if (this.socket) this.socket.send({ type: "typing", chat: id, on });
  }

  async transfer(id: string, target: { agent?: string; topic?: string }, note?: string): Promise<void> {
    await this.req({ type: "transfer", chat: id, ...target, note: note || "" });
    const c = this.chats.get(id);
    if (c && c.mode === "mine") this.forget(id);
    this.emit();
  }

  /** Replace a chat's tags; the server keeps them with the chat (through transfers). */
  setTags(chat: Chat, tags: string[]): void {
    const before = chat.tags;
    chat.tags = tags;
    this.emit();
    this.req({ type: "tags", chat: chat.id, tags }).catch(() => {
      if (chat.tags === tags) chat.tags = before;
      this.toast(t("tags.failed"));
      this.emit();
    });
  }

  async close(id: string, outcome: string, tags: string[]): Promise<void> {
    await this.req({ type: "close", chat: id, outcome, tags });
    const c = this.chats.get(id);
    if (c && c.mode === "mine") this.forget(id);
    else if (c) c.ended = { by: `${this.me!.role === "agent" ? "agent" : "supervisor"}:${this.me!.id}` };
    this.emit();
  }

  dismiss(id: string): void {
    const c = this.chats.get(id);
    if (c && c.mode !== "mine" && !c.ended && this.socket) {
      this.socket.request({ type: "unwatch", chat: id }).catch(() => {});
    }
    this.forget(id);
    this.emit();
  }

  // ---- supervisor ---------------------------------------------------------------------
  async watch(id: string): Promise<"mine" | "watch"> {
    const existing = this.chats.get(id);
    if (existing && existing.mode === "mine") {
      this.selected = id;
      this.emit();
      return "mine";
    }
    if (this.watching && this.watching !== id) this.unwatch(this.watching);
    // the server sends the chat's messages before its reply: the chat must exist first
    const c = this.chat(id);
    if (!existing) c.mode = "watch";
    this.watching = id;
    this.emit();
    let reply: ChatChanged;
    try {
      reply = (await this.req({ type: "watch", chat: id })) as ChatChanged;
    } catch (e) {
      if (!existing) this.chats.delete(id);
      if (this.watching === id) this.watching = null;
      this.emit();
      throw e;
    }
    this.applyInfo(c, reply.chat);
    this.emit();
    return "watch";
  }

  unwatch(id: string): void {
    const c = this.chats.get(id);
    if (!c || c.mode === "mine") return;
    if (this.socket && c.mode === "watch") this.socket.request({ type: "unwatch", chat: id }).catch(() => {});
    if (c.mode === "watch") this.chats.delete(id);
    if (this.watching === id) this.watching = null;
    this.emit();
  }

  async join(id: string): Promise<void> {
    await this.req({ type: "join", chat: id });
    const c = this.chats.get(id);
    if (c) c.mode = "joined";
    this.emit();
  }
}
