import { useState } from "preact/hooks";
import { getLang, t, type Lang } from "../i18n";
import type { NoticeView } from "../../../clients/protocol";
import type { StoreProps } from "./App";

const LANGS: Lang[] = ["en", "ar", "uk"];

/** The notice's text in the console's language, else English, else any. */
function textOf(n: NoticeView): string {
  return n.texts[getLang()] || n.texts.en || Object.values(n.texts)[0] || "";
}

/** Outage notices in force, above the workspace, announced (role="status"). Supervisors
 * end them here, optionally closing the chats waiting in their topics. */
export function NoticeBar({ store }: StoreProps) {
  const notices = store.notices;
  return (
    <section class="svc-notices" role="status" aria-live="polite" aria-label={t("notice.title")}
      data-testid="notices" hidden={!notices.length}>
      {notices.map((n) => (
        <div class="svc-notice" key={n.id} data-testid="notice" data-id={n.id}>
          <div class="notice-main">
            <strong>{t("notice.title")}:</strong> <bdi>{textOf(n)}</bdi>
            <div class="notice-meta">
              {t("notice.topics")}: <bdi>{n.topics.length ? n.topics.join(", ") : t("notice.all_topics")}</bdi>
              {n.expires_at ? <> · {t("notice.until", { time: new Date(n.expires_at).toLocaleTimeString(getLang()) })}</> : null}
            </div>
          </div>
          {store.isSupervisor && (
            <div class="notice-actions">
              <button data-testid="notice-end" onClick={() => store.endNotice(n.id).catch(() => {})}>
                {t("notice.end")}
              </button>
              <button data-testid="notice-end-close" onClick={() => {
                if (window.confirm(t("notice.end_close_confirm"))) store.endNotice(n.id, true).catch(() => {});
              }}>
                {t("notice.end_close")}
              </button>
            </div>
          )}
        </div>
      ))}
    </section>
  );
}

/** The supervisor's form: a text per language, topics, an optional expiry. */
export function NoticeForm({ store }: StoreProps) {
  const [texts, setTexts] = useState<Record<Lang, string>>({ en: "", ar: "", uk: "" });
  const [topics, setTopics] = useState<string[]>([]);
  const [minutes, setMinutes] = useState("");
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const body: Parameters<typeof store.postNotice>[0] = { texts: {}, topics };
    for (const l of LANGS) if (texts[l].trim()) body.texts[l] = texts[l].trim();
    if (minutes) body.expires_at = Date.now() + Number(minutes) * 60_000;
    setBusy(true);
    try {
      await store.postNotice(body);
      setTexts({ en: "", ar: "", uk: "" });
      setMinutes("");
    } catch {
      /* shown as a toast */
    } finally {
      setBusy(false);
    }
  };
  return (
    <details class="notice-post card">
      <summary data-testid="notice-open">{t("notice.post_title")}</summary>
    <form class="notice-form" onSubmit={submit} data-testid="notice-form">
      {LANGS.map((l) => (
        <label key={l}>
          {t(`lang.${l}`)}
          <textarea rows={2} maxLength={1000} dir={l === "ar" ? "rtl" : "ltr"} lang={l}
            data-testid={`notice-text-${l}`} value={texts[l]}
            onInput={(e) => setTexts({ ...texts, [l]: e.currentTarget.value })} />
        </label>
      ))}
      <fieldset>
        <legend>{t("notice.topics")} <span class="hint">({t("notice.none_all")})</span></legend>
        {store.topics.map((tp) => (
          <label key={tp.name} class="check">
            <input type="checkbox" checked={topics.includes(tp.name)} onChange={(e) =>
              setTopics(e.currentTarget.checked ? [...topics, tp.name] : topics.filter((x) => x !== tp.name))} />
            <bdi>{tp.name}</bdi>
          </label>
        ))}
      </fieldset>
      <label>
        {t("notice.expires_in")}
        <input type="number" min="1" max="43200" value={minutes} data-testid="notice-minutes"
          onInput={(e) => setMinutes(e.currentTarget.value)} />
      </label>
      <button class="primary" type="submit" disabled={busy || !LANGS.some((l) => texts[l].trim())}
        data-testid="notice-post">{t("notice.post")}</button>
    </form>
    </details>
  );
}
