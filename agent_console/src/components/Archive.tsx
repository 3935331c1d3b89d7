import { useEffect, useState } from "preact/hooks";
import * as api from "../api";
import { fmtDateTime, t } from "../i18n";
import { Transcript } from "./Customer";
import type { StoreProps } from "./App";
import type { Topic } from "../store";
import type { RecordDetail, RecordPage, RecordSummary } from "../rest";

const DAY = 86400000;
const PAGE = 50;
/** The server takes at most 200 ids in one export of a selection (docs/records.md). */
const MAX_SELECTED = 200;
const OUTCOMES = ["resolved", "unresolved", "follow_up", "escalated", "spam", "visitor_left", "timeout", "missed", "offline_message"];
const STATES = ["closed", "abandoned", "missed", "offline"];
const RATINGS = ["5", "4", "3", "2", "1", "4-5", "1-2", "none"];

/** The search form: every field is a filter of GET /api/records (empty: any). */
interface Filters {
  q: string;
  name: string;
  email: string;
  agent: string;
  tag: string;
  topic: string;
  outcome: string;
  state: string;
  rating: string;
  from: string;
  to: string;
}

const EMPTY: Filters = { q: "", name: "", email: "", agent: "", tag: "", topic: "", outcome: "", state: "", rating: "", from: "", to: "" };

/** The form as query parameters: days are UTC, and `to` takes in its whole day. */
function params(f: Filters): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (const [k, v] of Object.entries(f)) {
    if (v.trim() && k !== "from" && k !== "to") out[k] = v.trim();
  }
  if (f.from) out.from = Date.parse(`${f.from}T00:00:00Z`);
  if (f.to) out.to = Date.parse(`${f.to}T00:00:00Z`) + DAY;
  return out;
}

function stars(n: number | null): string {
  return n ? "★".repeat(n) + "☆".repeat(5 - n) : "";
}

