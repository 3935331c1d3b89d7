import { useEffect, useRef, useState } from "preact/hooks";
import { t } from "../i18n";
import { transferBlock, type TransferCandidate } from "../util";
import type { ComponentChildren } from "preact";
import type { Chat, Store } from "../store";
import type { RequestError } from "../socket";

interface DialogProps {
  store: Store;
  chat: Chat;
  onClose: () => void;
}

/** A refused action's words: the server's error code, else its message. */
type Refusal = Error & Partial<Pick<RequestError, "frame">>;

/** An agent a chat can be handed to: an entry of the live figures or of the directory. */
type Candidate = TransferCandidate & { name: string };

export const OUTCOMES = ["resolved", "unresolved", "follow_up", "escalated", "spam"];

interface ModalProps {
  title: string;
  onClose: () => void;
  children: ComponentChildren;
  testid?: string;
}

export function Modal({ title, onClose, children, testid }: ModalProps) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const first = ref.current && ref.current.querySelector<HTMLElement>("input, select, textarea, button");
    if (first) first.focus();
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") {
        e.stopPropagation();
        onClose();
      }
    };
    window.addEventListener("keydown", onKey, true);
    return () => window.removeEventListener("keydown", onKey, true);
  }, []);
  return (
    <div class="modal-back" onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <div class="modal card" role="dialog" aria-modal="true" aria-label={title} ref={ref} data-testid={testid}>
        <h3>{title}</h3>
        {children}
      </div>
    </div>
  );
}

export function TagEditor({ store, chat }: { store: Store; chat: Chat }) {
  const [value, setValue] = useState("");
  const [error, setError] = useState("");
  const { tags: known, free } = store.tagList;
  function add() {
    const typed = value.trim().slice(0, 64);
    // the list's own spelling when only the case differs ("VIP" -> "vip")
    const tag = known.find((k) => k.toLocaleLowerCase() === typed.toLocaleLowerCase()) || typed;
    if (tag && !free && !known.includes(tag)) {
      setError(t("tags.not_listed", { tag }));
      return;
    }
    setError("");
    if (tag && !chat.tags.includes(tag) && chat.tags.length < 20) {
      store.setTags(chat, [...chat.tags, tag]);
    }
    setValue("");
  }
  return (
    <div class="tags" data-testid="tags">
      <span class="muted">{t("tags.title")}:</span>
      {chat.tags.map((tag) => (
        <span class="chip" key={tag}>
          <bdi>{tag}</bdi>
          <button class="link" aria-label={t("tags.remove", { tag })}
            onClick={() => store.setTags(chat, chat.tags.filter((x) => x !== tag))}>×</button>
        </span>
      ))}
      <input class="tag-input" data-testid="tag-input" value={value} placeholder={t("tags.add")}
        aria-label={t("tags.add")} maxLength={64} list={`tag-list-${chat.id}`}
        aria-invalid={error ? true : undefined} aria-describedby={error ? `tag-error-${chat.id}` : undefined}
        onInput={(e) => { setValue(e.currentTarget.value); setError(""); }}
        onKeyDown={(e) => {
          if (e.key === "Enter" || e.key === ",") {
            e.preventDefault();
            add();
          }
        }}
        onBlur={() => (value.trim() ? add() : setError(""))} />
      <datalist id={`tag-list-${chat.id}`}>
        {known.filter((k) => !chat.tags.includes(k)).map((k) => <option key={k} value={k} />)}
      </datalist>
      {error && <span class="error small" role="alert" id={`tag-error-${chat.id}`} data-testid="tag-error">{error}</span>}
    </div>
  );
}

