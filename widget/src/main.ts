// Entry point: the global command function.
//
// The host page may call `LiveChat(...)` before this script has loaded:
//
//   window.LiveChat = window.LiveChat || function () { (LiveChat.q = LiveChat.q || []).push(arguments) };
//   LiveChat("init", { siteKey: "shop", locale: "uk", color: "#0b6e4f" });
//
// On load the queued calls run in order, then `LiveChat` is replaced by the real function.
// Commands: init(options), open, close, toggle, show, hide, setLocale(lang),
// setVisitor({name, email}), on(event, handler), off(event, handler).
// Events: ready, open, close, message, unread, chatStarted, chatEnded.
// The server is the origin (and path) this script was loaded from.

import { Widget, type Options } from "./ui";

type Handler = (data?: unknown) => void;
type Command = (...args: any[]) => unknown;
interface Queued extends Command {
  q?: ArrayLike<unknown>[];
  loaded?: boolean;
}

const w = window as unknown as { LiveChat?: Queued };

function scriptBase(): { base: string; data: DOMStringMap } | null {
  let script = document.currentScript as HTMLScriptElement | null;
  if (!script || !/\/widget\.js(\?|#|$)/.test(script.src)) {
    const all = document.querySelectorAll<HTMLScriptElement>("script[src]");
    script = [...all].reverse().find((s) => /\/widget\.js(\?|#|$)/.test(s.src)) || null;
  }
  if (!script) return null;
  const url = new URL(script.src, location.href);
  return { base: url.origin + url.pathname.replace(/\/widget\.js$/, ""), data: script.dataset };
}

function boot(): void {
  const existing = w.LiveChat;
  if (existing && existing.loaded) return; // the script was included twice
  const found = scriptBase();
  if (!found) return;
  const queue = [...(existing?.q || [])].map((args) => Array.prototype.slice.call(args) as unknown[]);

  const handlers = new Map<string, Set<Handler>>();
  let widget: Widget | null = null;
  let ready = false;
  const emit = (event: string, data?: unknown) => {
    for (const fn of handlers.get(event) || []) {
      try {
        fn(data);
      } catch (err) {
        // a failing page handler must not break the widget
        console.error("LiveChat handler for", event, "failed:", err);
      }
    }
  };

  const fromScript: Options = {};
  if (found.data.siteKey) fromScript.siteKey = found.data.siteKey;
  if (found.data.locale) fromScript.locale = found.data.locale;
  if (found.data.color) fromScript.color = found.data.color;

  const init = (opts?: Options) => {
    const clean = sanitize(opts);
    if (widget) widget.applyOptions(clean);
    else widget = new Widget(found.base, { ...fromScript, ...clean }, emit);
  };

  const api: Queued = function LiveChat(cmd: unknown, ...args: unknown[]): unknown {
    if (cmd === "on" || cmd === "off") {
      const [event, fn] = args as [string, Handler];
      if (typeof event !== "string" || typeof fn !== "function") return undefined;
      if (cmd === "on") {
        if (!handlers.has(event)) handlers.set(event, new Set());
        handlers.get(event)!.add(fn);
        if (event === "ready" && ready) fn();
      } else {
        handlers.get(event)?.delete(fn);
      }
      return undefined;
    }
    if (cmd === "init") {
      init(args[0] as Options);
      return undefined;
    }
    if (!widget) init({});
    const wd = widget!;
    switch (cmd) {
      case "open":
        wd.open(true);
        break;
      case "close":
        wd.close(false);
        break;
      case "toggle":
        if (wd.isOpened) wd.close(false);
        else wd.open(true);
        break;
      case "show":
        wd.show();
        break;
      case "hide":
        wd.hide();
        break;
      case "setLocale":
        wd.setLocale(String(args[0] || ""));
        break;
      case "setVisitor":
        wd.setVisitor((args[0] || {}) as { name?: string; email?: string });
        break;
      default:
        console.warn("LiveChat: unknown command", cmd);
    }
    return undefined;
  };
  api.loaded = true;
  w.LiveChat = api;

  // handlers first, so that a queued on("ready") or on("open") sees what follows
  const ons = queue.filter((a) => a[0] === "on" || a[0] === "off");
  const inits = queue.filter((a) => a[0] === "init");
  const rest = queue.filter((a) => a[0] !== "on" && a[0] !== "off" && a[0] !== "init");
  for (const args of [...ons, ...inits]) api(...args);
  if (!widget) init({});
  for (const args of rest) api(...args);
  ready = true;
  emit("ready");
}

function sanitize(opts: unknown): Options {
  const o = (opts && typeof opts === "object" ? opts : {}) as Record<string, unknown>;
  const out: Options = {};
  const str = (v: unknown, max: number) => (typeof v === "string" && v.length <= max ? v : undefined);
  out.siteKey = str(o.siteKey, 64)?.replace(/[^\w.-]/g, "");
  out.locale = str(o.locale, 35);
  out.color = str(o.color, 7);
  out.title = str(o.title, 100);
  out.topic = str(o.topic, 256);
  if (o.position === "left" || o.position === "right") out.position = o.position;
  if (typeof o.launcher === "boolean") out.launcher = o.launcher;
  for (const k of Object.keys(out) as (keyof Options)[]) if (out[k] === undefined) delete out[k];
  return out;
}

boot();
