// Every string of the console in English, Arabic (right to left) and Ukrainian.
//
// t(key, params, fallback): the string in the current language, else English, else the
// fallback, else the key; {name} placeholders are replaced by params (as text: the result
// is only ever rendered as a text node or attribute, never as HTML).
import { ar } from "./locales/ar";
import { en, type Dict } from "./locales/en";
import { uk } from "./locales/uk";

export type Lang = "en" | "ar" | "uk";
const DICTS: Record<Lang, Dict> = { en, ar, uk };

/** A string key of the console (any key of the English dictionary). */
export type Key = keyof Dict;
export const LANGUAGES: { code: Lang; name: string }[] = [
  { code: "en", name: "English" },
  { code: "ar", name: "العربية" },
  { code: "uk", name: "Українська" },
];
const RTL = new Set(["ar"]);
const KEY = "lc.lang";
const listeners = new Set<() => void>();
let lang: Lang = "en";

function isLang(code: string | null | undefined): code is Lang {
  return !!code && !!(DICTS as Record<string, Dict | undefined>)[code];
}

/** ``key`` is a string: many are built (`status.${s}`); a missing one falls back. */
export function t(key: string, params: Record<string, unknown> = {}, fallback?: string): string {
  let s: string | undefined = (DICTS[lang] as Record<string, string>)[key];
  if (s === undefined) s = (en as Record<string, string>)[key];
  if (s === undefined) s = fallback !== undefined ? fallback : key;
  return String(s).replace(/\{(\w+)\}/g, (_, k) => (params[k] !== undefined ? String(params[k]) : ""));
}

export function getLang(): Lang {
  return lang;
}

export function isRtl(): boolean {
  return RTL.has(lang);
}

function apply() {
  const root = document.documentElement;
  root.lang = lang;
  root.dir = isRtl() ? "rtl" : "ltr";
  document.title = t("app.title");
}

export function setLang(code: string): void {
  if (!isLang(code)) return;
  lang = code;
  try {
    localStorage.setItem(KEY, code);
  } catch {
    /* private mode */
  }
  apply();
  for (const fn of listeners) fn();
}

export function onLanguage(fn: () => void): () => boolean {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** ?lang=ar in the address, else the saved choice, else the browser's language. */
export function initLanguage(): void {
  let code = new URLSearchParams(location.search).get("lang");
  if (!isLang(code)) {
    try {
      code = localStorage.getItem(KEY);
    } catch {
      code = null;
    }
  }
  if (!isLang(code)) {
    code = (navigator.languages || [navigator.language || "en"])
      .map((l) => String(l).slice(0, 2).toLowerCase())
      .find((l) => isLang(l)) || "en";
  }
  lang = code as Lang;
  apply();
}

function locale(): string {
  return lang === "ar" ? "ar-u-nu-latn" : lang === "uk" ? "uk-UA" : "en-GB";
}

export function fmtTime(ms: number | null | undefined): string {
  if (!ms) return "";
  return new Intl.DateTimeFormat(locale(), { hour: "2-digit", minute: "2-digit" }).format(new Date(ms));
}

export function fmtDateTime(ms: number | null | undefined): string {
  if (!ms) return "";
  return new Intl.DateTimeFormat(locale(), { dateStyle: "medium", timeStyle: "short" }).format(new Date(ms));
}

/** A metrics bucket label ("2026-11-23T14:00Z" or "2026-11-23", UTC) for a chart axis. */
export function fmtBucket(key: string, bucket: string): string {
  if (bucket === "hour") return key.slice(11, 16);
  const d = new Date(`${key}T00:00:00Z`);
  return new Intl.DateTimeFormat(locale(), { day: "numeric", month: "short", timeZone: "UTC" }).format(d);
}