export function TransferDialog({ store, chat, onClose }: DialogProps) {
  // everyone but me; those who cannot take the chat now are listed, disabled, with why
  const holder = chat.info.agent && ((chat.info.agent.id || chat.info.agent) as string);
  const agents = (store.live ? store.live.agents : store.directory as Candidate[])
    .filter((a: Candidate) => a.id !== (store.me && store.me.id))
    .map((a: Candidate) => ({ ...a, block: transferBlock(a, holder) }));
  const [kind, setKind] = useState("agent");
  const [agent, setAgent] = useState("");
  const [topic, setTopic] = useState((store.topics[0] && store.topics[0].name) || "");
  const [note, setNote] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);

  async function submit(e: Event) {
    e.preventDefault();
    setError("");
    const target: { agent?: string; topic?: string } = kind === "agent" ? { agent: agent.trim() } : { topic };
    if (!(target.agent || target.topic)) return;
    setBusy(true);
    try {
      await store.transfer(chat.id, target, note.trim());
      onClose();
    } catch (e) {
      const err = e as Refusal;
      const f: { code?: string; message?: string } = err.frame || {};
      setError(t(`error.${f.code}`, {}, f.message || err.message));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Modal title={t("transfer.title")} onClose={onClose} testid="transfer-dialog">
      <form onSubmit={submit} class="form">
        <div class="seg">
          <label><input type="radio" name="kind" checked={kind === "agent"} onChange={() => setKind("agent")} /> {t("transfer.to_agent")}</label>
          <label><input type="radio" name="kind" data-testid="to-topic" checked={kind === "topic"} onChange={() => setKind("topic")} /> {t("transfer.to_topic")}</label>
        </div>
        {kind === "agent" ? (
          agents.length ? (
            <label>{t("transfer.agent")}
              <select data-testid="transfer-agent" value={agent} onChange={(e) => setAgent(e.currentTarget.value)} required>
                <option value="">—</option>
                {agents.map((a) => (
                  <option key={a.id} value={a.id} disabled={!!a.block} data-reason={a.block || undefined}>
                    {a.name} ({a.block ? t(`transfer.why_${a.block}`) : t(`status.${a.status}`, {}, a.status)}{a.capacity !== undefined && a.load !== undefined ? `, ${a.load}/${a.capacity}` : ""})
                  </option>
                ))}
              </select>
            </label>
          ) : (
            <label>{t("transfer.agent_id")}
              <input data-testid="transfer-agent" value={agent} required onInput={(e) => setAgent(e.currentTarget.value)} />
            </label>
          )
        ) : (
          <label>{t("transfer.topic")}
            <select data-testid="transfer-topic" value={topic} onChange={(e) => setTopic(e.currentTarget.value)}>
              {store.topics.map((x) => <option key={x.name} value={x.name}>{x.name}</option>)}
            </select>
          </label>
        )}
        <label>{t("transfer.note")}
          <textarea data-testid="transfer-note" rows={3} maxLength={4000} value={note}
            placeholder={t("transfer.note_hint")} onInput={(e) => setNote(e.currentTarget.value)} />
        </label>
        {error && <p class="error" role="alert">{error}</p>}
        <div class="buttons">
          <button type="button" onClick={onClose}>{t("cancel")}</button>
          <button type="submit" class="primary" data-testid="transfer-submit" disabled={busy}>{t("transfer.submit")}</button>
        </div>
      </form>
    </Modal>
  );
}

export function CloseDialog({ store, chat, onClose }: DialogProps) {
  const [outcome, setOutcome] = useState("resolved");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);

  async function submit(e: Event) {
    e.preventDefault();
    setBusy(true);
    try {
      await store.close(chat.id, outcome, chat.tags);
      onClose();
    } catch (e) {
      const err = e as Refusal;
      const f: { code?: string; message?: string } = err.frame || {};
      setError(t(`error.${f.code}`, {}, f.message || err.message));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Modal title={t("close.title")} onClose={onClose} testid="close-dialog">
      <form onSubmit={submit} class="form">
        <label>{t("close.outcome")}
          <select data-testid="outcome" value={outcome} onChange={(e) => setOutcome(e.currentTarget.value)}>
            {OUTCOMES.map((o) => <option key={o} value={o}>{t(`outcome.${o}`)}</option>)}
          </select>
        </label>
        {chat.mode === "mine" && <TagEditor store={store} chat={chat} />}
        {error && <p class="error" role="alert">{error}</p>}
        <div class="buttons">
          <button type="button" onClick={onClose}>{t("cancel")}</button>
          <button type="submit" class="danger" data-testid="close-submit" disabled={busy}>{t("close.submit")}</button>
        </div>
      </form>
    </Modal>
  );
}
