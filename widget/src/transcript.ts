// The transcript the visitor downloads: a plain text file made in the browser from the
// messages the widget holds (nothing is fetched).

import type { Msg } from "./chat";
import { intlLocale } from "./i18n";

export interface TranscriptInput {
  title: string;
  chatId: string;
  msgs: Msg[];
  lang: string;
  labels: { transcript: string; chat: string; date: string; you: string; agent: string };
}

export function transcript(t: TranscriptInput): string {
  const when = (ts: number) => {
    try {
      return new Intl.DateTimeFormat(intlLocale(t.lang), { dateStyle: "short", timeStyle: "short" }).format(new Date(ts));
    } catch {
      return new Date(ts).toISOString();
    }
  };
  const lines = [
    `${t.labels.transcript}: ${t.title}`,
    `${t.labels.chat}: ${t.chatId}`,
    `${t.labels.date}: ${when(t.msgs[0]?.ts ?? Date.now())}`,
    "",
  ];
  for (const m of t.msgs) {
    const who = m.from.role === "visitor" ? t.labels.you : m.from.name || t.labels.agent;
    const body = m.file ? `[${m.file.name}] ${m.text}`.trim() : m.text;
    const text = m.kind === "system" ? `* ${who}: ${body}` : `${who}: ${body}`;
    lines.push(`[${when(m.ts)}] ${text}`);
  }
  // a byte order mark so that desktop editors pick UTF-8 for Arabic and Ukrainian text
  return "\ufeff" + lines.join("\r\n") + "\r\n";
}
