import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { fmtTime, t } from "../i18n";
import { duration } from "../util";
import { useClock } from "./App";
import { Composer } from "./Composer";
import { FileView } from "./FileView";
import { CustomerPanel } from "./Customer";
import { CloseDialog, TagEditor, TransferDialog } from "./Dialogs";
import type { StoreProps } from "./App";
import type { Chat, ChatMsg, Store } from "../store";

export function myChats(store: Store): Chat[] {
  return [...store.chats.values()]
    .filter((c) => c.mode === "mine" && c.state !== "offered")
    .sort((a, b) => (a.info.created || 0) - (b.info.created || 0));
}

export function Workspace({ store }: StoreProps) {
  useClock(1000);
  const chats = myChats(store);
  const sel = store.selected ? store.chats.get(store.selected) : null;
  const shown = sel && sel.mode === "mine" && sel.state !== "offered" ? sel : null;
  return (
    <div class="workspace">
      <aside class="chatlist" aria-label={t("chats.title")}>
        <h2 class="pane-title">{t("chats.title")} <span class="muted">({chats.length})</span></h2>
        {!chats.length && <p class="muted pad">{t("chats.none")}</p>}
        <ul role="listbox" aria-label={t("chats.title")}>
          {chats.map((c, i) => <ChatItem key={c.id} store={store} chat={c} index={i} active={shown === c} />)}
        </ul>
      </aside>
      <section class="chatpane">
        {shown ? <ChatPane key={shown.id} store={store} chat={shown} /> : (
          <div class="empty">
            <p>{store.status === "online" ? t("chats.waiting") : t("chats.not_online")}</p>
          </div>
        )}
      </section>
      <aside class="customer" aria-label={t("customer.title")}>
        {shown && <CustomerPanel key={shown.id} store={store} chat={shown} />}
      </aside>
    </div>
  );
}

function ChatItem({ store, chat, index, active }: { store: Store; chat: Chat; index: number; active: boolean }) {
  const waiting = chat.waitingSince;
  const waitS = waiting ? (store.now() - waiting) / 1000 : 0;
  const last = chat.lastMessage;
  return (
    <li role="option" aria-selected={active} class={`chatitem${active ? " active" : ""}${chat.ended ? " ended" : ""}`}
      data-testid="chat-item" data-chat={chat.id} onClick={() => store.select(chat.id)}>
      <div class="row">
        <bdi class="name" data-testid="chat-name">{chat.visitorName || t("visitor.anonymous")}</bdi>
        {chat.unread > 0 && <span class="badge" data-testid="unread" aria-label={t("chats.unread", { n: chat.unread })}>{chat.unread}</span>}
      </div>
      <div class="row small">
        <span class="preview">
          {chat.typing ? <em>{t("chat.typing_short")}</em> : last ? <bdi>{last.text}</bdi> : <span class="muted">{chat.info.topic}</span>}
        </span>
      </div>
      <div class="row small">
        {chat.ended ? <span class="pill pill-ended">{t("chat.ended")}</span>
          : waiting ? (
            <span class={`wait${waitS > 60 ? " late" : ""}`} data-testid="waiting">
              {t("chats.waiting_reply", { time: duration(waitS) })}
            </span>
          ) : <span class="muted">{t("chats.answered")}</span>}
        {index < 9 && <kbd class="muted">Alt+{index + 1}</kbd>}
      </div>
    </li>
  );
}

function senderLabel(store: Store, m: ChatMsg): string {
  if (m.kind === "system") return "";
  if (m.from && store.me && m.from.role === "agent" && m.from.id === store.me.id) return t("chat.you");
  return (m.from && m.from.name) || (m.from && m.from.role === "visitor" ? t("visitor.anonymous") : "");
}

