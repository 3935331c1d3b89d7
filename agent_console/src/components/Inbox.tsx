import { useEffect, useState } from "preact/hooks";
import * as api from "../api";
import { fmtDateTime, t } from "../i18n";
import type { StoreProps } from "./App";
import type { Topic } from "../store";
import type { InboxItem as Item } from "../rest";

const MAX_REPLY = 10000;

/** The inbox of offline messages: by topic, open or answered; claim one, answer it by e-mail. */
export function Inbox({ store }: StoreProps) {
  const [topic, setTopic] = useState("");
  const [status, setStatus] = useState("open");
  const [mine, setMine] = useState(false);
  const [items, setItems] = useState<Item[] | null>(null);
  const [topics, setTopics] = useState<string[]>([]);
  const [error, setError] = useState("");
  const [reload, setReload] = useState(0);

  useEffect(() => {
    api.get<Topic[]>("/api/topics").then((list) => setTopics(list.map((x) => x.name)), () => {});
  }, []);

  useEffect(() => {
    let gone = false;
    setError("");
    api.get<{ items: Item[] }>(`/api/inbox${api.qs({ topic, status, mine: mine ? "true" : "" })}`).then(
      (page) => { if (!gone) setItems(page.items); },
      (e) => { if (!gone) setError(errorText(e)); },
    );
    return () => { gone = true; };
  }, [topic, status, mine, reload]);

  const replace = (item: Item) => setItems((list) => list!.map((x) => (x.chat_id === item.chat_id ? item : x)));
  const groups = new Map<string, Item[]>();
  for (const item of items || []) {
    if (!groups.has(item.topic)) groups.set(item.topic, []);
    groups.get(item.topic)!.push(item);
  }

  return (
    <section class="reports inbox" data-testid="inbox" aria-labelledby="inbox-title">
      <div class="panel">
        <div class="panel-head">
          <h2 class="pane-title" id="inbox-title">{t("inbox.title")}</h2>
        </div>
        <div class="toolbar">
          <label>{t("inbox.topic")}
            <select data-testid="inbox-topic" value={topic} onChange={(e) => setTopic(e.currentTarget.value)}>
              <option value="">{t("inbox.all_topics")}</option>
              {topics.map((name) => <option key={name} value={name}>{name}</option>)}
            </select>
          </label>
          <label>{t("inbox.status")}
            <select data-testid="inbox-status" value={status} onChange={(e) => setStatus(e.currentTarget.value)}>
              <option value="">{t("inbox.all")}</option>
              <option value="open">{t("inbox.open")}</option>
              <option value="answered">{t("inbox.answered")}</option>
            </select>
          </label>
          <label>
            <input type="checkbox" data-testid="inbox-mine" checked={mine} onChange={(e) => setMine(e.currentTarget.checked)} />
            {t("inbox.mine")}
          </label>
          <button type="button" data-testid="inbox-refresh" onClick={() => setReload((n) => n + 1)}>{t("inbox.refresh")}</button>
        </div>
        {error && <p class="error" role="alert">{error}</p>}
        {items === null && !error && <p>{t("loading")}</p>}
        {items && items.length === 0 && <p class="muted" data-testid="inbox-empty">{t("inbox.empty")}</p>}
      </div>
      {[...groups.entries()].map(([name, list]) => (
        <div class="panel" key={name} data-testid="inbox-group" data-topic={name}>
          <h3 class="pane-title">{name} <span class="muted">({list.length})</span></h3>
          {list.map((item) => (
            <InboxItem key={item.chat_id} item={item} me={store.me!.id} onChange={replace} />
          ))}
        </div>
      ))}
    </section>
  );
}

function errorText(e: api.ApiError): string {
  const key = `inbox.error.${e.code}`;
  const text = t(key);
  return text === key ? t("inbox.error", { message: e.message }) : text;
}

function InboxItem({ item, me, onChange }: { item: Item; me: string; onChange: (item: Item) => void }) {
  const [text, setText] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const mine = item.claimed_by === me;
  const open = item.status === "open";

  const act = async (fn: () => Promise<Item>) => {
    setBusy(true);
    setError("");
    try {
      onChange(await fn());
      setText("");
    } catch (e) {
      setError(errorText(e as api.ApiError));
    } finally {
      setBusy(false);
    }
  };
  const claim = () => act(() => api.post(`/api/inbox/${encodeURIComponent(item.chat_id)}/claim`));
  const send = (e: Event) => {
    e.preventDefault();
    if (!text.trim()) {
      setError(t("inbox.error.empty"));
      return;
    }
    act(() => api.post(`/api/inbox/${encodeURIComponent(item.chat_id)}/reply`, { text }));
  };

  return (
    <article class="inbox-item" data-testid="inbox-item" data-chat={item.chat_id} data-status={item.status}>
      <header class="inbox-meta">
        <span class={`badge ${open ? "badge-open" : "badge-answered"}`} data-testid="inbox-badge">
          {open ? t("inbox.open") : t("inbox.answered")}
        </span>
        <strong>{item.visitor_name || t("visitor.anonymous")}</strong>
        <bdi class="muted">{item.visitor_email}</bdi>
        <time class="muted">{fmtDateTime(item.created_at)}</time>
        {item.claimed_by && (
          <span class="muted" data-testid="inbox-claimed">
            {mine ? t("inbox.claimed_by_you") : <>{t("inbox.claimed_by")} <bdi>{item.claimed_by}</bdi></>}
          </span>
        )}
      </header>
      <p class="inbox-text" dir="auto">{item.text}</p>
      {!open && (
        <div class="inbox-reply" data-testid="inbox-sent">
          <div class="muted">
            {t("inbox.replied")} <bdi>{item.replied_by}</bdi> · <time>{fmtDateTime(item.replied_at)}</time>
          </div>
          <p dir="auto">{item.reply}</p>
        </div>
      )}
      {open && !item.claimed_by && (
        <button type="button" class="primary" data-testid="inbox-claim" disabled={busy} onClick={claim}>
          {t("inbox.claim")}
        </button>
      )}
      {open && mine && (
        <form class="inbox-form" onSubmit={send}>
          <label for={`reply-${item.chat_id}`}>{t("inbox.reply_to", { email: item.visitor_email })}</label>
          <textarea id={`reply-${item.chat_id}`} data-testid="inbox-reply-text" dir="auto" rows={4}
            maxLength={MAX_REPLY} value={text} onInput={(e) => setText(e.currentTarget.value)} />
          <button type="submit" class="primary" data-testid="inbox-send" disabled={busy}>{t("inbox.send")}</button>
        </form>
      )}
      {error && <p class="error" role="alert" data-testid="inbox-error">{error}</p>}
    </article>
  );
}
