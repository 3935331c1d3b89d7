// Making an offer unmissable: a beep (Web Audio, no file to load), a browser notification
// when the agent allowed them, and the tab title blinking while the tab is hidden.
let audio = null;

/** Call from a user gesture (login, a click) so that browsers allow the sound later. */
export function unlockAudio() {
  try {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    if (!audio) audio = new Ctx();
    if (audio.state === "suspended") audio.resume().catch(() => {});
  } catch {
    audio = null;
  }
}

export function beep(times = 2) {
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

export function notificationsState() {
  if (!("Notification" in window)) return "unsupported";
  return Notification.permission;
}

export async function askNotifications() {
  if (!("Notification" in window)) return "unsupported";
  try {
    return await Notification.requestPermission();
  } catch {
    return Notification.permission;
  }
}

/** A system notification (text only); clicking it focuses the console. */
export function notify(title, body, tag) {
  if (notificationsState() !== "granted") return null;
  try {
    const n = new Notification(title, { body, tag, renotify: true, requireInteraction: true });
    n.onclick = () => {
      window.focus();
      n.close();
    };
    return n;
  } catch {
    return null;
  }
}

let blink = null;
let baseTitle = "";
export function blinkTitle(text) {
  if (blink) return;
  baseTitle = document.title;
  let on = false;
  blink = setInterval(() => {
    on = !on;
    document.title = on ? text : baseTitle;
  }, 900);
}

export function stopBlink() {
  if (!blink) return;
  clearInterval(blink);
  blink = null;
  document.title = baseTitle;
}
