import { useState } from "preact/hooks";
import { t } from "../i18n";
import { askNotifications, notificationsState, unlockAudio } from "../alerts";
import { LanguagePicker } from "./App";
import { autoAwayMinutes, setAutoAwayMinutes } from "./autoaway";
import type { AgentStatus } from "../store";
import type { StoreProps, TabEntry } from "./App";

const STATUSES: AgentStatus[] = ["online", "away", "offline"];

interface HeaderProps extends StoreProps {
  tabs: TabEntry[];
  tab: string;
  setTab: (tab: string) => void;
  onHelp: () => void;
}

export function Header({ store, tabs, tab, setTab, onHelp }: HeaderProps) {
  const [menu, setMenu] = useState(false);
  const [perm, setPerm] = useState(notificationsState());
  const me = store.me!;
  const unread = [...store.chats.values()].reduce((n, c) => n + (c.mode === "mine" ? c.unread : 0), 0);

  return (
    <header class="topbar">
      <div class="brand">{t("app.title")}</div>
      <nav class="tabs" role="tablist">
        {tabs.map(([key, label]) => (
          <button key={key} role="tab" aria-selected={tab === key} class={tab === key ? "tab active" : "tab"}
            data-testid={`tab-${key}`} onClick={() => setTab(key)}>
            {label}
            {key === "chats" && unread > 0 && <span class="badge">{unread}</span>}
          </button>
        ))}
      </nav>
      <div class="spacer" />
      <span class={`conn conn-${store.conn}`} data-testid="conn" title={t(`conn.${store.conn}`)}>
        {store.conn === "open" ? "" : t(`conn.${store.conn}`)}
      </span>
      <label class="status-pick">
        <span class={`dot dot-${store.status}`} aria-hidden="true" />
        <select data-testid="status" aria-label={t("status.label")} value={store.status}
          onChange={(e) => { unlockAudio(); store.setStatus(e.currentTarget.value as AgentStatus).catch(() => {}); }}>
          {STATUSES.map((s) => <option key={s} value={s}>{t(`status.${s}`)}</option>)}
        </select>
      </label>
      <LanguagePicker />
      <div class="menu-wrap">
        <button class="ghost" aria-haspopup="true" aria-expanded={menu} data-testid="menu"
          onClick={() => setMenu(!menu)}>
          <span class="me-name">{me.name}</span> ▾
        </button>
        {menu && (
          <div class="menu card" onMouseLeave={() => setMenu(false)}>
            <div class="menu-who">
              <bdi>{me.name}</bdi> · {t(`role.${me.role}`)}
            </div>
            <label>
              {t("autoaway.label")}
              <select value={String(autoAwayMinutes())}
                onChange={(e) => { setAutoAwayMinutes(Number(e.currentTarget.value)); store.emit(); }}>
                {[0, 2, 5, 10, 15, 30].map((m) => (
                  <option key={m} value={String(m)}>{m ? t("autoaway.minutes", { n: m }) : t("autoaway.off")}</option>
                ))}
              </select>
            </label>
            {perm !== "granted" && perm !== "unsupported" && (
              <button onClick={async () => { unlockAudio(); setPerm(await askNotifications()); }}>
                {t("notify.enable")}
              </button>
            )}
            {perm === "granted" && <div class="muted">{t("notify.enabled")}</div>}
            <button onClick={() => { setMenu(false); onHelp(); }}>{t("shortcuts.title")}</button>
            <button data-testid="logout" class="danger" onClick={() => store.logout()}>{t("logout")}</button>
          </div>
        )}
      </div>
    </header>
  );
}