export function Transcript({ store, chat, showRead = true }: { store: Store; chat: Chat; showRead?: boolean }) {
  const ref = useRef<HTMLDivElement>(null);
  const stick = useRef(true);
  useLayoutEffect(() => {
    const el = ref.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  });
  const onScroll = () => {
    const el = ref.current!;
    stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
  };
  const typing = chat.typing && chat.typing.until > Date.now() ? chat.typing : null;
  return (
    <div class="transcript" ref={ref} onScroll={onScroll} data-testid="transcript" aria-live="polite">
      {chat.resynced && <div class="sys">{t("chat.resynced")}</div>}
      {chat.msgs.map((m) => {
        const mine = m.from && m.from.role === "agent";
        const cls = m.kind === "system" ? "msg sys" : `msg ${mine ? "out" : "in"} kind-${m.kind || "message"}`;
        if (m.kind === "system") {
          return (
            <div key={m.cid + (m.seq || "")} class="sys" data-testid="msg">
              <bdi>{m.from && m.from.name}</bdi> {m.text === "joined" ? t("chat.joined") : m.text === "transferred" ? t("chat.transferred") : <bdi>{m.text}</bdi>}
            </div>
          );
        }
        return (
          <div key={(m.seq || "l") + m.cid} class={cls} data-testid="msg" data-kind={m.kind} data-seq={m.seq || ""}>
            <div class="msg-head">
              <bdi class="who">{senderLabel(store, m)}</bdi>
              {m.kind === "note" && <span class="pill pill-note">{t("chat.note")}</span>}
              {m.kind === "whisper" && <span class="pill pill-whisper">{t("chat.whisper")}</span>}
              <span class="time">{fmtTime(m.ts)}</span>
            </div>
            {m.file && <FileView store={store} chatId={chat.id} file={m.file} />}
            {(m.text || !m.file) && <div class="text" dir="auto" data-testid="msg-text">{m.text}</div>}
            {mine && showRead && m.kind === "message" && (
              <div class="state">
                {m.failed ? (
                  <button class="link" onClick={() => store.retry(chat.id, m.cid)}>{t("chat.failed_retry")}</button>
                ) : m.local && m.pending ? t("chat.sending")
                  : !m.local && chat.peerRead >= m.seq ? <span data-testid="seen">{t("chat.seen")}</span> : t("chat.sent")}
              </div>
            )}
          </div>
        );
      })}
      {typing && (typing.text ? (
        <div class="typing typing-preview" data-testid="typing" aria-live="off">
          <span class="dots" aria-hidden="true"><i /><i /><i /></span>
          <span>
            {t("chat.typing_preview", { name: typing.name || t("visitor.anonymous") })}{" "}
            <bdi class="draft" dir="auto" data-testid="typing-preview">{typing.text}</bdi>
          </span>
        </div>
      ) : (
        <div class="typing" data-testid="typing">
          <span class="dots" aria-hidden="true"><i /><i /><i /></span>
          {t("chat.typing", { name: typing.name || t("visitor.anonymous") })}
        </div>
      ))}
    </div>
  );
}

function ChatPane({ store, chat }: { store: Store; chat: Chat }) {
  const [dialog, setDialog] = useState<string | null>(null);
  useEffect(() => {
    const open = (e: Event) => setDialog((e as CustomEvent<string>).detail);
    window.addEventListener("lc-dialog", open);
    return () => window.removeEventListener("lc-dialog", open);
  }, []);
  // read receipts: whatever is on screen while the tab is visible is read
  useEffect(() => {
    store.markRead(chat.id);
  }, [chat.lastSeq, chat.id]);
  useEffect(() => {
    const onVis = () => store.markRead(chat.id);
    document.addEventListener("visibilitychange", onVis);
    window.addEventListener("focus", onVis);
    return () => {
      document.removeEventListener("visibilitychange", onVis);
      window.removeEventListener("focus", onVis);
    };
  }, [chat.id]);
  const since = chat.info.accepted || chat.info.created;
  return (
    <div class="chat" data-testid="chat-pane" data-chat={chat.id}>
      <div class="chat-head">
        <div class="chat-title">
          <bdi class="name" data-testid="chat-title">{chat.visitorName || t("visitor.anonymous")}</bdi>
          <span class="muted">
            {t("chat.topic")}: <bdi>{chat.info.topic}</bdi>
            {since ? <> · {duration((store.now() - since) / 1000)}</> : null}
          </span>
        </div>
        {!chat.ended ? (
          <div class="chat-actions">
            <button data-testid="transfer" onClick={() => setDialog("transfer")}>{t("chat.transfer")} <kbd>Alt+T</kbd></button>
            <button data-testid="close-chat" class="danger" onClick={() => setDialog("close")}>{t("chat.close")} <kbd>Alt+C</kbd></button>
          </div>
        ) : (
          <div class="chat-actions">
            <span class="pill pill-ended" data-testid="ended">
              {chat.ended.by.startsWith("visitor") ? t("chat.visitor_left")
                : chat.ended.by === "system" ? t("chat.ended_system") : t("chat.ended")}
            </span>
            <button data-testid="dismiss" onClick={() => store.dismiss(chat.id)}>{t("chat.dismiss")}</button>
          </div>
        )}
      </div>
      {!chat.ended && <TagEditor chat={chat} store={store} />}
      <Transcript store={store} chat={chat} />
      {!chat.ended && <Composer store={store} chat={chat} />}
      {dialog === "transfer" && !chat.ended && <TransferDialog store={store} chat={chat} onClose={() => setDialog(null)} />}
      {dialog === "close" && !chat.ended && <CloseDialog store={store} chat={chat} onClose={() => setDialog(null)} />}
    </div>
  );
}
