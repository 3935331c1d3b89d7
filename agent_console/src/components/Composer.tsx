import { useEffect, useRef, useState } from "preact/hooks";
import { getLang, t } from "../i18n";
import type { Canned, Chat, Store } from "../store";

const TYPING_REPEAT_MS = 2500;
const TYPING_IDLE_MS = 4000;

/** The `/word` right before the caret, if any: {start, query}. */
export function slashToken(text: string, caret: number): { start: number; query: string } | null {
  const before = text.slice(0, caret);
  const m = before.match(/(^|\s)\/([\p{L}\p{N}_-]*)$/u);
  if (!m) return null;
  return { start: before.length - m[2].length - 1, query: m[2] };
}

export function matchCanned(canned: Canned[], query: string, locale: string | undefined): Canned[] {
  const q = query.toLowerCase();
  const lang = (locale || "").slice(0, 2).toLowerCase();
  return canned
    .filter((c) => !q || c.shortcut.toLowerCase().includes(q) || c.text.toLowerCase().includes(q))
    .sort((a, b) => {
      const rank = (c: Canned) => (c.shortcut.toLowerCase().startsWith(q) ? 0 : 2)
        + (!c.language || c.language === lang ? 0 : 1);
      return rank(a) - rank(b) || a.shortcut.localeCompare(b.shortcut);
    })
    .slice(0, 8);
}

/**
 * The message box: Enter sends, Shift+Enter is a new line, `/` opens canned answers,
 * Alt+N toggles a private note.  `whisper` (supervisors watching a chat) sends whispers.
 */
interface ComposerProps {
  store: Store;
  chat: Chat;
  whisper?: boolean;
  placeholder?: string;
}

