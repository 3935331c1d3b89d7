// Making an offer unmissable: a beep (Web Audio, no file to load), a browser notification
// when the agent allowed them, and the tab title blinking while the tab is hidden.
let audio: AudioContext | null = null;

declare global {
  interface Window {
    webkitAudioContext?: typeof AudioContext;
  }
}

/** Call from a user gesture (login, a click) so that browsers allow the sound later. */
export function unlockAudio(): void {
  try {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    if (!audio) audio = new Ctx();
    if (audio.state === "suspended") audio.resume().catch(() => {});
  } catch {
    audio = null;
  }
}

export function beep(times = 2): void {
  try {
    if (!audio) unlockAudio();
    if (!audio) return;
    const start = audio.currentTime + 0.01;
    for (let i = 0; i < times; i++) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.type = "sine";
      osc.frequency.value = i % 2 ? 660 : 880;
      const t = start + i * 0.28;
      gain.gain.setValueAtTime(0.0001, t);
      gain.gain.exponentialRampToValueAtTime(0.25, t + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.22);
      osc.connect(gain).connect(audio.destination);
      osc.start(t);
      osc.stop(t + 0.25);
    }
  } catch {
    /* no sound on this browser */
  }
}

export type NotificationsState = NotificationPermission | "unsupported";

export function notificationsState(): NotificationsState {
  if (!("Notification" in window)) return "unsupported";
  return Notification.permission;
}

export async function askNotifications(): Promise<NotificationsState> {
  if (!("Notification" in window)) return "unsupported";
  try {
    return await Notification.requestPermission();
  } catch {
    return Notification.permission;
  }
}

/** A system notification (text only); clicking it focuses the console. */
export function notify(title: string, body: string, tag: string): Notification | null {
  if (notificationsState() !== "granted") return null;
  try {
    // renotify is not in TypeScript's DOM types yet
    const options = { body, tag, renotify: true, requireInteraction: true } as NotificationOptions;
    const n = new Notification(title, options);
    n.onclick = () => {
      window.focus();
      n.close();
    };
    return n;
  } catch {
    return null;
  }
}

let blink: ReturnType<typeof setInterval> | null = null;
let baseTitle = "";
export function blinkTitle(text: string): void {
  if (blink) return;
  baseTitle = document.title;
  let on = false;
  blink = setInterval(() => {
    on = !on;
    document.title = on ? text : baseTitle;
  }, 900);
}

export function stopBlink(): void {
  if (!blink) return;
  clearInterval(blink);
  blink = null;
  document.title = baseTitle;
}
