// Optional auto-away: after N minutes without keyboard or pointer input the status goes
// from online to away; the next input brings it back online (only if we set it away).
import { useEffect } from "preact/hooks";
import type { Store } from "../store";

const KEY = "lc.autoaway";
let lastInput = Date.now();

export function autoAwayMinutes(): number {
  const v = Number(localStorage.getItem(KEY) || "0");
  return Number.isFinite(v) && v > 0 ? v : 0;
}

export function setAutoAwayMinutes(m: number): void {
  localStorage.setItem(KEY, String(m || 0));
}

export function useAutoAway(store: Store): void {
  useEffect(() => {
    const onInput = () => {
      lastInput = Date.now();
      if (store.autoAway && store.status === "away" && store.me) {
        store.autoAway = false;
        store.setStatus("online").catch(() => {});
      }
    };
    const events = ["keydown", "pointerdown", "mousemove", "wheel", "touchstart"];
    for (const e of events) window.addEventListener(e, onInput, { passive: true });
    const timer = setInterval(() => {
      const minutes = autoAwayMinutes();
      if (!minutes || !store.me || store.status !== "online") return;
      if (Date.now() - lastInput >= minutes * 60000) store.setStatus("away", true).catch(() => {});
    }, 10000);
    return () => {
      for (const e of events) window.removeEventListener(e, onInput);
      clearInterval(timer);
    };
  }, [store]);
}
