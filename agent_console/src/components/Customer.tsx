import { useEffect, useState } from "preact/hooks";
import * as api from "../api";
import { fmtDateTime, fmtTime, t } from "../i18n";
import { browserOf, safeHref } from "../util";
import { FileView } from "./FileView";
import type { ComponentChildren } from "preact";
import type { Chat, Store } from "../store";
import type { RecordDetail, RecordPage, RecordSummary } from "../rest";

interface ChatProps {
  store: Store;
  chat: Chat;
}

function Field({ label, children, testid }: { label: string; children: ComponentChildren; testid?: string }) {
  if (children === "" || children === null || children === undefined) return null;
  return (
    <div class="field">
      <dt>{label}</dt>
      <dd data-testid={testid}>{children}</dd>
    </div>
  );
}

/** The visitor's details and their earlier interactions (from the records). */
export function CustomerPanel({ store, chat }: ChatProps) {
  const v = chat.visitor || {};
  const href = v.page ? safeHref(v.page) : null;
  return (
    <div class="customer-panel" data-testid="customer">
      <h2 class="pane-title">{t("customer.title")}</h2>
      <dl class="fields">
        <Field label={t("customer.name")} testid="cust-name"><bdi>{v.name || t("visitor.anonymous")}</bdi></Field>
        <Field label={t("customer.email")} testid="cust-email">{v.email ? <bdi>{v.email}</bdi> : ""}</Field>
        <Field label={t("customer.page")} testid="cust-page">
          {v.page ? (href ? <a href={href} target="_blank" rel="noopener noreferrer" class="ltr-text">{v.page}</a> : <span class="ltr-text">{v.page}</span>) : ""}
        </Field>
        <Field label={t("customer.referrer")}>{v.referrer ? <span class="ltr-text">{v.referrer}</span> : ""}</Field>
        <Field label={t("customer.locale")} testid="cust-locale">{v.locale || ""}</Field>
        <Field label={t("customer.browser")} testid="cust-browser">
          {v.user_agent ? <span title={v.user_agent}>{browserOf(v.user_agent)}</span> : ""}
        </Field>
        {Object.entries(v.fields || {}).map(([k, val]) => (
          <Field key={k} label={k}><bdi>{val as string}</bdi></Field>
        ))}
      </dl>
      <History store={store} chat={chat} />
    </div>
  );
}

function History({ store, chat }: ChatProps) {
  const visitorId = chat.visitor && chat.visitor.id;
  const email = chat.visitor && chat.visitor.email;
  const [items, setItems] = useState<RecordSummary[] | null>(null);
  const [error, setError] = useState("");
  const [open, setOpen] = useState<string | null>(null);

  useEffect(() => {
    let gone = false;
    (async () => {
      if (!visitorId) {
        setItems([]);
        return;
      }
      try {
        const lists = [api.get<RecordPage>(`/api/records${api.qs({ visitor: visitorId, limit: 20 })}`)];
        if (email) lists.push(api.get<RecordPage>(`/api/records${api.qs({ email, limit: 20 })}`).catch((): RecordPage => ({ items: [] })));
        const pages = await Promise.all(lists);
        const seen = new Set<string>();
        const all: RecordSummary[] = [];
        for (const p of pages) {
          for (const r of p.items || []) {
            if (r.chat_id === chat.id || seen.has(r.chat_id)) continue;
            seen.add(r.chat_id);
            all.push(r);
          }
        }
        all.sort((a, b) => b.ended_at - a.ended_at);
        if (!gone) setItems(all);
      } catch (e) {
        if (!gone) setError((e as Error).message);
      }
    })();
    return () => {
      gone = true;
    };
  }, [visitorId, email, chat.id]);

  return (
    <section class="history">
      <h3>{t("customer.earlier")}</h3>
      {error && <p class="error">{error}</p>}
      {items === null && !error && <p class="muted">{t("loading")}</p>}
      {items && !items.length && <p class="muted" data-testid="no-earlier">{t("customer.none")}</p>}
      <ul class="records">
        {(items || []).map((r) => (
          <li key={r.chat_id} data-testid="earlier">
            <button class="link record-head" aria-expanded={open === r.chat_id}
              onClick={() => setOpen(open === r.chat_id ? null : r.chat_id)}>
              <span>{fmtDateTime(r.created_at)}</span>
              <span class="muted"> · <bdi>{r.topic}</bdi> · {t(`end_state.${r.end_state}`, {}, r.end_state)}
                {r.outcome ? <> · <bdi>{t(`outcome.${r.outcome}`, {}, r.outcome)}</bdi></> : null}
                {r.rating ? <> · {"★".repeat(r.rating)}</> : null}</span>
            </button>
            {open === r.chat_id && <RecordTranscript id={r.chat_id} store={store} />}
          </li>
        ))}
      </ul>
    </section>
  );
}

export function RecordTranscript({ id, store }: { id: string; store?: Store }) {
  const [rec, setRec] = useState<RecordDetail | null>(null);
  const [error, setError] = useState("");
  useEffect(() => {
    api.get<RecordDetail>(`/api/records/${encodeURIComponent(id)}`).then(setRec, (e: Error) => setError(e.message));
  }, [id]);
  if (error) return <p class="error">{error}</p>;
  if (!rec) return <p class="muted">{t("loading")}</p>;
  return (
    <div class="record" data-testid="record-transcript">
      {rec.tags && rec.tags.length ? <div class="muted small">{t("tags.title")}: {rec.tags.map((x) => <span class="chip" key={x}><bdi>{x}</bdi></span>)}</div> : null}
      {rec.rating_comment ? <div class="muted small">“<bdi>{rec.rating_comment}</bdi>”</div> : null}
      <Transcript rec={rec} store={store} />
    </div>
  );
}

/** A stored transcript's messages, internal notes and whispers marked. */
export function Transcript({ rec, store }: { rec: RecordDetail; store?: Store }) {
  return (
    <>
      {rec.messages.map((m) => (
        <div key={m.seq} class={`rmsg${m.internal ? " internal" : ""} role-${m.sender_role}`} data-testid="record-message">
          <span class="muted small">{fmtTime(m.at)} </span>
          <bdi class="who">{m.sender_name || m.sender_role}</bdi>
          {m.internal ? <span class="pill pill-note">{t(m.kind === "whisper" ? "chat.whisper" : "chat.note")}</span> : null}
          <span>: </span>
          {m.file && store ? <FileView store={store} chatId={rec.chat_id} file={m.file} />
            : m.file ? <bdi>[{m.file.name}] </bdi> : null}
          <span class="text" dir="auto">{m.text}</span>
        </div>
      ))}
    </>
  );
}