export function Composer({ store, chat, whisper = false, placeholder }: ComposerProps) {
  const [text, setText] = useState(chat.draft || "");
  const [note, setNote] = useState(false);
  const [pick, setPick] = useState(0);
  const [caret, setCaret] = useState(0);
  const [closedFor, setClosedFor] = useState(-1);
  const ref = useRef<HTMLTextAreaElement>(null);
  const typingAt = useRef(0);
  const idle = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);

  useEffect(() => {
    const focus = () => ref.current && ref.current.focus();
    const toggle = () => setNote((n) => !n);
    const canned = () => {
      const el = ref.current;
      if (!el) return;
      el.focus();
      const pos = el.selectionStart ?? text.length;
      const pre = text.slice(0, pos);
      const ins = pre && !/\s$/.test(pre) ? " /" : "/";
      update(text.slice(0, pos) + ins + text.slice(pos), pos + ins.length);
    };
    window.addEventListener("lc-focus-composer", focus);
    window.addEventListener("lc-toggle-note", toggle);
    window.addEventListener("lc-canned", canned);
    return () => {
      window.removeEventListener("lc-focus-composer", focus);
      window.removeEventListener("lc-toggle-note", toggle);
      window.removeEventListener("lc-canned", canned);
      clearTimeout(idle.current);
    };
  });

  useEffect(() => () => {
    if (typingAt.current) store.typing(chat.id, false);
  }, [chat.id]);

  const token = slashToken(text, caret);
  const suggestions = token && closedFor !== token.start ? matchCanned(store.canned, token.query, chat.visitor.locale || getLang()) : [];

  function update(value: string, pos?: number | null) {
    setText(value);
    setCaret(pos ?? value.length);
    setPick(0);
    if (!whisper) store.setDraft(chat.id, value);
    if (whisper || note) return;
    const now = Date.now();
    if (value.trim() && now - typingAt.current > TYPING_REPEAT_MS) {
      typingAt.current = now;
      store.typing(chat.id, true);
    }
    clearTimeout(idle.current);
    idle.current = setTimeout(() => {
      if (typingAt.current) {
        typingAt.current = 0;
        store.typing(chat.id, false);
      }
    }, TYPING_IDLE_MS);
    if (ref.current && pos !== undefined) {
      requestAnimationFrame(() => ref.current && ref.current.setSelectionRange(pos!, pos!));
    }
  }

  function insertCanned(item: Canned) {
    const name = chat.visitorName || "";
    const body = item.text.replace(/\{name\}/g, name);
    const start = token ? token.start : caret;
    const end = caret;
    const value = text.slice(0, start) + body + text.slice(end);
    update(value, start + body.length);
    ref.current && ref.current.focus();
  }

  async function send() {
    const value = text.trim();
    if (!value) return;
    update("", 0);
    clearTimeout(idle.current);
    if (typingAt.current) {
      typingAt.current = 0;
      if (!note && !whisper) store.typing(chat.id, false);
    }
    try {
      await store.send(chat.id, value, { internal: note && !whisper, whisper });
    } catch {
      /* shown as failed with a retry link */
    }
  }

  function onKeyDown(e: KeyboardEvent) {
    if (suggestions.length) {
      if (e.key === "ArrowDown") {
        e.preventDefault();
        setPick((pick + 1) % suggestions.length);
        return;
      }
      if (e.key === "ArrowUp") {
        e.preventDefault();
        setPick((pick - 1 + suggestions.length) % suggestions.length);
        return;
      }
      if (e.key === "Enter" || e.key === "Tab") {
        e.preventDefault();
        insertCanned(suggestions[Math.min(pick, suggestions.length - 1)]);
        return;
      }
      if (e.key === "Escape") {
        e.preventDefault();
        setClosedFor(token!.start);
        return;
      }
    }
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      send();
    }
  }

  const mode = whisper ? "whisper" : note ? "note" : "message";
  return (
    <div class={`composer mode-${mode}`}>
      {suggestions.length > 0 && (
        <ul class="canned-pop card" role="listbox" data-testid="canned-list" aria-label={t("canned.title")}>
          {suggestions.map((c, i) => (
            <li key={c.id} role="option" aria-selected={i === pick} class={i === pick ? "picked" : ""}
              data-testid="canned-item" onMouseDown={(e) => { e.preventDefault(); insertCanned(c); }}>
              <b>/{c.shortcut}</b>{c.language ? <span class="muted"> [{c.language}]</span> : null}
              <div class="muted clip"><bdi>{c.text}</bdi></div>
            </li>
          ))}
        </ul>
      )}
      <textarea
        ref={ref}
        data-testid="composer"
        rows={3}
        dir="auto"
        value={text}
        aria-label={placeholder || t(`composer.${mode}`)}
        placeholder={placeholder || t(`composer.${mode}`)}
        maxLength={(store.limits && store.limits.max_text_chars) || 4000}
        onInput={(e) => update(e.currentTarget.value, e.currentTarget.selectionStart)}
        onKeyDown={onKeyDown}
        onKeyUp={(e) => setCaret(e.currentTarget.selectionStart)}
        onClick={(e) => setCaret(e.currentTarget.selectionStart)}
      />
      <div class="composer-bar">
        {!whisper && (
          <label class="toggle" title="Alt+N">
            <input type="checkbox" data-testid="note-toggle" checked={note} onChange={(e) => setNote(e.currentTarget.checked)} />
            {t("composer.note_toggle")}
          </label>
        )}
        {!whisper && (
          <label class="ghost attach" title={t("file.attach")}>
            <svg class="icon" viewBox="0 0 24 24" width="14" height="14" aria-hidden="true" focusable="false">
              <path d="M16.5 6.5v10a4.5 4.5 0 0 1-9 0V5a3 3 0 0 1 6 0v10.5a1.5 1.5 0 0 1-3 0V6.5" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round" />
            </svg>{" "}
            {t("file.attach")}
            <input type="file" class="sr-only" data-testid="attach"
              accept={(store.limits && store.limits.file_types || []).join(",")}
              onChange={async (e) => {
                const input = e.currentTarget;
                const files = [...(input.files || [])];
                input.value = "";
                for (const f of files) await store.sendFile(chat.id, f);
              }} />
          </label>
        )}
        <button type="button" class="ghost" data-testid="canned-button" title="Alt+K"
          onClick={() => window.dispatchEvent(new CustomEvent("lc-canned"))}>
          {t("canned.button")}
        </button>
        <span class="spacer" />
        <span class="muted small">{t("composer.hint")}</span>
        <button type="button" class="primary" data-testid="send" onClick={send} disabled={!text.trim()}>
          {whisper ? t("composer.send_whisper") : note ? t("composer.send_note") : t("composer.send")}
        </button>
      </div>
    </div>
  );
}
