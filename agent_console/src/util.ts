// Small pure helpers: durations, user agents, CSV, ids.
import { fmtNum, fmtPercent, fmtSeconds } from "./i18n";

export function newId(prefix = "m"): string {
  const rnd = new Uint8Array(9);
  crypto.getRandomValues(rnd);
  return prefix + Array.from(rnd, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** 75 -> "1:15", 3700 -> "1:01:40" (seconds, never negative). */
export function duration(seconds: number | null | undefined): string {
  const s = Math.max(0, Math.floor(seconds || 0));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/** A figure in seconds for reports, in the current language: "12.3 s" ("12.3 ث" in
 * Arabic), "1:40" from 100 s on, "—" for none.  Show it in a <bdi> (see Figure). */
export function secs(v: number | null | undefined): string {
  if (v === null || v === undefined) return "—";
  return v >= 100 ? duration(v) : fmtSeconds(v);
}

export function pct(v: number | null | undefined): string {
  if (v === null || v === undefined) return "—";
  return fmtPercent(v);
}

export function num(v: number | null | undefined, digits = 2): string {
  if (v === null || v === undefined) return "—";
  return fmtNum(v, digits);
}

/** "Chrome 120 · Linux" from a user agent string (best effort; the raw string is kept too). */
export function browserOf(ua: string | null | undefined): string {
  if (!ua) return "";
  const pick: [RegExp, string][] = [
    [/Edg\/(\d+)/, "Edge"],
    [/OPR\/(\d+)/, "Opera"],
    [/Firefox\/(\d+)/, "Firefox"],
    [/(?:Chrome|Chromium|CriOS)\/(\d+)/, "Chrome"],
    [/Version\/(\d+)[^ ]* (?:Mobile\/\S+ )?Safari/, "Safari"],
  ];
  let browser = "";
  for (const [re, name] of pick) {
    const m = ua.match(re);
    if (m) {
      browser = `${name} ${m[1]}`;
      break;
    }
  }
  const os = /Android/.test(ua) ? "Android" : /iPhone|iPad|iOS/.test(ua) ? "iOS"
    : /Windows/.test(ua) ? "Windows" : /Mac OS X|Macintosh/.test(ua) ? "macOS"
    : /Linux|X11/.test(ua) ? "Linux" : "";
  return [browser, os].filter(Boolean).join(" · ") || ua.slice(0, 60);
}

/** Only http(s) URLs become links; anything else is shown as text. */
export function safeHref(url: string): string | null {
  try {
    const u = new URL(url);
    return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
  } catch {
    return null;
  }
}

/** One CSV cell: quoted when needed; a leading = + - @ gets a ' so spreadsheets do not run it. */
export function csvCell(value: unknown): string {
  let s = value === null || value === undefined ? "" : String(value);
  if (/^[=+\-@\t\r]/.test(s)) s = "'" + s;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv(rows: unknown[][]): string {
  return rows.map((r) => r.map(csvCell).join(",")).join("\r\n") + "\r\n";
}

export function download(filename: string, text: string, type = "text/csv;charset=utf-8"): void {
  const blob = new Blob(["\ufeff" + text], { type });
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** "billing:7, sales" <-> {billing: 7, sales: 0} */
export function parseSkills(text: string | null | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of String(text || "").split(/[,\s]+/)) {
    if (!part) continue;
    const [name, level] = part.split(":");
    if (!name) continue;
    out[name.trim().toLowerCase()] = level ? Math.max(0, Math.min(10, parseInt(level, 10) || 0)) : 0;
  }
  return out;
}

export function skillsText(skills: Record<string, number> | null | undefined): string {
  return Object.entries(skills || {})
    .map(([k, v]) => (v ? `${k}:${v}` : k))
    .join(", ");
}

export function clamp(v: number, lo: number, hi: number): number {
  return Math.max(lo, Math.min(hi, v));
}

/** Why a chat cannot be handed to this agent now ("" if it can): "holder" (they have it
 * already), "disabled", "offline" (not connected, or status offline), "away", "full" (no
 * free capacity).  ``a`` is an entry of the live figures (status, available, load,
 * capacity) or of the directory (status only). */
/** What transferBlock reads of an agent (a live figures entry or a directory entry). */
export interface TransferCandidate {
  id: string;
  status: string;
  disabled?: boolean;
  available?: boolean;
  load?: number;
  capacity?: number;
}

export function transferBlock(a: TransferCandidate, holderId: string | null | undefined): string {
  if (a.id === holderId) return "holder";
  if (a.disabled) return "disabled";
  if (a.status === "offline" || a.available === false) return a.status === "away" ? "away" : "offline";
  if (a.status === "away") return "away";
  if (a.load !== undefined && a.capacity !== undefined && a.load >= a.capacity) return "full";
  return "";
}

/** How long to wait before resending a frame refused with `overloaded`: the server's
 * `retry_ms` hint, doubled per further refusal (at most 8 s), with +-50 % jitter so that
 * the clients refused together do not come back together. */
export function overloadDelay(retryMs: number | undefined, attempt: number): number {
  const base = typeof retryMs === "number" && retryMs > 0 ? retryMs : 500;
  return Math.min(base * 2 ** attempt, 8000) * (0.5 + Math.random());
}

export function sleep(ms: number): Promise<void> {
  return new Promise<void>((resolve) => setTimeout(resolve, ms));
}