/** Every finished chat the viewer may see: search, open, export (docs/records.md). */
export function Archive({ store }: StoreProps) {
  const [draft, setDraft] = useState<Filters>(EMPTY);
  const [applied, setApplied] = useState<Filters>(EMPTY);
  const [items, setItems] = useState<RecordSummary[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [open, setOpen] = useState<string | null>(null);
  const [topics, setTopics] = useState<string[]>([]);
  const [agents, setAgents] = useState<{ id: string; name: string }[]>([]);
  const [run, setRun] = useState(0);

  useEffect(() => {
    api.get<Topic[]>("/api/topics").then((list) => setTopics(list.map((x) => x.name)), () => {});
    if (store.isSupervisor) api.get<{ id: string; name: string }[]>("/api/agents").then(setAgents, () => {});
  }, []);

  const load = (cursor: string | null) => {
    let gone = false;
    setBusy(true);
    setError("");
    api.get<RecordPage>(`/api/records${api.qs({ ...params(applied), limit: PAGE, cursor: cursor || "" })}`).then(
      (page) => {
        if (gone) return;
        setItems((old) => (cursor && old ? [...old, ...page.items] : page.items));
        setNext(page.next || null);
      },
      (e: Error) => { if (!gone) setError(e.message); },
    ).finally(() => { if (!gone) setBusy(false); });
    return () => { gone = true; };
  };
  useEffect(() => load(null), [applied, run]);

  const search = (e: Event) => {
    e.preventDefault();
    if (draft.from && draft.to && draft.from > draft.to) {
      setError(t("reports.bad_period"));
      return;
    }
    setSelected(new Set());
    setOpen(null);
    setApplied({ ...draft });
    setRun((n) => n + 1);
  };
  const reset = () => {
    setDraft(EMPTY);
    setSelected(new Set());
    setApplied(EMPTY);
  };
  const toggle = (id: string) => {
    const s = new Set(selected);
    if (s.has(id)) s.delete(id);
    else if (s.size < MAX_SELECTED) s.add(id);
    setSelected(s);
  };
  const field = (key: keyof Filters, label: string, type: "search" | "date" = "search") => (
    <label>{label}
      <input type={type} data-testid={`archive-${key}`} value={draft[key]} dir={type === "search" ? "auto" : undefined}
        list={key === "agent" ? "archive-agents" : undefined}
        onInput={(e) => setDraft({ ...draft, [key]: e.currentTarget.value })} />
    </label>
  );
  const choice = (key: keyof Filters, label: string, values: string[], text: (v: string) => string) => (
    <label>{label}
      <select data-testid={`archive-${key}`} value={draft[key]} onChange={(e) => setDraft({ ...draft, [key]: e.currentTarget.value })}>
        <option value="">{t("archive.any")}</option>
        {values.map((v) => <option key={v} value={v}>{text(v)}</option>)}
      </select>
    </label>
  );
  const query = params(applied);
  const names: Record<string, string> = Object.fromEntries(agents.map((a) => [a.id, a.name]));

  return (
    <section class="reports archive" data-testid="archive" aria-labelledby="archive-title">
      <div class="panel">
        <div class="panel-head">
          <h2 class="pane-title" id="archive-title">{t("archive.title")}</h2>
        </div>
        <form class="toolbar archive-filters" role="search" onSubmit={search}>
          {field("q", t("archive.text"))}
          {field("name", t("archive.visitor"))}
          {field("email", t("customer.email"))}
          {field("agent", t("archive.agent"))}
          <datalist id="archive-agents">{agents.map((a) => <option key={a.id} value={a.id}>{a.name}</option>)}</datalist>
          {field("tag", t("tags.title"))}
          {choice("topic", t("inbox.topic"), topics, (v) => v)}
          {choice("outcome", t("close.outcome"), OUTCOMES, (v) => t(`outcome.${v}`, {}, v))}
          {choice("state", t("archive.state"), STATES, (v) => t(`end_state.${v}`, {}, v))}
          {choice("rating", t("archive.rating"), RATINGS, (v) => t(`archive.rating.${v}`, {}, v))}
          {field("from", t("reports.from"), "date")}
          {field("to", t("reports.to"), "date")}
          <button type="submit" class="primary" data-testid="archive-search">{t("archive.search")}</button>
          <button type="button" data-testid="archive-reset" onClick={reset}>{t("archive.reset")}</button>
        </form>
        <div class="toolbar">
          <a class="button" data-testid="archive-export-csv" href={`/api/records/export.csv${api.qs(query)}`} download>{t("archive.export_csv")}</a>
          <a class="button" data-testid="archive-export-json" href={`/api/records/export.json${api.qs(query)}`} download>{t("archive.export_json")}</a>
          {selected.size > 0 && (
            <a class="button" data-testid="archive-export-selected" href={`/api/records/export.csv${api.qs({ ids: [...selected].join(",") })}`} download>
              {t("archive.export_selected", { n: selected.size })}
            </a>
          )}
          <span class="muted small">{t("reports.utc")}</span>
        </div>
        {error && <p class="error" role="alert">{error}</p>}
        {items === null && !error && <p class="muted">{t("loading")}</p>}
        {items && items.length === 0 && <p class="muted" data-testid="archive-empty">{t("archive.empty")}</p>}
        {items && items.length > 0 && (
          <div class="table-scroll" tabIndex={0} role="region" aria-label={t("archive.title")}>
            <table class="grid archive-table" data-testid="archive-results">
              <thead>
                <tr>
                  <th><span class="sr-only">{t("archive.select")}</span></th>
                  <th>{t("archive.ended")}</th>
                  <th>{t("archive.visitor")}</th>
                  <th>{t("inbox.topic")}</th>
                  <th>{t("archive.agent")}</th>
                  <th>{t("archive.state")}</th>
                  <th>{t("close.outcome")}</th>
                  <th>{t("archive.rating")}</th>
                  <th>{t("archive.messages")}</th>
                </tr>
              </thead>
              <tbody>
                {items.map((r) => (
                  <tr key={r.chat_id} data-testid="archive-row" data-chat={r.chat_id} class={open === r.chat_id ? "current" : ""}>
                    <td><input type="checkbox" data-testid="archive-pick" aria-label={t("archive.select_one", { name: r.visitor_name || r.chat_id })}
                      checked={selected.has(r.chat_id)} onChange={() => toggle(r.chat_id)} /></td>
                    <td>
                      <button type="button" class="link" data-testid="archive-open" aria-expanded={open === r.chat_id}
                        onClick={() => setOpen(open === r.chat_id ? null : r.chat_id)}>{fmtDateTime(r.ended_at)}</button>
                    </td>
                    <td><bdi>{r.visitor_name || t("visitor.anonymous")}</bdi>{r.visitor_email ? <div class="muted small"><bdi>{r.visitor_email}</bdi></div> : null}</td>
                    <td><bdi>{r.topic}</bdi></td>
                    <td><bdi>{r.agent_id ? names[r.agent_id] || r.agent_id : "—"}</bdi></td>
                    <td>{t(`end_state.${r.end_state}`, {}, r.end_state)}</td>
                    <td><bdi>{r.outcome ? t(`outcome.${r.outcome}`, {}, r.outcome) : ""}</bdi></td>
                    <td aria-label={r.rating ? String(r.rating) : t("archive.rating.none")} data-testid="archive-row-rating">{stars(r.rating)}</td>
                    <td>{r.message_count}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        {next && <button type="button" data-testid="archive-more" disabled={busy} onClick={() => load(next)}>{t("archive.more")}</button>}
      </div>
      {open && <ArchiveRecord store={store} id={open} names={names} onClose={() => setOpen(null)} />}
    </section>
  );
}

/** One record: who, what, how it ended, the transcript with notes, and its routing events. */
function ArchiveRecord({ id, names, onClose, store }: {
  id: string; names: Record<string, string>; onClose: () => void; store: StoreProps["store"];
}) {
  const [rec, setRec] = useState<RecordDetail | null>(null);
  const [error, setError] = useState("");
  useEffect(() => {
    setRec(null);
    setError("");
    api.get<RecordDetail>(`/api/records/${encodeURIComponent(id)}`).then(setRec, (e: Error) => setError(e.message));
  }, [id]);
  const who = (agent: string | null | undefined) => (agent ? names[agent] || agent : "");
  return (
    <div class="panel archive-record" data-testid="archive-record" data-chat={id} aria-labelledby="archive-record-title">
      <div class="panel-head">
        <h3 class="pane-title" id="archive-record-title">{rec ? <bdi>{rec.visitor_name || t("visitor.anonymous")}</bdi> : t("loading")}</h3>
        <button type="button" data-testid="archive-record-close" onClick={onClose}>{t("close")}</button>
      </div>
      {error && <p class="error" role="alert">{error}</p>}
      {rec && (
        <>
          <dl class="fields">
            <div class="field"><dt>{t("archive.chat")}</dt><dd class="ltr-text">{rec.chat_id}</dd></div>
            {rec.visitor_email ? <div class="field"><dt>{t("customer.email")}</dt><dd><bdi>{rec.visitor_email}</bdi></dd></div> : null}
            <div class="field"><dt>{t("inbox.topic")}</dt><dd><bdi>{rec.topic}</bdi></dd></div>
            <div class="field"><dt>{t("archive.started")}</dt><dd>{fmtDateTime(rec.created_at)}</dd></div>
            <div class="field"><dt>{t("archive.ended")}</dt><dd>{fmtDateTime(rec.ended_at)}</dd></div>
            <div class="field"><dt>{t("archive.state")}</dt><dd>{t(`end_state.${rec.end_state}`, {}, rec.end_state)}{rec.outcome ? <> · <bdi>{t(`outcome.${rec.outcome}`, {}, rec.outcome)}</bdi></> : null}</dd></div>
            {rec.agents && rec.agents.length ? <div class="field"><dt>{t("archive.agents")}</dt><dd data-testid="archive-record-agents">{rec.agents.map((a) => <span class="chip" key={`${a.agent_id}-${a.joined_at}`}><bdi>{who(a.agent_id)}</bdi></span>)}</dd></div> : null}
            {rec.tags.length ? <div class="field"><dt>{t("tags.title")}</dt><dd>{rec.tags.map((x) => <span class="chip" key={x}><bdi>{x}</bdi></span>)}</dd></div> : null}
            {rec.rating ? <div class="field"><dt>{t("archive.rating")}</dt><dd data-testid="archive-record-rating">{stars(rec.rating)}{rec.rating_comment ? <> “<bdi>{rec.rating_comment}</bdi>”</> : null}</dd></div> : null}
          </dl>
          <h4>{t("archive.transcript")}</h4>
          <div class="record" data-testid="record-transcript">
            {rec.messages.length ? <Transcript rec={rec} store={store} /> : <p class="muted">{t("archive.no_messages")}</p>}
          </div>
          <h4>{t("archive.events")}</h4>
          <ol class="events" data-testid="archive-events">
            {(rec.events || []).map((ev) => (
              <li key={ev.idx} data-kind={ev.kind}>
                <span class="muted small">{fmtDateTime(ev.at)}</span>{" "}
                <span>{t(`archive.event.${ev.kind}`, {}, ev.kind)}</span>
                {ev.agent_id ? <> · <bdi>{who(ev.agent_id)}</bdi></> : null}
                {ev.result ? <> · {t(`archive.result.${ev.result}`, {}, ev.result)}</> : null}
                {ev.detail ? <> · <bdi class="muted">{ev.detail}</bdi></> : null}
              </li>
            ))}
          </ol>
        </>
      )}
    </div>
  );
}
