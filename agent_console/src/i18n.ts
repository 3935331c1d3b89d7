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

/** The Intl locale of the current language.  Arabic is pinned to Latin digits ("nu-latn"):
 * that is CLDR's default for "ar" without a region (ICU 72+; older browsers defaulted to
 * Arabic-Indic digits), and the widget does the same (docs/widget.md). */
export function locale(): string {
  return lang === "ar" ? "ar-u-nu-latn" : lang === "uk" ? "uk-UA" : "en-GB";
}

/** A number in the current language: 14.6, 1,234 (en), 14,6 (uk); at most ``digits`` decimals. */
export function fmtNum(v: number, digits = 2): string {
  const r = Math.round(v * 10 ** digits) / 10 ** digits;
  return new Intl.NumberFormat(locale(), { maximumFractionDigits: digits }).format(r === 0 ? 0 : r);
}

/** "14.6 s", "14.6 ث", "14,6 с": the locale file's pattern, so the unit reads in the
 * language's order (in Arabic the number first, on the right). */
export function fmtSeconds(v: number): string {
  return t("unit.seconds", { n: fmtNum(v, 1) });
}

/** 0.125 -> "12.5%" (en), "12.5‎%" (ar), "12,5 %" (uk). */
export function fmtPercent(v: number): string {
  const r = Math.round(v * 1000) / 1000;
  return new Intl.NumberFormat(locale(), { style: "percent", maximumFractionDigits: 1 }).format(r === 0 ? 0 : r);
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
