import { useEffect, useState } from "preact/hooks";
import * as api from "../api";
import { t } from "../i18n";
import { duration, safeHref } from "../util";
import type { VisitorsOnline, OnSite } from "../rest";
import type { StoreProps } from "./App";

const POLL_MS = 3000;

/** Visitors on the site (VISITOR_TRACKING): polled every few seconds while the tab is open.
 * Pages are the visitors' browsers' words: shown as text, a link only for http(s). */
export function VisitorsView({ store }: StoreProps) {
  const [data, setData] = useState<VisitorsOnline | null>(null);
  const [failed, setFailed] = useState(false);
  const [message, setMessage] = useState("");
  const [round, setRound] = useState(0);
  useEffect(() => {
    let stop = false;
    let timer = 0;
    const poll = async () => {
      try {
        const got = await api.get<VisitorsOnline>("/api/visitors/online");
        if (!stop) {
          setData(got);
          setFailed(false);
        }
      } catch {
        if (!stop) setFailed(true);
      }
      if (!stop) timer = window.setTimeout(poll, POLL_MS);
    };
    void poll();
    return () => {
      stop = true;
      clearTimeout(timer);
    };
  }, [round]);

  const invite = async (v: OnSite) => {
    try {
      await store.invite(v.visitor, message.trim());
      setRound(round + 1); // read the list again now: the row says "invited"
    } catch {
      /* shown as a toast */
    }
  };

  if (!data) {
    return <div class="live"><p class="muted pad" data-testid="visitors-loading">{failed ? t("conn.offline") : t("visitors.loading")}</p></div>;
  }
  if (!data.enabled) {
    return <div class="live"><p class="muted pad" data-testid="visitors-off">{t("visitors.off")}</p></div>;
  }
  return (
    <div class="live" data-testid="visitors">
      <div class="live-main">
        <section class="panel">
          <h2 class="pane-title">{t("visitors.title", { n: data.visitors.length })}</h2>
          <label class="invite-msg">
            {t("visitors.message")}
            <input type="text" maxLength={500} value={message} data-testid="invite-message"
              onInput={(e) => setMessage(e.currentTarget.value)} />
          </label>
          {data.visitors.length === 0 ? <p class="muted" data-testid="visitors-none">{t("visitors.none")}</p> : (
            <table class="grid" data-testid="visitors-table">
              <thead><tr>
                <th>{t("visitors.visitor")}</th><th>{t("visitors.page")}</th><th>{t("visitors.time")}</th>
                <th>{t("visitors.lang")}</th><th>{t("visitors.kind")}</th><th>{t("visitors.state")}</th><th />
              </tr></thead>
              <tbody>
                {data.visitors.map((v) => {
                  const href = safeHref(v.url);
                  const state = v.in_chat ? t("visitors.in_chat")
                    : v.invited ? t("visitors.invited")
                    : v.answer === "declined" ? t("visitors.declined")
                    : v.answer === "accepted" ? t("visitors.accepted") : "";
                  return (
                    <tr key={v.visitor} data-testid="visitor-row" data-visitor={v.visitor}>
                      <td><bdi>{v.name || t("visitor.anonymous")}</bdi></td>
                      <td data-testid="visitor-page">
                        {href ? <a href={href} target="_blank" rel="noopener noreferrer" class="ltr-text" title={v.url}>{v.title || v.url}</a>
                          : <span class="ltr-text" title={v.url}>{v.title || v.url}</span>}
                      </td>
                      <td class="num" data-testid="visitor-time">{duration(v.time_on_site_s)}</td>
                      <td data-testid="visitor-lang">{v.lang || "—"}</td>
                      <td data-testid="visitor-kind">{v.returning ? t("visitors.returning") : t("visitors.new")}</td>
                      <td data-testid="visitor-state">{state}</td>
                      <td>
                        <button data-testid="visitor-invite" disabled={v.in_chat || v.invited}
                          onClick={() => invite(v)}>{t("visitors.invite")}</button>
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          )}
        </section>
      </div>
    </div>
  );
}
