// The widget's face: a launcher button and a chat panel inside a shadow root.
//
// Views of the panel body, chosen from the session's state (see `view()`):
//   loading      the configuration is not here yet
//   prechat      the short form that starts a chat
//   offline      nobody can answer (no agent online, or outside business hours): leave a message
//   sent         the offline message was received
//   chat         queued or active: queue position, messages, typing, composer
//   ended        the chat is over: transcript, rating, email me the transcript, download,
//                start again
//
// Text from visitors and agents only ever reaches the page as text nodes (see dom.ts).

import { ChatSession, isOpen, noticeText, type ChatInfo, type Msg, type Notice, type Pending } from "./chat";
import { CSS } from "./css";
import { h, icon, ICONS, linkify } from "./dom";
import { intlLocale, LANGUAGES, pickLanguage, RTL, translate, type Key } from "./i18n";
import { Store } from "./storage";
import { transcript } from "./transcript";

export interface Options {
  siteKey?: string;
  locale?: string;
  color?: string;
  title?: string;
  position?: "left" | "right";
  topic?: string;
  launcher?: boolean;
}

export type Emit = (event: string, data?: unknown) => void;

type View = "loading" | "prechat" | "offline" | "sent" | "chat" | "ended";

const EMAIL_RE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const HEX_RE = /^#(?:[0-9a-f]{3}){1,2}$/i;

/** A left-to-right value (an e-mail address) inside a sentence of any direction. */
const isolate = (s: string) => "\u2068" + s + "\u2069";

export class Widget {
  readonly session: ChatSession;
  private readonly host: HTMLElement;
  private readonly root: HTMLDivElement;
  private readonly launcher: HTMLButtonElement;
  private readonly launcherIcon: HTMLSpanElement;
  private readonly inviteEl: HTMLDivElement;
  private readonly badge: HTMLSpanElement;
  private readonly panel: HTMLDivElement;
  private readonly title: HTMLParagraphElement;
  private readonly sub: HTMLParagraphElement;
  private readonly btnDownload: HTMLButtonElement;
  private readonly btnEnd: HTMLButtonElement;
  private readonly btnMin: HTMLButtonElement;
  private readonly banner: HTMLDivElement;
  private readonly confirmBar: HTMLDivElement;
  private readonly body: HTMLDivElement;
  private readonly list: HTMLOListElement;
  private readonly typingEl: HTMLDivElement;
  private readonly composer: HTMLFormElement;
  private readonly input: HTMLTextAreaElement;
  private readonly sendBtn: HTMLButtonElement;
  private readonly attachBtn: HTMLButtonElement;
  private readonly fileInput: HTMLInputElement;
  private readonly live: HTMLDivElement;

  private lang = "en";
  private localeWanted = "";
  private opened = false;
  private shown = true;
  private current: View | "" = "";
  private confirming = false;
  private draft = "";
  private prechat: Record<string, string> = {};
  private offlineForm: Record<string, string> = {};
  private formErrors: Record<string, Key> = {};
  private formFailed = false;
  private busy = false;
  private rating = 0;
  private comment = "";
  /** the 0-10 "would you recommend us" answer; -1 = none */
  private nps = -1;
  private ratedChat = "";
  private ratingError: Key | "" = "";
  /** "Email me the transcript": the address typed, the chat whose transcript was asked for
   * and the address it goes to, and the last refusal. */
  private transcriptEmail: string | null = null;
  private transcriptChat = "";
  private transcriptSentTo = "";
  private transcriptError: Key | "" = "";
  private lastUnread = -1;
  private lastChatState = "";
  private lastAgent = "";
  private bannerTimer = 0;
  /** The visitor opened the panel and the view to focus has not been drawn yet. */
  private focusPending = false;
  private rows = new Map<string, HTMLLIElement>();
  /** Outage notice banners, above the conversation (announced: role="status"). */
  private noticesEl!: HTMLDivElement;
  private noticesKey = "";
  /** "Email me when this is resolved": the notice whose form is open, and those sent. */
  private emailFor = "";
  private emailed = new Set<string>();
  /** The queued visitor, with nobody online, chose to leave a message instead. */
  private messageInstead = false;
  /** The queued chat the visitor left for an offline message (shown as "sent"). */
  private leftFor = "";

