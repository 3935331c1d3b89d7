import { useState } from "preact/hooks";
import { NoticeForm } from "./Notices";
import { fmtNum, t } from "../i18n";
import { duration, pct, secs } from "../util";
import { useClock } from "./App";
import { Composer } from "./Composer";
import { CloseDialog, TransferDialog } from "./Dialogs";
import { Transcript } from "./Workspace";
import type { ComponentChildren } from "preact";
import type { StoreProps } from "./App";
import type { Chat, Store } from "../store";
import type { LiveToday } from "../../../clients/protocol";

function Card({ label, value, testid, warn }: { label: string; value: ComponentChildren; testid?: string; warn?: boolean }) {
  return (
    <div class={`figure${warn ? " warn" : ""}`}>
      <div class="figure-value" data-testid={testid}><bdi>{value}</bdi></div>
      <div class="figure-label">{label}</div>
    </div>
  );
}

export function LiveView({ store }: StoreProps) {
  useClock(1000);
  const live = store.live;
  const watched = store.watching ? store.chats.get(store.watching) : null;
  if (!live) {
    return <div class="live"><p class="muted pad" data-testid="live-waiting">{t("live.waiting")}</p></div>;
  }
  const age = (Date.now() - store.liveAt) / 1000;
  const names = Object.fromEntries(live.agents.map((a) => [a.id, a.name]));
  const today: LiveToday = live.today || {};
  const now = store.now();
  const online = live.agents.filter((a) => a.status === "online" && !a.disabled).length;
  return (
    <div class={`live${watched ? " with-watch" : ""}`} data-testid="live">
      <div class="live-main">
        <NoticeForm store={store} />
        <div class="figures">
          <Card label={t("live.queued")} value={live.chats.queued} testid="live-queued" warn={live.chats.queued > 0} />
          <Card label={t("live.offered")} value={live.chats.offered} testid="live-offered" />
          <Card label={t("live.active")} value={live.chats.active} testid="live-active" />
          <Card label={t("live.agents_online")} value={online} testid="live-online" />
          <Card label={t("metric.service_level")} value={pct(today.service_level)} testid="live-sl" />
          <Card label={t("metric.asa")} value={secs(today.avg_speed_of_answer_s)} testid="live-asa" />
          <Card label={t("metric.abandon_rate")} value={pct(today.abandon_rate)} testid="live-abandon" />
          <Card label={t("live.answered_today")} value={today.answered ?? "—"} />
        </div>
        {age > 10 && <p class="notice">{t("live.stale", { s: fmtNum(age, 0) })}</p>}

        <section class="panel">
          <h2 class="pane-title">{t("live.queues")}</h2>
          <table class="grid" data-testid="queues">
            <thead><tr><th>{t("live.topic")}</th><th>{t("live.waiting_count")}</th><th>{t("live.longest")}</th><th>{t("live.eta")}</th></tr></thead>
            <tbody>
              {live.queues.map((q) => (
                <tr key={q.topic} data-testid="queue-row" data-topic={q.topic}>
                  <td><bdi>{q.topic}</bdi></td>
                  <td class={`num${q.waiting ? " hot" : ""}`} data-testid="queue-waiting">{q.waiting}</td>
                  <td class="num">{q.waiting ? duration(q.longest_wait_s + age) : "—"}</td>
                  <td class="num">{q.eta_s !== undefined && q.eta_s !== null ? duration(q.eta_s) : "—"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>

        <section class="panel">
          <h2 class="pane-title">{t("live.agents")}</h2>
          <table class="grid" data-testid="agents">
            <thead><tr><th>{t("live.agent")}</th><th>{t("live.status")}</th><th>{t("live.load")}</th><th>{t("live.in_status")}</th></tr></thead>
            <tbody>
              {live.agents.map((a) => (
                <tr key={a.id} data-testid="agent-row" data-agent={a.id} class={a.disabled ? "disabled" : ""}>
                  <td><bdi>{a.name}</bdi> <span class="muted small">{t(`role.${a.role}`, {}, a.role)}</span></td>
                  <td><span class={`dot dot-${a.disabled ? "disabled" : a.status}`} /> <span data-testid="agent-status">{a.disabled ? t("admin.disabled") : t(`status.${a.status}`, {}, a.status)}</span></td>
                  <td>
                    <span class="load" data-testid="agent-load">{a.load}/{a.capacity}</span>
                    <span class="bar"><span style={{ width: `${a.capacity ? Math.min(100, (100 * a.load) / a.capacity) : 0}%` }} /></span>
                  </td>
                  <td class="num">{duration(a.in_status_s + age)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>

        <section class="panel">
          <h2 class="pane-title">{t("live.chats")}</h2>
          {!live.active.length && <p class="muted">{t("live.no_chats")}</p>}
          {live.active.length > 0 && (
            <table class="grid" data-testid="active-chats">
              <thead><tr><th>{t("live.visitor")}</th><th>{t("live.topic")}</th><th>{t("live.state")}</th><th>{t("live.agent")}</th><th>{t("live.duration")}</th><th>{t("live.waiting_reply")}</th><th /></tr></thead>
              <tbody>
                {live.active.map((c) => (
                  <tr key={c.id} data-testid="active-row" data-chat={c.id} class={store.watching === c.id ? "selected" : ""}>
                    <td><bdi data-testid="active-visitor">{c.visitor_name || t("visitor.anonymous")}</bdi></td>
                    <td><bdi>{c.topic}</bdi></td>
                    <td>{t(`state.${c.state}`, {}, c.state)}</td>
                    <td>{c.agent ? <bdi>{names[c.agent] || c.agent}</bdi> : "—"}</td>
                    <td class="num">{duration((now - c.created) / 1000)}</td>
                    <td class="num">{c.waiting_for_reply && c.last_message_at
                      ? <span class={now - c.last_message_at > 60000 ? "late" : ""}>{duration((now - c.last_message_at) / 1000)}</span> : "—"}</td>
                    <td><button data-testid="watch" onClick={() => store.watch(c.id).catch(() => {})}>{t("live.open")}</button></td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
      </div>
      {watched && <WatchPane key={watched.id} store={store} chat={watched} names={names} />}
    </div>
  );
}

function WatchPane({ store, chat, names }: { store: Store; chat: Chat; names: Record<string, string> }) {
  const [dialog, setDialog] = useState<string | null>(null);
  const [mode, setMode] = useState("whisper");
  const agentId = chat.info.agent && ((chat.info.agent.id || chat.info.agent) as string);
  const joined = chat.mode === "joined";
  const ended = !!chat.ended || !["queued", "offered", "active"].includes(chat.state);
  return (
    <aside class="watch chat" data-testid="watch-pane" data-chat={chat.id}>
      <div class="chat-head">
        <div class="chat-title">
          <bdi class="name">{chat.visitorName || t("visitor.anonymous")}</bdi>
          <span class="muted">
            {t(`state.${chat.state}`, {}, chat.state)} · <bdi>{chat.info.topic}</bdi>
            {agentId ? <> · {t("live.agent")}: <bdi>{names[agentId] || agentId}</bdi></> : null}
          </span>
          <span class="pill">{joined ? t("watch.joined") : t("watch.readonly")}</span>
        </div>
        <button class="ghost" data-testid="unwatch" aria-label={t("watch.stop")} onClick={() => store.dismiss(chat.id)}>✕</button>
      </div>
      {!ended && (
        <div class="chat-actions wrap">
          {!joined && <button data-testid="join" onClick={() => store.join(chat.id).then(() => setMode("message")).catch(() => {})}>{t("watch.join")}</button>}
          <button data-testid="reassign" onClick={() => setDialog("transfer")}>{t("watch.reassign")}</button>
          <button data-testid="sup-close" class="danger" onClick={() => setDialog("close")}>{t("chat.close")}</button>
        </div>
      )}
      <Transcript store={store} chat={chat} showRead={false} />
      {ended ? <p class="notice" data-testid="watch-ended">{t("chat.ended")}</p> : (
        <>
          {joined && (
            <div class="seg">
              <label><input type="radio" checked={mode === "whisper"} onChange={() => setMode("whisper")} /> {t("watch.mode_whisper")}</label>
              <label><input type="radio" data-testid="mode-message" checked={mode === "message"} onChange={() => setMode("message")} /> {t("watch.mode_message")}</label>
            </div>
          )}
          <Composer key={mode} store={store} chat={chat} whisper={mode === "whisper"}
            placeholder={mode === "whisper" ? t("composer.whisper") : undefined} />
        </>
      )}
      {dialog === "transfer" && <TransferDialog store={store} chat={chat} onClose={() => setDialog(null)} />}
      {dialog === "close" && <CloseDialog store={store} chat={chat} onClose={() => setDialog(null)} />}
    </aside>
  );
}
