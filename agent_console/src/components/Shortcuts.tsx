import { useEffect } from "preact/hooks";
import { t } from "../i18n";
import { Modal } from "./Dialogs";
import { myChats } from "./Workspace";
import type { Store } from "../store";

export const SHORTCUTS = [
  ["Alt+A", "shortcut.accept"],
  ["Alt+D", "shortcut.decline"],
  ["Alt+1 … Alt+9", "shortcut.switch"],
  ["Alt+↓ / Alt+↑", "shortcut.next"],
  ["Alt+M", "shortcut.focus"],
  ["Enter", "shortcut.send"],
  ["Shift+Enter", "shortcut.newline"],
  ["/", "shortcut.canned"],
  ["Alt+K", "shortcut.canned_search"],
  ["Alt+N", "shortcut.note"],
  ["Alt+T", "shortcut.transfer"],
  ["Alt+C", "shortcut.close"],
  ["Alt+S", "shortcut.status"],
  ["Esc", "shortcut.escape"],
  ["?", "shortcut.help"],
];

const fire = (name: string, detail?: string) => window.dispatchEvent(new CustomEvent(name, { detail }));

/** Keyboard shortcuts.  Letters are matched by key position (e.code), so they work with
 * Arabic and Ukrainian keyboard layouts too. */
interface ShortcutTargets {
  setTab: (tab: string) => void;
  setHelp: (open: boolean) => void;
}

export function useShortcuts(store: Store, { setTab, setHelp }: ShortcutTargets): void {
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (!store.me) return;
      const typing = /^(INPUT|TEXTAREA|SELECT)$/.test((e.target as Element).tagName || "");
      if (!e.altKey) {
        if (e.key === "?" && !typing) {
          e.preventDefault();
          setHelp(true);
        }
        return;
      }
      const chats = myChats(store);
      const offer = store.offers[0];
      const index = chats.findIndex((c) => c.id === store.selected);
      let handled = true;
      if (e.code === "KeyA" && offer) store.accept(offer.id).then(() => setTab("chats")).catch(() => {});
      else if (e.code === "KeyD" && offer) store.decline(offer.id).catch(() => {});
      else if (/^Digit[1-9]$/.test(e.code)) {
        const c = chats[Number(e.code.slice(5)) - 1];
        if (c) {
          setTab("chats");
          store.select(c.id);
        }
      } else if (e.code === "ArrowDown" || e.code === "ArrowUp") {
        if (chats.length) {
          const step = e.code === "ArrowDown" ? 1 : -1;
          const next = chats[(index + step + chats.length) % chats.length];
          setTab("chats");
          store.select(next.id);
        }
      } else if (e.code === "KeyM") fire("lc-focus-composer");
      else if (e.code === "KeyN") fire("lc-toggle-note");
      else if (e.code === "KeyK") fire("lc-canned");
      else if (e.code === "KeyT") fire("lc-dialog", "transfer");
      else if (e.code === "KeyC") fire("lc-dialog", "close");
      else if (e.code === "KeyS") store.setStatus(store.status === "online" ? "away" : "online").catch(() => {});
      else handled = false;
      if (handled) e.preventDefault();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [store]);
}

export function Shortcuts({ onClose }: { onClose: () => void }) {
  return (
    <Modal title={t("shortcuts.title")} onClose={onClose} testid="shortcuts">
      <table class="grid">
        <tbody>
          {SHORTCUTS.map(([keys, label]) => (
            <tr key={keys}><td><kbd>{keys}</kbd></td><td>{t(label)}</td></tr>
          ))}
        </tbody>
      </table>
      <div class="buttons"><button onClick={onClose}>{t("close")}</button></div>
    </Modal>
  );
}