  constructor(
    base: string,
    private opts: Options,
    private readonly emit: Emit,
  ) {
    const ns = "lcw:" + base + ":" + (opts.siteKey || "default") + ":";
    const store = new Store(ns);
    this.session = new ChatSession(base, store, {
      changed: (what) => this.changed(what),
      message: (m, live) => this.onMessage(m, live),
      chatStarted: (c) => emit("chatStarted", { id: c.id }),
      chatEnded: (c) => emit("chatEnded", { id: c.id, by: endedBy(c), outcome: c.outcome || "" }),
    });

    this.host = document.createElement("lc-chat-widget");
    const shadow = this.host.attachShadow({ mode: "open" });
    const style = document.createElement("style");
    style.textContent = CSS;
    shadow.appendChild(style);

    this.badge = h("span", { class: "badge", "aria-hidden": "true", hidden: true });
    this.launcherIcon = h("span", { style: "display:contents" });
    this.launcher = h("button", {
      type: "button", class: "launcher", part: "launcher", "aria-expanded": "false",
      onclick: () => (this.opened ? this.close(true) : this.open(true)),
    }, this.launcherIcon, this.badge);

    this.title = h("p", { class: "head-title", id: "lc-title" });
    this.sub = h("p", { class: "head-sub" });
    this.btnDownload = h("button", { type: "button", class: "ibtn", onclick: () => this.download() }, icon(ICONS.download));
    this.btnEnd = h("button", { type: "button", class: "ibtn", onclick: () => this.askEnd() }, icon(ICONS.end));
    this.btnMin = h("button", { type: "button", class: "ibtn", onclick: () => this.close(true) }, icon(ICONS.minimize));
    this.banner = h("div", { class: "banner", role: "status", hidden: true });
    this.confirmBar = h("div", { class: "confirm", hidden: true });
    this.noticesEl = h("div", { class: "notices", "data-lc": "notices", role: "status", "aria-live": "polite", hidden: true });
    this.list = h("ol", { class: "msgs" });
    this.body = h("div", { class: "body" });
    this.typingEl = h("div", { class: "typing", "aria-live": "polite" });
    this.input = h("textarea", {
      rows: 1, name: "message",
      oninput: () => this.onInput(),
      onkeydown: (e: Event) => this.onComposerKey(e as KeyboardEvent),
    });
    this.sendBtn = h("button", { type: "submit", class: "sendb" }, icon(ICONS.send, true));
    this.fileInput = h("input", {
      type: "file", class: "sr", tabindex: "-1", "data-lc": "file-input",
      onchange: () => void this.sendFiles(),
    });
    this.attachBtn = h("button", {
      type: "button", class: "attachb", "data-lc": "attach", onclick: () => this.fileInput.click(),
    }, icon(ICONS.attach));
    this.composer = h("form", {
      class: "composer", novalidate: true,
      onsubmit: (e: Event) => {
        e.preventDefault();
        this.sendDraft();
      },
    }, this.attachBtn, this.fileInput, this.input, this.sendBtn);
    this.live = h("div", { class: "sr", role: "status", "aria-live": "polite", "aria-atomic": "true" });
    this.panel = h("div", {
      class: "panel", part: "panel", role: "dialog", "aria-labelledby": "lc-title", tabindex: "-1", hidden: true,
      onkeydown: (e: Event) => this.onPanelKey(e as KeyboardEvent),
    },
      h("div", { class: "head" },
        h("div", { class: "head-text" }, this.title, this.sub),
        this.btnDownload, this.btnEnd, this.btnMin),
      this.banner, this.noticesEl, this.confirmBar, this.body, this.typingEl, this.composer);
    this.inviteEl = h("div", { class: "card invite", "data-lc": "invite", role: "dialog", "aria-live": "polite", hidden: true });
    this.root = h("div", { class: "root" }, this.inviteEl, this.launcher, this.panel, this.live);
    shadow.appendChild(this.root);

    this.applyOptions(opts);
    this.attach();

    window.addEventListener("online", () => {
      this.session.link.nudge();
      this.renderBanner();
    });
    window.addEventListener("offline", () => this.renderBanner());
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") {
        this.session.link.nudge();
        this.markRead();
      }
    });
    window.addEventListener("storage", (e) => {
      // another tab rated or dismissed the ended chat
      if (store.isKey(e.key, "invite")) this.session.answeredElsewhere();
      const chat = this.session.chat;
      if (store.isKey(e.key, "done") && chat && !isOpen(chat) && this.session.isDone(chat.id)) {
        this.session.dismiss();
      }
    });

    if (store.get("token")) this.session.link.start(); // a returning visitor: restore the chat
    void this.session.loadConfig();
    if (store.get("open", true) === "1") this.open(false);
    this.render();
  }

  private attach(): void {
    const put = () => (document.body || document.documentElement).appendChild(this.host);
    if (document.body) put();
    else document.addEventListener("DOMContentLoaded", put, { once: true });
  }

  // ---- commands -----------------------------------------------------------------------
  applyOptions(opts: Options): void {
    this.opts = { ...this.opts, ...opts };
    if (opts.locale) this.localeWanted = opts.locale;
    this.root.classList.toggle("left", this.opts.position === "left");
    this.launcher.hidden = this.opts.launcher === false;
    this.render(true);
  }

  setLocale(locale: string): void {
    this.localeWanted = String(locale || "");
    this.render(true);
  }

  setVisitor(details: { name?: string; email?: string }): void {
    if (typeof details?.name === "string") this.prechat.name = this.offlineForm.name = details.name.slice(0, 256);
    if (typeof details?.email === "string") this.prechat.email = this.offlineForm.email = details.email.slice(0, 256);
    if (this.current === "prechat" || this.current === "offline") this.render(true);
  }

  get isOpened(): boolean {
    return this.opened;
  }

  open(user: boolean): void {
    if (this.opened) return;
    this.opened = true;
    this.session.store.set("open", "1", true);
    this.session.link.start();
    if (!this.session.chat) void this.session.loadConfig();
    this.panel.hidden = false;
    this.root.classList.add("open");
    // focus moves into the panel when the visitor opened it, never on a restore after a
    // reload: the host page keeps its focus
    this.focusPending = user;
    this.render(true);
    if (user) this.focusPrimary();
    this.markRead();
    this.emit("open");
  }

  close(user: boolean): void {
    if (!this.opened) return;
    const inside = !!this.panel.contains(this.host.shadowRoot!.activeElement);
    this.opened = false;
    this.confirming = false;
    this.session.store.set("open", null, true);
    this.panel.hidden = true;
    this.root.classList.remove("open");
    this.render();
    if (user || inside) this.launcher.focus();
    this.emit("close");
  }

  show(): void {
    this.shown = true;
    this.root.hidden = false;
  }

  hide(): void {
    this.shown = false;
    this.root.hidden = true;
  }

  // ---- state --------------------------------------------------------------------------
  private t(key: Key, vars?: Record<string, string | number>): string {
    return translate(this.lang, key, vars);
  }

  private num(n: number): string {
    try {
      return new Intl.NumberFormat(intlLocale(this.lang)).format(n);
    } catch {
      return String(n);
    }
  }

  private view(): View {
    const s = this.session;
    const instead = this.viewInstead();
    if (instead) return instead;
    if (s.chat) return isOpen(s.chat) ? "chat" : "ended";
    if (this.current === "sent") return "sent";
    const cfg = s.config;
    if (!cfg) return "loading";
    return this.canStart() ? "prechat" : "offline";
  }

  // ---- availability -------------------------------------------------------------------
  /** A queued visitor with nobody online may leave a message instead of waiting. */
  private viewInstead(): View | null {
    const chat = this.session.chat;
    if (chat && this.leftFor && chat.id === this.leftFor) return "sent";
    if (this.messageInstead && (!chat || chat.state !== "queued")) this.messageInstead = false;
    return this.messageInstead ? "offline" : null;
  }

  /** Whether to offer the pre-chat form: inside business hours, with an agent online
   * for the topic (any topic when the page fixes none), as the server last said. */
  private canStart(): boolean {
    const s = this.session;
    const cfg = s.config!;
    const a = s.availability;
    if (!(a ? a.open : cfg.open)) return false;
    const topics = a ? a.topics : cfg.topics_available;
    const topic = (this.opts.topic || "").trim().toLowerCase();
    if (topic && topics && topic in topics) return !!topics[topic];
    return !!(s.agentsAvailable ?? cfg.agents_available);
  }

  /** The queued chat has nobody online who could take it. */
  private nobodyOnline(): boolean {
    const chat = this.session.chat;
    return !!chat && chat.state === "queued" && chat.available === false;
  }

  /** A refused start: outside business hours (show the offline form) or a required
   * field missing (mark it).  False for any other error. */
  private startRefused(err: unknown): boolean {
    const e = err as { code?: string; frame?: Record<string, any> };
    if (e?.code === "outside_hours") {
      this.session.closedNow();
      return true;
    }
    if (e?.code === "missing_fields" && Array.isArray(e.frame?.fields)) {
      const errors: Record<string, Key> = {};
      for (const name of e.frame!.fields as string[]) {
        errors[name] = name === "email" && (this.prechat.email || "").trim() ? "invalidEmail" : "required";
      }
      this.formErrors = errors;
      return true;
    }
    return false;
  }

  private waitInstead(): void {
    this.messageInstead = true;
    this.render();
  }

  private keepWaiting(): void {
    this.messageInstead = false;
    this.render();
  }

  /** After the offline message of a visitor who was queued: give up the place. */
  private async leaveQueueForMessage(): Promise<void> {
    const chat = this.session.chat;
    this.messageInstead = false;
    if (!chat || chat.state !== "queued") return;
    this.leftFor = chat.id;
    this.session.markDone(chat.id);
    try {
      await this.session.leave();
    } catch {
      /* taken meanwhile, or already over: nothing to give up */
    }
  }

  private changed(what: string): void {
    if (what === "messages" || what === "read") {
      this.syncMessages();
      this.renderHead();
      this.renderUnread();
      this.markRead();
      return;
    }
    if (what === "typing") {
      this.renderTyping();
      return;
    }
    if (what === "notices") {
      this.renderNotices();
      return;
    }
    if (what === "invite") {
      this.renderInvite();
      return;
    }
    if (what === "connection") {
      this.renderBanner();
      if (this.session.connected) this.markRead();
      if (this.current === "loading") this.render();
      return;
    }
    this.render(what === "config");
  }

  private onMessage(m: Msg, live: boolean): void {
    if (!live) return;
    const mine = m.from.role === "visitor";
    if (!mine && m.kind === "message") {
      this.say(this.t("newMessage", { name: m.from.name || this.t("agent"), text: m.text }));
    }
    this.emit("message", {
      chat: this.session.chat?.id, seq: m.seq, text: m.text, ts: m.ts, kind: m.kind,
      from: { role: m.from.role, name: m.from.name },
    });
  }

  private say(text: string): void {
    // re-set so that the same sentence twice is announced twice
    this.live.textContent = "";
    window.setTimeout(() => (this.live.textContent = text), 50);
  }

  private markRead(): void {
    if (this.opened && this.shown && document.visibilityState === "visible" && this.session.chat) {
      this.session.markRead();
    }
  }

  // ---- rendering ----------------------------------------------------------------------
  private render(full = false): void {
    const s = this.session;
    const cfg = s.config;
    const allowed = cfg?.languages?.length ? cfg.languages : Object.keys(LANGUAGES);
    const lang =
      pickLanguage([this.localeWanted, document.documentElement.lang, ...(navigator.languages || [])], allowed) ||
      pickLanguage([cfg?.default_language], Object.keys(LANGUAGES)) || "en";
    if (lang !== this.lang) {
      this.lang = lang;
      full = true;
    }
    this.root.lang = lang;
    this.root.dir = RTL.has(lang) ? "rtl" : "ltr";
    s.lang = lang;
    this.renderInvite();
    this.applyColor();

    this.launcher.setAttribute("aria-expanded", String(this.opened));
    this.launcher.setAttribute("aria-label", this.t(this.opened ? "closeChat" : "openChat"));
    this.launcherIcon.replaceChildren(icon(this.opened ? ICONS.close : ICONS.chat, !this.opened));
    this.btnDownload.setAttribute("aria-label", this.t("download"));
    this.btnDownload.title = this.t("download");
    this.btnEnd.setAttribute("aria-label", this.t("endChat"));
    this.btnEnd.title = this.t("endChat");
    this.btnMin.setAttribute("aria-label", this.t("minimize"));
    this.btnMin.title = this.t("minimize");
    this.input.placeholder = this.t("placeholder");
    this.input.setAttribute("aria-label", this.t("message"));
    this.input.maxLength = s.maxText;
    this.sendBtn.setAttribute("aria-label", this.t("send"));
    this.sendBtn.title = this.t("send");
    this.attachBtn.setAttribute("aria-label", this.t("attach"));
    this.attachBtn.title = this.t("attach");
    this.fileInput.accept = s.fileTypes.join(",");

    const v = this.view();
    const chat = s.chat;
    // announce what changed in the chat itself
    if (chat) {
      const agent = chat.agent?.name || "";
      if (chat.state === "active" && agent && agent !== this.lastAgent && this.lastChatState) {
        // a new agent while the chat stays active: it was transferred
        const moved = this.lastChatState === "active" && this.lastAgent;
        this.say(this.t(moved ? "transferred" : "joined", { name: agent }));
      }
      if (isOpen({ state: this.lastChatState } as ChatInfo) && !isOpen(chat)) this.say(this.endedText(chat));
      this.lastChatState = chat.state;
      this.lastAgent = agent;
    } else {
      this.lastChatState = "";
      this.lastAgent = "";
    }

    this.composer.hidden = v !== "chat";
    this.typingEl.hidden = v !== "chat";
    const viewChanged = v !== this.current;
    if (viewChanged || full) {
      const hadFocus = this.focusInside();
      const focusedId = hadFocus ? this.host.shadowRoot!.activeElement!.id : "";
      if (viewChanged) {
        this.confirming = false;
        this.formErrors = {};
        this.formFailed = false;
        if (v === "chat") this.rows.clear();
      }
      this.current = v;
      this.buildBody(v, full);
      // a rebuilt view keeps the focus where it was, or puts it on its first control
      const again = focusedId && !viewChanged ? this.host.shadowRoot!.getElementById(focusedId) : null;
      if (again) again.focus();
      else if (hadFocus || (viewChanged && this.focusPending)) this.focusPrimary();
    } else if (v === "chat") {
      this.renderQueue();
    }
    this.renderHead();
    this.renderTyping();
    this.renderConfirm();
    this.renderBanner();
    this.renderNotices();
    this.renderUnread();
  }

  /** The notices this visitor is shown: those of their chat's topic while it is open, else
   * those of the page's or the picked topic (every notice while none is picked). */
  private shownNotices(): Notice[] {
    const s = this.session;
    const open = isOpen(s.chat);
    const topic = ((open ? s.chat?.topic : this.opts.topic || this.prechat.topic) || "").trim().toLowerCase();
    if (open && s.chat?.state === "active") return [];
    return s.notices.filter((n) => !topic || !n.topics.length || n.topics.includes(topic));
  }

  /** An agent's invitation (visitors on the site): a card by the launcher, with the agent's
   * name and message as text, Accept (opens the chat and starts it when no pre-chat field
   * is required) and Decline. */
  private renderInvite(): void {
    const inv = isOpen(this.session.chat) ? null : this.session.invitation;
    const el = this.inviteEl;
    el.hidden = !inv;
    if (!inv) {
      el.replaceChildren();
      delete el.dataset.key;
      return;
    }
    const key = inv.id + ":" + this.lang;
    if (el.dataset.key === key) return;
    el.dataset.key = key;
    const parts: Node[] = [h("strong", { dir: "auto" }, this.t("inviteFrom", { name: inv.agent || this.t("agent") }))];
    if (inv.text) parts.push(h("p", { dir: "auto", "data-lc": "invite-text" }, inv.text));
    parts.push(h("div", { class: "row" },
      h("button", { type: "button", class: "btn", "data-action": "invite-accept", onclick: () => this.acceptInvite() }, this.t("inviteAccept")),
      h("button", { type: "button", class: "btn2", "data-action": "invite-decline", onclick: () => this.session.answerInvite(false) }, this.t("inviteDecline"))));
    el.replaceChildren(...parts);
  }

  private acceptInvite(): void {
    this.session.answerInvite(true);
    this.open(true);
    const cfg = this.session.config;
    if (cfg && !this.session.chat && !(cfg.required_fields || []).length) void this.submitPrechat();
  }

  private renderNotices(): void {
    const notices = this.shownNotices();
    const canEmail = !isOpen(this.session.chat);
    const key = JSON.stringify([notices.map((n) => n.id), this.lang, canEmail, this.emailFor, [...this.emailed]]);
    if (key === this.noticesKey) return;
    this.noticesKey = key;
    this.noticesEl.hidden = !notices.length;
    this.noticesEl.replaceChildren(...notices.map((n) => this.noticeBanner(n, canEmail)));
  }

  private noticeBanner(n: Notice, canEmail: boolean): HTMLElement {
    const parts: (Node | string)[] = [
      h("p", { class: "notice-text", dir: "auto" }, h("strong", {}, this.t("notice") + ": "), noticeText(n, this.lang)),
    ];
    if (this.emailed.has(n.id)) {
      parts.push(h("p", { class: "notice-done", "data-lc": "notice-emailed" }, this.t("emailMeDone")));
    } else if (canEmail && this.emailFor === n.id) {
      const id = "lc-notice-email-" + n.id;
      const email = h("input", { id, type: "email", autocomplete: "email", required: true, dir: "ltr" }) as HTMLInputElement;
      email.value = this.prechat.email || this.offlineForm.email || "";
      const error = h("p", { class: "err", hidden: true }, this.t("invalidEmail"));
      const submit = async (ev: Event) => {
        ev.preventDefault();
        const value = email.value.trim();
        if (!/^[^@\s]+@[^@\s]+$/.test(value)) {
          error.hidden = false;
          email.setAttribute("aria-invalid", "true");
          email.focus();
          return;
        }
        try {
          await this.session.offline({
            name: this.prechat.name || "", email: value, text: this.t("emailMeText"),
            topic: this.opts.topic || n.topics[0] || "", locale: this.lang, notice: n.id,
          });
          this.emailed.add(n.id);
          this.emailFor = "";
        } catch {
          error.textContent = this.t("error");
          error.hidden = false;
        }
        this.renderNotices();
      };
      parts.push(h("form", { class: "notice-form", novalidate: true, onsubmit: submit },
        h("label", { for: id }, this.t("email")), email, error,
        h("button", { type: "submit", class: "btn", "data-action": "notice-email-send" }, this.t("emailMeSend"))));
    } else if (canEmail) {
      parts.push(h("button", {
        type: "button", class: "linkbtn", "data-action": "notice-email",
        onclick: () => {
          this.emailFor = n.id;
          this.renderNotices();
          this.noticesEl.querySelector<HTMLInputElement>("input")?.focus();
        },
      }, this.t("emailMe")));
    }
    return h("div", { class: "notice", "data-lc": "notice", "data-id": n.id }, ...parts);
  }

  private focusInside(): boolean {
    const active = this.host.shadowRoot?.activeElement;
    return !!active && this.panel.contains(active);
  }

  private applyColor(): void {
    const cfg = this.session.config;
    let accent = [this.opts.color, cfg?.color].find((c) => typeof c === "string" && HEX_RE.test(c)) || "#1f6feb";
    if (accent.length === 4) accent = "#" + [...accent.slice(1)].map((c) => c + c).join("");
    this.root.style.setProperty("--accent", accent);
    this.root.style.setProperty("--on-accent", onColor(accent));
  }

  private renderHead(): void {
    const s = this.session;
    const chat = s.chat;
    const cfg = s.config;
    const agent = chat?.agent?.name;
    const custom = this.opts.title || cfg?.title?.[this.lang] || "";
    if (chat && agent && chat.state !== "queued" && chat.state !== "offered") {
      this.title.textContent = agent;
      this.sub.textContent = this.t("agentRole");
    } else {
      this.title.textContent = custom || this.t("title");
      const away = this.current === "offline" || this.current === "sent" || this.nobodyOnline();
      this.sub.textContent = away ? this.t("offlineTitle") : this.t("online");
    }
    this.btnDownload.hidden = !chat || s.msgs.length === 0;
    this.btnEnd.hidden = !isOpen(chat);
  }

  private renderTyping(): void {
    const who = this.session.agentTyping;
    this.typingEl.textContent = who ? this.t("typing", { name: who === "-" ? this.t("agent") : who }) : "";
  }

  private renderBanner(): void {
    clearTimeout(this.bannerTimer);
    const s = this.session;
    const down = !s.connected && (!!s.chat || this.opened) && this.current !== "loading";
    if (!down) {
      this.banner.hidden = true;
      return;
    }
    const showIt = () => {
      this.banner.textContent = this.t("reconnecting");
      this.banner.hidden = false;
    };
    if (navigator.onLine === false) showIt();
    else this.bannerTimer = window.setTimeout(showIt, 1500);
  }

  private renderUnread(): void {
    const n = this.session.unread();
    this.badge.hidden = n === 0;
    this.badge.textContent = this.num(n);
    const label = this.t(this.opened ? "closeChat" : "openChat");
    this.launcher.setAttribute("aria-label", n ? label + ". " + this.t("unread", { n: this.num(n) }) : label);
    if (n !== this.lastUnread) {
      this.lastUnread = n;
      this.emit("unread", { count: n });
    }
  }

  private renderConfirm(): void {
    const bar = this.confirmBar;
    bar.hidden = !this.confirming || !isOpen(this.session.chat);
    if (bar.hidden) return;
    if (bar.dataset.lang === this.lang && bar.childNodes.length) return;
    bar.dataset.lang = this.lang;
    bar.replaceChildren(
      h("span", null, this.t("endConfirm")),
      h("button", { type: "button", class: "btn", "data-action": "end", onclick: () => this.endChat() }, this.t("endChat")),
      h("button", { type: "button", class: "btn2", "data-action": "cancel", onclick: () => this.cancelEnd() }, this.t("cancel")),
    );
  }

  private buildBody(v: View, full: boolean): void {
    const b = this.body;
    if (v === "loading") {
      b.replaceChildren(h("p", { class: "system", role: "status" }, this.t("connecting")));
    } else if (v === "prechat") {
      b.replaceChildren(this.prechatForm());
    } else if (v === "offline") {
      b.replaceChildren(this.offlineFormEl());
    } else if (v === "sent") {
      b.replaceChildren(h("div", { class: "card", role: "status" }, h("p", { "data-lc": "offline-thanks" }, this.t("offlineThanks"))));
    } else {
      if (full) this.rows.clear();
      const parts: Node[] = [];
      parts.push(h("div", { class: "queue", "data-lc": "queue", role: "status", hidden: true }));
      parts.push(this.list);
      if (v === "ended") parts.push(this.endCard());
      b.replaceChildren(...parts);
      this.syncMessages(true);
      this.renderQueue();
    }
  }

  private renderQueue(): void {
    const el = this.body.querySelector<HTMLDivElement>(".queue");
    const chat = this.session.chat;
    if (!el || !chat) return;
    const waiting = chat.state === "queued" || chat.state === "offered";
    el.hidden = !waiting;
    if (!waiting) return;
    const lines: Node[] = [];
    if (chat.state === "queued" && chat.position && chat.position > 0) {
      lines.push(h("strong", { "data-lc": "position" }, this.t("queued", { n: this.num(chat.position) })));
      const eta = Number(chat.eta_s);
      if (this.nobodyOnline()) lines.push(...this.nobodyOnlineLines());
      else if (eta >= 0 && Number.isFinite(eta)) {
        lines.push(h("span", { "data-lc": "eta" }, eta < 60 ? this.t("etaSoon") : this.t("eta", { m: this.num(Math.round(eta / 60)) })));
      }
    } else {
      lines.push(h("strong", null, this.t("waiting")));
    }
    const key = chat.state + ":" + chat.position + ":" + chat.eta_s + ":" + chat.available + ":" + this.lang;
    if (el.dataset.key !== key) {
      el.dataset.key = key;
      el.replaceChildren(...lines);
    }
  }

  /** Nobody can answer the queued chat: say so, keep the place, offer a message. */
  private nobodyOnlineLines(): Node[] {
    return [
      h("span", { "data-lc": "no-agents" }, this.t("noAgents")),
      h("button", { type: "button", class: "btn2", "data-action": "leave-message", onclick: () => this.waitInstead() }, this.t("leaveMessage")),
    ];
  }

  // ---- forms --------------------------------------------------------------------------
  private field(form: Record<string, string>, name: string, label: Key, control: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement, required: boolean): HTMLElement {
    const id = "lc-f-" + name;
    control.id = id;
    control.name = name;
    control.value = form[name] || control.value || "";
    control.addEventListener("input", () => (form[name] = control.value));
    control.addEventListener("change", () => {
      form[name] = control.value;
      if (name === "topic") this.renderNotices(); // the notices of the picked topic
    });
    if (required) control.setAttribute("aria-required", "true");
    const err = this.formErrors[name];
    const children: Node[] = [
      h("label", { for: id }, this.t(label), required ? "" : h("span", { class: "opt" }, " " + this.t("optional"))),
      control,
    ];
    if (err) {
      control.setAttribute("aria-invalid", "true");
      control.setAttribute("aria-describedby", id + "-err");
      children.push(h("p", { class: "err", id: id + "-err" }, this.t(err)));
    }
    return h("div", { class: "field" }, ...children);
  }

  private topicControl(form: Record<string, string>, required: boolean): HTMLElement | null {
    const topics = this.session.config?.topics || [];
    if (this.opts.topic || topics.length < 2) return null;
    const select = h("select", null,
      h("option", { value: "" }, this.t("chooseTopic")),
      ...topics.map((t) => h("option", { value: t }, this.topicLabel(t))));
    return this.field(form, "topic", "topic", select, required);
  }

  /** A topic's name in the visitor's language (the admin's translation: the exact
   * language, then its base language), else the name itself, capitalised. */
  private topicLabel(topic: string): string {
    const labels = this.session.config?.topic_labels?.[topic] || {};
    const label = labels[this.lang] || labels[this.lang.split("-")[0]];
    return label || topic.charAt(0).toUpperCase() + topic.slice(1);
  }

  private prechatForm(): HTMLElement {
    const cfg = this.session.config!;
    const fields = cfg.prechat_fields || [];
    const required = new Set(cfg.required_fields || []);
    const f = this.prechat;
    const rows: (Node | null)[] = [h("p", null, this.t("prechatIntro"))];
    if (fields.includes("name")) {
      rows.push(this.field(f, "name", "name", h("input", { type: "text", autocomplete: "name", maxlength: 256 }), required.has("name")));
    }
    if (fields.includes("email")) {
      rows.push(this.field(f, "email", "email", h("input", { type: "email", autocomplete: "email", maxlength: 256 }), required.has("email")));
    }
    if (fields.includes("topic")) rows.push(this.topicControl(f, required.has("topic")));
    rows.push(this.field(f, "message", "message", h("textarea", { rows: 3, maxlength: this.session.maxText }), false));
    if (this.formFailed) rows.push(h("p", { class: "err", role: "alert" }, this.t("error")));
    rows.push(h("button", { type: "submit", class: "btn", disabled: this.busy }, this.t("startChat")));
    return h("form", {
      class: "card", "data-lc": "prechat", novalidate: true,
      onsubmit: (e: Event) => {
        e.preventDefault();
        void this.submitPrechat();
      },
    }, ...rows.filter((r): r is Node => !!r));
  }

  private offlineFormEl(): HTMLElement {
    const cfg = this.session.config;
    const f = this.offlineForm;
    const intro = cfg?.offline_message?.[this.lang] || this.t("offlineIntro");
    const rows: (Node | null)[] = [
      h("h2", null, this.t("offlineTitle")),
      h("p", null, intro),
      this.field(f, "name", "name", h("input", { type: "text", autocomplete: "name", maxlength: 256 }), false),
      this.field(f, "email", "email", h("input", { type: "email", autocomplete: "email", maxlength: 256 }), true),
      this.topicControl(f, false),
      this.field(f, "message", "message", h("textarea", { rows: 4, maxlength: this.session.maxText }), true),
    ];
    if (this.formFailed) rows.push(h("p", { class: "err", role: "alert" }, this.t("error")));
    rows.push(h("button", { type: "submit", class: "btn", disabled: this.busy }, this.t("offlineSend")));
    if (this.messageInstead) {
      rows.push(h("button", { type: "button", class: "btn2", "data-action": "keep-waiting", onclick: () => this.keepWaiting() }, this.t("keepWaiting")));
    }
    return h("form", {
      class: "card", "data-lc": "offline", novalidate: true,
      onsubmit: (e: Event) => {
        e.preventDefault();
        void this.submitOffline();
      },
    }, ...rows.filter((r): r is Node => !!r));
  }

  private validate(form: Record<string, string>, required: string[]): boolean {
    const errors: Record<string, Key> = {};
    for (const name of required) {
      if (!(form[name] || "").trim()) errors[name] = "required";
    }
    const email = (form.email || "").trim();
    if (email && !errors.email && !EMAIL_RE.test(email)) errors.email = "invalidEmail";
    this.formErrors = errors;
    this.formFailed = false;
    if (Object.keys(errors).length) {
      this.buildBody(this.current as View, false);
      const first = this.body.querySelector<HTMLElement>("[aria-invalid=true]");
      first?.focus();
      return false;
    }
    return true;
  }

  private async submitPrechat(): Promise<void> {
    if (this.busy) return;
    const cfg = this.session.config!;
    const shown = new Set(cfg.prechat_fields || []);
    const topics = cfg.topics || [];
    if (this.opts.topic || topics.length < 2) shown.delete("topic");
    const required = (cfg.required_fields || []).filter((r) => shown.has(r));
    const f = this.prechat;
    if (!this.validate(f, required)) return;
    this.busy = true;
    try {
      await this.session.start({
        name: (f.name || "").trim(), email: (f.email || "").trim(),
        topic: this.opts.topic || (f.topic || "").trim() || undefined, locale: this.lang,
      });
      const first = (f.message || "").trim();
      f.message = "";
      if (first) this.session.send(first);
    } catch (err) {
      if (!this.startRefused(err)) this.formFailed = true;
    } finally {
      this.busy = false;
    }
    this.render(true);
  }

  private async submitOffline(): Promise<void> {
    if (this.busy) return;
    const f = this.offlineForm;
    if (!this.validate(f, ["email", "message"])) return;
    this.busy = true;
    try {
      await this.session.offline({
        name: (f.name || "").trim(), email: (f.email || "").trim(), text: (f.message || "").trim(),
        topic: this.opts.topic || (f.topic || "").trim(), locale: this.lang,
      });
      f.message = "";
      await this.leaveQueueForMessage();
      this.current = "sent";
      this.buildBody("sent", false);
      this.focusPrimary();
    } catch {
      this.formFailed = true;
      this.buildBody("offline", false);
    } finally {
      this.busy = false;
    }
    this.render();
  }

  // ---- the end of a chat --------------------------------------------------------------
  private endedText(chat: ChatInfo): string {
    const by = endedBy(chat);
    if (by === "visitor") return this.t("endedByYou");
    if (by === "supervisor" && chat.ended_by_name) return this.t("endedBySupervisor", { name: chat.ended_by_name });
    if (by === "agent") return this.t("endedByAgent", { name: chat.ended_by_name || chat.agent?.name || this.t("agent") });
    if (chat.state === "missed") return this.t("missed");
    return this.t("ended");
  }

  private endCard(): HTMLElement {
    const s = this.session;
    const chat = s.chat!;
    const rows: Node[] = [h("p", { "data-lc": "ended" }, this.endedText(chat))];
    const hadAgent = !!chat.agent;
    if (this.ratedChat === chat.id) {
      rows.push(h("p", { "data-lc": "thanks", role: "status" }, this.t("thanks")));
    } else if (hadAgent) {
      const stars: Node[] = [h("legend", { class: "legend" }, this.t("rating"))];
      for (let n = 1; n <= 5; n++) {
        const id = "lc-star-" + n;
        const input = h("input", {
          type: "radio", name: "rating", id, value: n, checked: this.rating === n,
          onchange: () => {
            this.rating = n;
            this.ratingError = "";
            this.paintStars();
          },
        });
        stars.push(input, h("label", { for: id, class: this.rating >= n ? "on" : "" },
          h("span", { "aria-hidden": "true" }, "\u2605"), h("span", { class: "sr" }, this.t("star", { n: this.num(n), max: this.num(5) }))));
      }
      const npsRow = s.config?.nps_question ? this.npsScale() : null;
      const comment = h("textarea", { rows: 2, maxlength: 2000, oninput: () => (this.comment = comment.value) });
      comment.value = this.comment;
      rows.push(h("form", {
        class: "card", "data-lc": "rating", novalidate: true, style: "padding:0;border:0",
        onsubmit: (e: Event) => {
          e.preventDefault();
          void this.submitRating();
        },
      },
        h("h2", null, this.t("rateTitle")),
        h("fieldset", { class: "stars" }, ...stars),
        this.ratingError ? h("p", { class: "err", role: "alert" }, this.t(this.ratingError)) : null,
        npsRow,
        this.field({ comment: this.comment }, "comment", "comment", comment, true),
        h("button", { type: "submit", class: "btn", disabled: this.busy }, this.t("sendRating"))));
      // the "comment" field is optional: its label says so already
      (rows[rows.length - 1] as HTMLElement).querySelector("[aria-required]")?.removeAttribute("aria-required");
    }
    if (s.msgs.length && s.config?.email_transcript) rows.push(this.transcriptForm(chat));
    rows.push(h("div", { class: "row" },
      s.msgs.length ? h("button", { type: "button", class: "btn2", "data-action": "download", onclick: () => this.download() }, this.t("download")) : null,
      h("button", { type: "button", class: "btn2", "data-action": "new", onclick: () => this.newChat() }, this.t("newChat"))));
    return h("div", { class: "card", "data-lc": "end" }, ...rows);
  }

  /** "Email me the transcript": the address (the one given before the chat, if any) and a
   * button; once asked for, where it goes. */
  private transcriptForm(chat: ChatInfo): HTMLElement {
    if (this.transcriptChat === chat.id && this.transcriptSentTo) {
      return h("p", { class: "notice-done", "data-lc": "transcript-sent", role: "status" },
        this.t("emailTranscriptSent", { email: isolate(this.transcriptSentTo) }));
    }
    const id = "lc-transcript-email";
    const email = h("input", { id, type: "email", autocomplete: "email", required: true, dir: "ltr", maxlength: 254 }) as HTMLInputElement;
    email.value = this.transcriptEmail ?? (this.prechat.email || this.offlineForm.email || "");
    email.addEventListener("input", () => (this.transcriptEmail = email.value));
    const children: Node[] = [
      h("label", { for: id }, this.t("emailTranscript")), email,
      h("button", { type: "submit", class: "btn", "data-action": "transcript-send", disabled: this.busy }, this.t("emailTranscriptSend")),
    ];
    if (this.transcriptError) {
      email.setAttribute("aria-invalid", "true");
      email.setAttribute("aria-describedby", id + "-err");
      children.push(h("p", { class: "err", id: id + "-err", role: "alert" }, this.t(this.transcriptError)));
    }
    return h("form", {
      class: "notice-form", "data-lc": "transcript", novalidate: true,
      onsubmit: (e: Event) => {
        e.preventDefault();
        void this.submitTranscript(email.value.trim());
      },
    }, ...children);
  }

  private async submitTranscript(email: string): Promise<void> {
    const chat = this.session.chat;
    if (this.busy || !chat) return;
    this.transcriptEmail = email;
    if (!EMAIL_RE.test(email)) {
      this.transcriptError = "invalidEmail";
    } else {
      this.busy = true;
      try {
        await this.session.emailTranscript(email);
        this.transcriptChat = chat.id;
        this.transcriptSentTo = email;
        this.transcriptError = "";
      } catch (err) {
        const code = (err as { code?: string })?.code;
        this.transcriptError = code === "bad_email" ? "invalidEmail"
          : code === "too_many" ? "emailTranscriptTooMany"
            : code === "mail_not_configured" ? "emailTranscriptOff" : "error";
      } finally {
        this.busy = false;
      }
    }
    this.rebuildEndCard();
    if (this.transcriptSentTo && this.transcriptChat === chat.id) {
      this.say(this.t("emailTranscriptSent", { email: isolate(email) }));
      this.body.querySelector<HTMLElement>("[data-action=new]")?.focus();
    } else {
      this.body.querySelector<HTMLInputElement>("#lc-transcript-email")?.focus();
    }
  }

  /** The optional NPS question: 0-10 as radio buttons, the ends named. */
  private npsScale(): HTMLElement {
    const items: Node[] = [h("legend", { class: "legend", id: "lc-nps-q" }, this.t("npsQuestion"))];
    const scale: Node[] = [];
    for (let n = 0; n <= 10; n++) {
      const id = "lc-nps-" + n;
      const input = h("input", {
        type: "radio", name: "nps", id, value: n, checked: this.nps === n,
        onchange: () => {
          this.nps = n;
          this.body.querySelectorAll<HTMLLabelElement>(".nps label").forEach((l, i) => l.classList.toggle("on", i === n));
        },
      });
      scale.push(input, h("label", { for: id, class: this.nps === n ? "on" : "" }, this.num(n)));
    }
    // mirrored in right-to-left languages like the stars and the two end labels
    items.push(h("div", { class: "scale" }, ...scale));
    items.push(h("div", { class: "ends" }, h("span", null, this.t("npsLow")), h("span", null, this.t("npsHigh"))));
    return h("fieldset", { class: "nps", "data-lc": "nps" }, ...items);
  }

  private paintStars(): void {
    this.body.querySelectorAll<HTMLLabelElement>(".stars label").forEach((l, i) => l.classList.toggle("on", i < this.rating));
  }

  private async submitRating(): Promise<void> {
    if (this.busy) return;
    if (!this.rating) {
      this.ratingError = "chooseRating";
      this.rebuildEndCard();
      this.body.querySelector<HTMLInputElement>(".stars input")?.focus();
      return;
    }
    this.busy = true;
    try {
      await this.session.rate(this.rating, this.comment.trim(),
        this.session.config?.nps_question && this.nps >= 0 ? this.nps : null);
      this.ratedChat = this.session.chat?.id || "";
      this.ratingError = "";
    } catch {
      this.ratingError = "error";
    } finally {
      this.busy = false;
    }
    this.rebuildEndCard();
    const thanks = this.body.querySelector<HTMLElement>("[data-lc=thanks]");
    if (thanks) {
      this.say(this.t("thanks"));
      this.body.querySelector<HTMLElement>("[data-action=new]")?.focus();
    }
  }

  private rebuildEndCard(): void {
    const old = this.body.querySelector("[data-lc=end]");
    if (old && this.session.chat) old.replaceWith(this.endCard());
  }

  private newChat(): void {
    this.rating = 0;
    this.nps = -1;
    this.comment = "";
    this.ratingError = "";
    this.transcriptEmail = null;
    this.transcriptSentTo = "";
    this.transcriptChat = "";
    this.transcriptError = "";
    this.session.dismiss();
  }

  private askEnd(): void {
    this.confirming = true;
    this.renderConfirm();
    this.confirmBar.querySelector<HTMLButtonElement>("[data-action=cancel]")?.focus();
  }

  private cancelEnd(): void {
    this.confirming = false;
    this.renderConfirm();
    this.btnEnd.focus();
  }

  private async endChat(): Promise<void> {
    this.confirming = false;
    this.renderConfirm();
    try {
      await this.session.leave();
    } catch {
      this.say(this.t("error"));
    }
  }

  private download(): void {
    const s = this.session;
    if (!s.chat) return;
    const text = transcript({
      title: this.opts.title || s.config?.title?.[this.lang] || this.t("title"),
      chatId: s.chat.id, msgs: s.msgs, lang: this.lang,
      labels: { transcript: this.t("transcript"), chat: this.t("chat"), date: this.t("date"), you: this.t("you"), agent: this.t("agent") },
    });
    const url = URL.createObjectURL(new Blob([text], { type: "text/plain;charset=utf-8" }));
    const a = h("a", { href: url, download: "chat-" + s.chat.id + ".txt", hidden: true });
    this.root.appendChild(a);
    a.click();
    a.remove();
    window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }

  // ---- messages -----------------------------------------------------------------------
  private syncMessages(force = false): void {
    if (this.current !== "chat" && this.current !== "ended") return;
    const s = this.session;
    const nearBottom = this.body.scrollHeight - this.body.scrollTop - this.body.clientHeight < 80;
    const wanted: HTMLLIElement[] = [];
    const keep = new Set<string>();
    for (const m of s.msgs) {
      const key = "s" + m.seq;
      keep.add(key);
      let row = this.rows.get(key);
      if (!row || force) {
        row = this.msgRow(m);
        this.rows.set(key, row);
      }
      this.status(row, m.from.role === "visitor" ? m.seq : -1, null);
      wanted.push(row);
    }
    const pending = [...s.pending.values()].filter((p) => p.chat === s.chat?.id);
    pending.sort((a, b) => (a.seq ?? Infinity) - (b.seq ?? Infinity) || a.ts - b.ts);
    for (const p of pending) {
      const key = "p" + p.cid;
      keep.add(key);
      let row = this.rows.get(key);
      if (!row || force) {
        row = this.msgRow({ seq: 0, cid: p.cid, text: p.text, ts: p.ts, kind: "message", from: { role: "visitor", id: "", name: "" } });
        this.rows.set(key, row);
      }
      this.status(row, p.seq ?? 0, p);
      wanted.push(row);
    }
    for (const key of [...this.rows.keys()]) if (!keep.has(key)) this.rows.delete(key);
    // place rows in order, moving only what is out of place (moving a node loses focus)
    const list = this.list;
    wanted.forEach((row, i) => {
      if (list.children[i] !== row) list.insertBefore(row, list.children[i] || null);
    });
    while (list.children.length > wanted.length) list.lastChild!.remove();
    const last = wanted[wanted.length - 1];
    if (force || nearBottom || (last && last.classList.contains("me"))) {
      this.body.scrollTop = this.body.scrollHeight;
    }
  }

  private msgRow(m: Msg): HTMLLIElement {
    if (m.kind === "system") {
      const name = m.from.name || this.t("agent");
      return h("li", { class: "system", "data-seq": m.seq }, systemText(m.text, name, this.t.bind(this)));
    }
    const me = m.from.role === "visitor";
    const time = new Date(m.ts);
    let stamp = "";
    try {
      stamp = new Intl.DateTimeFormat(intlLocale(this.lang), { hour: "2-digit", minute: "2-digit" }).format(time);
    } catch {
      stamp = time.toTimeString().slice(0, 5);
    }
    return h("li", { class: me ? "msg me" : "msg them", "data-seq": m.seq || null, "data-cid": m.cid },
      me ? null : h("p", { class: "who" }, m.from.name || this.t("agent")),
      h("div", { class: "bubble", dir: "auto" }, m.file ? this.fileView(m.file) : null, linkify(m.text)),
      h("div", { class: "meta" }, h("time", { datetime: time.toISOString() }, stamp), me ? h("span", { class: "state" }) : null));
  }

  /** An attachment: images previewed, other files a download link (their URL is signed
   * and short-lived: asked for when shown, and again when clicked). */
  private fileView(file: NonNullable<Msg["file"]>): HTMLElement {
    const label = `${file.name} (${formatSize(file.size)})`;
    if (IMAGE_TYPES.includes(file.type)) {
      const img = h("img", { class: "preview", alt: file.name, "data-lc": "file-image" });
      const a = h("a", { class: "file", target: "_blank", rel: "noopener noreferrer", "data-file": file.id }, img);
      void this.session.fileUrl(file.id).then((link) => {
        if (link) {
          img.src = link.url;
          a.href = link.url;
        }
      });
      return a;
    }
    // a plain link to the signed URL (the server answers it as an attachment: a download);
    // once it is near its expiry a click asks for a new one first
    let expires = 0;
    const refresh = async (): Promise<boolean> => {
      const link = await this.session.fileUrl(file.id);
      if (!link) return false;
      a.href = link.url;
      expires = link.expires;
      return true;
    };
    const a = h("a", {
      class: "file", href: "#", "data-lc": "file-link", "data-file": file.id,
      onclick: (e: Event) => {
        if (Date.now() < expires - 30_000) return; // the link is good: the browser follows it
        e.preventDefault();
        void refresh().then((ok) => {
          if (ok) a.click();
          else this.say(this.t("fileFailed"));
        });
      },
    }, icon(ICONS.download), document.createTextNode(label));
    void refresh();
    a.title = this.t("downloadFile");
    return a;
  }

  private async sendFiles(): Promise<void> {
    const files = [...(this.fileInput.files || [])];
    this.fileInput.value = "";
    for (const file of files) {
      const refused = await this.session.sendFile(file);
      if (refused) {
        this.say(this.t(refused));
        this.flash(this.t(refused));
      }
    }
  }

  /** A short message under the composer (a refused file). */
  private flash(text: string): void {
    this.typingEl.textContent = text;
    this.typingEl.dataset.lc = "file-error";
    window.setTimeout(() => {
      if (this.typingEl.textContent === text) this.typingEl.textContent = "";
    }, 6000);
  }

  /** Update a row of ours: sending / sent / read / failed (with retry). */
  private status(row: HTMLLIElement, seq: number, p: Pending | null): void {
    if (!row.classList.contains("me")) return;
    let state: "sending" | "sent" | "read" | "failed";
    if (p && p.state === "failed" && p.seq === undefined) state = "failed";
    else if (p && p.seq === undefined) state = "sending";
    else state = seq > 0 && seq <= this.session.agentRead ? "read" : "sent";
    const key = state + ":" + this.lang + ":" + (p?.final ? 1 : 0);
    if (row.dataset.key === key) return;
    row.dataset.key = key;
    row.dataset.state = state;
    row.classList.toggle("failed", state === "failed");
    const el = row.querySelector<HTMLSpanElement>(".state");
    if (!el) return;
    const parts: Node[] = [document.createTextNode(this.t(state))];
    if (state === "failed" && p && !p.final) {
      const cid = p.cid;
      parts.push(h("button", { type: "button", class: "retry", onclick: () => this.session.retry(cid) }, this.t("retry")));
    }
    el.replaceChildren(...parts);
  }

  // ---- composer and keys --------------------------------------------------------------
  private onInput(): void {
    this.draft = this.input.value;
    this.input.style.height = "auto";
    this.input.style.height = Math.min(this.input.scrollHeight + 2, 120) + "px";
    this.session.typing(this.draft.trim().length > 0, this.draft);
  }

  private onComposerKey(e: KeyboardEvent): void {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      this.sendDraft();
    }
  }

  private sendDraft(): void {
    const text = this.input.value.trim();
    if (!text) return;
    if (text.length > this.session.maxText) {
      this.say(this.t("tooLong"));
      return;
    }
    this.session.send(text);
    this.input.value = this.draft = "";
    this.input.style.height = "";
    this.input.focus();
  }

  private onPanelKey(e: KeyboardEvent): void {
    if (e.key !== "Escape") return;
    e.stopPropagation();
    if (this.confirming) this.cancelEnd();
    else this.close(true);
  }

  private focusPrimary(): void {
    if (!this.opened) return;
    const v = this.current;
    let target: HTMLElement | null = null;
    if (v === "chat") target = this.input;
    else if (v === "prechat" || v === "offline") target = this.body.querySelector("input,select,textarea");
    else if (v === "ended") target = this.body.querySelector(".stars input, [data-action=new]");
    else if (v === "sent") target = this.btnMin;
    (target || this.panel).focus();
    if (v !== "loading") this.focusPending = false;
  }
}

const IMAGE_TYPES = ["image/png", "image/jpeg", "image/gif", "image/webp"];

function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

function endedBy(chat: ChatInfo): string {
  const by = chat.ended_by || "";
  const role = by.split(":")[0];
  return role === "visitor" || role === "agent" || role === "supervisor" ? role : by ? "system" : "";
}

/** A system message of the chat log: "joined" (a supervisor stepped in), "transferred"
 * (the chat is now with the sender), anything else as sent. */
function systemText(text: string, name: string, t: (key: Key, vars?: Record<string, string>) => string): string {
  if (text === "joined") return t("joined", { name });
  if (text === "transferred") return t("transferred", { name });
  return text;
}

/** White or near-black text on the accent colour, whichever contrasts more (WCAG). */
export function onColor(hex: string): string {
  const lum = (h6: string) => {
    const [r, g, b] = [1, 3, 5].map((i) => {
      const c = parseInt(h6.slice(i, i + 2), 16) / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const l = lum(hex);
  const white = 1.05 / (l + 0.05);
  const dark = (l + 0.05) / (lum("#1b1f24") + 0.05);
  return white >= 4.5 || white >= dark ? "#ffffff" : "#1b1f24";
}
