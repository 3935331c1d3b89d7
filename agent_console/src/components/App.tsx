import { useEffect, useState } from "preact/hooks";
import { LANGUAGES, getLang, onLanguage, setLang, t } from "../i18n";
import { Login } from "./Login";
import { Workspace } from "./Workspace";
import { LiveView } from "./Live";
import { Reports } from "./Reports";
import { Planning } from "./Planning";
import { Admin } from "./Admin";
import { Inbox } from "./Inbox";
import { Archive } from "./Archive";
import { VisitorsView } from "./Visitors";
import { OfferBar } from "./Offers";
import { NoticeBar } from "./Notices";
import { Header } from "./Header";
import { Shortcuts, useShortcuts } from "./Shortcuts";
import { useAutoAway } from "./autoaway";
import type { Store } from "../store";

/** The props of a screen that reads and changes the store. */
export interface StoreProps {
  store: Store;
}

/** A tab of the top bar: [key, label]. */
export type TabEntry = [string, string];

/** Re-render whenever the store or the language changes. */
function useStore(store: Store): void {
  const [, setTick] = useState(0);
  useEffect(() => {
    const bump = () => setTick((n) => n + 1);
    const offStore = store.subscribe(bump);
    const offLang = onLanguage(bump);
    return () => {
      offStore();
      offLang();
    };
  }, [store]);
}

/** A 1 s tick for countdowns and waiting times. */
export function useClock(ms = 1000) {
  const [, setNow] = useState(0);
  useEffect(() => {
    const id = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(id);
  }, [ms]);
}

export function LanguagePicker() {
  return (
    <select
      class="lang"
      data-testid="lang"
      aria-label={t("lang.label")}
      value={getLang()}
      onChange={(e) => setLang(e.currentTarget.value)}
    >
      {LANGUAGES.map((l) => (
        <option key={l.code} value={l.code}>{l.name}</option>
      ))}
    </select>
  );
}

export function App({ store }: StoreProps) {
  useStore(store);
  const [tab, setTab] = useState("chats");
  const [help, setHelp] = useState(false);
  useShortcuts(store, { setTab, setHelp });
  useAutoAway(store);

  if (!store.me) return <Login store={store} />;

  const tabs: TabEntry[] = [["chats", t("tab.chats")], ["inbox", t("tab.inbox")], ["archive", t("tab.archive")], ["visitors", t("tab.visitors")]];
  if (store.isSupervisor) tabs.push(["live", t("tab.live")], ["reports", t("tab.reports")], ["planning", t("tab.planning")]);
  if (store.isAdmin) tabs.push(["admin", t("tab.admin")]);
  const current = tabs.some(([k]) => k === tab) ? tab : "chats";

  return (
    <div class="shell" data-role={store.me.role}>
      <Header store={store} tabs={tabs} tab={current} setTab={setTab} onHelp={() => setHelp(true)} />
      <OfferBar store={store} />
      <NoticeBar store={store} />
      <main class="main">
        {current === "chats" && <Workspace store={store} />}
        {current === "inbox" && <Inbox store={store} />}
        {current === "archive" && <Archive store={store} />}
        {current === "visitors" && <VisitorsView store={store} />}
        {current === "live" && <LiveView store={store} />}
        {current === "reports" && <Reports store={store} />}
        {current === "planning" && <Planning />}
        {current === "admin" && <Admin store={store} />}
      </main>
      <div class="toasts" role="status" aria-live="polite">
        {store.toasts.map((x) => (
          <div key={x.id} class={`toast toast-${x.kind}`} data-testid="toast">{x.text}</div>
        ))}
      </div>
      {help && <Shortcuts onClose={() => setHelp(false)} />}
    </div>
  );
}
