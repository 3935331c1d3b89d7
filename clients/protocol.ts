// The wire protocol's frames, generated from chatserver/protocol (its JSON Schema is
// clients/protocol.schema.json) by `make types`: do not edit.  docs/protocol.md describes
// every frame.

export interface Ping {
  type: "ping";
  rid?: string | null;
}

export interface Send {
  type: "msg";
  chat: string;
  cid: string;
  text: string;
  internal?: boolean;
  rid?: string | null;
}

export interface Typing {
  type: "typing";
  chat: string;
  on?: boolean;
  text?: string | null;
  rid?: string | null;
}

export interface Read {
  type: "read";
  chat: string;
  seq: number;
  rid?: string | null;
}

export interface Resume {
  type: "resume";
  chat: string;
  after: number;
  rid?: string | null;
}

export interface History {
  type: "history";
  chat: string;
  before?: number | null;
  limit?: number;
  rid?: string | null;
}

export interface Start {
  type: "start";
  topic?: string | null;
  name?: string | null;
  email?: string | null;
  page?: string | null;
  referrer?: string | null;
  locale?: string | null;
  fields?: Record<string, string>;
  rid?: string | null;
}

export interface Leave {
  type: "leave";
  chat: string;
  rid?: string | null;
}

/**
 * The post-chat survey: after the chat ended, 1-5, an optional comment and, when the
 * widget asks it (the `nps_question` widget setting), the optional "how likely are you
 * to recommend us?" answer, 0-10.
 */
export interface Rate {
  type: "rate";
  chat: string;
  rating: number;
  comment?: string;
  nps?: number | null;
  rid?: string | null;
}

/**
 * After the chat ended: "email me the transcript" (visitor-visible messages only).
 * Replied `ok` once queued; the e-mail goes out when the chat's record is written.
 */
export interface Transcript {
  type: "transcript";
  chat: string;
  email: string;
  rid?: string | null;
}

/** A message left when nobody can answer; becomes an interaction record. */
export interface Offline {
  type: "offline";
  email: string;
  text: string;
  name?: string | null;
  topic?: string | null;
  page?: string | null;
  locale?: string | null;
  notice?: string | null;
  rid?: string | null;
}

/**
 * Visitors on the site (`limits.visitor_tracking`): the visitor viewed a page (a page
 * load, or a navigation in a single-page site).  Refused with `tracking_off` when the
 * setting is off.
 */
export interface PageView {
  type: "page";
  url: string;
  title?: string;
  locale?: string | null;
  rid?: string | null;
}

/**
 * The visitor's answer to an `invite` frame.  Accepting does not start the chat: the
 * client then sends `start` as usual.
 */
export interface InviteAnswer {
  type: "invite_answer";
  invite: string;
  accept: boolean;
  rid?: string | null;
}

export interface Status {
  type: "status";
  status: "away" | "offline" | "online";
  rid?: string | null;
}

export interface Accept {
  type: "accept";
  chat: string;
  rid?: string | null;
}

export interface Decline {
  type: "decline";
  chat: string;
  rid?: string | null;
}

export interface Transfer {
  type: "transfer";
  chat: string;
  agent?: string | null;
  topic?: string | null;
  note?: string;
  rid?: string | null;
}

export interface Close {
  type: "close";
  chat: string;
  outcome?: string;
  tags?: string[];
  rid?: string | null;
}

/**
 * Replace a live chat's tags (its agent, or a supervisor): they stay with the chat
 * through transfers and end up in its record.
 */
export interface Tags {
  type: "tags";
  chat: string;
  tags?: string[];
  rid?: string | null;
}

/** Supervisors: follow a live chat read-only. */
export interface Watch {
  type: "watch";
  chat: string;
  rid?: string | null;
}

export interface Unwatch {
  type: "unwatch";
  chat: string;
  rid?: string | null;
}

/** Supervisors: join a live chat as a participant (the visitor sees them join). */
export interface Join {
  type: "join";
  chat: string;
  rid?: string | null;
}

/** Supervisors: a message to the chat's agent that the visitor never sees. */
export interface Whisper {
  type: "whisper";
  chat: string;
  cid: string;
  text: string;
  rid?: string | null;
}

/** Supervisors: ask for a snapshot of queues and agents. */
export interface Queues {
  type: "queues";
  rid?: string | null;
}

/**
 * Agents and supervisors: invite a visitor on the site to chat (`GET
 * /api/visitors/online` lists them).  The reply is `ok` with `invite` (its id); the
 * visitor's answer comes as an `invite_answer` frame.
 */
export interface Invite {
  type: "invite";
  visitor: string;
  text?: string;
  rid?: string | null;
}

/** Always the first frame of a connection. */
export interface Welcome {
  type: "welcome";
  protocol: number;
  role: "agent" | "visitor";
  limits: Limits;
  notices: NoticeView[];
  visitor?: string;
  token?: string;
  chat?: ChatView | null;
  resumed?: string;
  agents_available?: boolean;
  availability?: AvailabilityView;
  agent?: AgentView;
  chats?: ChatView[];
}

export interface Limits {
  max_frame_bytes: number;
  max_text_chars: number;
  messages_per_10s: number;
  typing_interval_s: number;
  typing_preview: boolean;
  typing_preview_chars: number;
  typing_preview_interval_s: number;
  heartbeat_s: number;
  visitor_tracking?: boolean;
  file_max_bytes?: number;
  file_types?: string[];
}

/** An outage notice in force (`by` is shown to agents only). */
export interface NoticeView {
  id: string;
  texts: Record<string, string>;
  topics: string[];
  created_at: number;
  expires_at: number | null;
  by?: string;
}

/** The chat object (docs/protocol.md 5.1). */
export interface ChatView {
  id: string;
  state: "abandoned" | "active" | "closed" | "missed" | "offered" | "offline" | "queued";
  topic: string;
  priority: number;
  agent: AgentRef | null;
  created: number;
  seq: number;
  read: Record<string, number>;
  position?: number;
  available?: boolean;
  eta_s?: number;
  visitor?: VisitorDetails;
  offer_expires?: number;
  tags?: string[];
  ended_by?: string;
  ended_by_name?: string;
  outcome?: string;
}

export interface AgentRef {
  id: string;
  name: string;
}

/** What the visitor gave in `start` (empty strings when not given); agent views only. */
export interface VisitorDetails {
  id: string;
  name: string;
  email: string;
  page: string;
  referrer: string;
  locale: string;
  user_agent: string;
  fields: Record<string, string>;
}

/** What a visitor is offered: business hours, and per topic whether an agent is on. */
export interface AvailabilityView {
  open: boolean;
  topics: Record<string, boolean>;
  agents_available: boolean;
}

/** An agent as the agent endpoint's `welcome` shows it. */
export interface AgentView {
  id: string;
  name: string;
  role: "admin" | "agent" | "supervisor";
  capacity: number;
  skills: Record<string, number>;
  status: "away" | "offline" | "online";
  disabled: boolean;
}

/** A chat's state, as the reply to `start`/`resume`/`watch` or when it changed. */
export interface ChatChanged {
  type: "chat";
  chat: ChatView;
  rid?: string;
}

export interface QueuePosition {
  type: "queue";
  chat: string;
  position: number;
  available: boolean;
  eta_s?: number;
}

export interface Offer {
  type: "offer";
  chat: ChatView;
}

export interface Assigned {
  type: "assigned";
  chat: ChatView;
}

export interface Revoked {
  type: "revoked";
  chat: string;
  reason: "decline" | "lapse" | "requeue" | "transfer" | "transfer_queue";
}

export interface Ended {
  type: "ended";
  chat: string;
  by: string;
}

export interface StatusChanged {
  type: "status";
  status: "away" | "offline" | "online";
}

/** A stored chat message: live, in replays and in `history`. */
export interface Message {
  type: "msg";
  chat: string;
  seq: number;
  cid: string;
  text: string;
  kind: "message" | "note" | "system" | "whisper";
  internal: boolean;
  ts: number;
  from: Sender;
  file?: FileRef;
}

/** Who wrote a message or is typing (supervisors are agents). */
export interface Sender {
  role: "agent" | "visitor";
  id: string;
  name: string;
}

/**
 * An attachment on a `msg`: fetch it through `POST /api/chats/{chat}/files/{id}/link`
 * (docs/files.md).  `type` is sniffed from the content; images (`image/*`) may be
 * shown inline.
 */
export interface FileRef {
  id: string;
  name: string;
  size: number;
  type: string;
}

export interface Ack {
  type: "ack";
  chat: string;
  cid: string;
  seq: number;
  dup: boolean;
  rid?: string;
}

export interface TypingEvent {
  type: "typing";
  chat: string;
  from: Sender;
  on: boolean;
  text?: string;
}

export interface ReadReceipt {
  type: "read";
  chat: string;
  by: Reader;
  seq: number;
}

export interface Reader {
  role: "agent" | "visitor";
  id: string;
}

export interface Resync {
  type: "resync";
  chat: string;
  after: number;
}

export interface HistoryPage {
  type: "history";
  chat: string;
  msgs: Message[];
  complete: boolean;
  trimmed: boolean;
  rid?: string;
}

export interface QueuesSnapshot {
  type: "queues";
  queues: QueueSummary[];
  agents: AgentLoad[];
  rid?: string;
}

export interface QueueSummary {
  topic: string;
  waiting: number;
  longest_wait_s: number;
  eta_s: number;
}

/** An agent in the supervisors' `queues` snapshot. */
export interface AgentLoad {
  id: string;
  name: string;
  role: "admin" | "agent" | "supervisor";
  capacity: number;
  skills: Record<string, number>;
  status: "away" | "offline" | "online";
  disabled: boolean;
  load: number;
}

export interface Ok {
  type: "ok";
  chat?: string;
  invite?: string;
  status?: "away" | "offline" | "online";
  tags?: string[];
  rid?: string;
}

export interface Pong {
  type: "pong";
  ts: number;
  rid?: string;
}

export interface ErrorFrame {
  type: "error";
  code: ErrorCode;
  message: string;
  rid?: string;
  chat?: string;
  cid?: string;
  retry_ms?: number;
  topics?: string[];
  fields?: string[];
  offline?: boolean;
  notice?: string;
}

export type ErrorCode = "agent_unavailable" | "bad_email" | "bad_frame" | "chat_open" | "forbidden" | "in_chat" | "internal" | "invalid_state" | "mail_not_configured" | "missing_fields" | "not_found" | "not_on_site" | "outside_hours" | "overloaded" | "rate_limited" | "too_large" | "too_many" | "tracking_off" | "unknown_tag" | "unknown_topic";

/** Supervisors: pushed every `LIVE_METRICS_INTERVAL_S`. */
export interface LiveFigures {
  type: "live";
  ts: number;
  queues: QueueSummary[];
  agents: LiveAgent[];
  chats: Record<string, number>;
  active: LiveChat[];
  today: LiveToday;
}

export interface LiveAgent {
  id: string;
  name: string;
  role: "admin" | "agent" | "supervisor";
  status: "away" | "offline" | "online";
  load: number;
  capacity: number;
  disabled: boolean;
  available: boolean;
  in_status_s: number;
}

export interface LiveChat {
  id: string;
  state: "abandoned" | "active" | "closed" | "missed" | "offered" | "offline" | "queued";
  topic: string;
  agent: string | null;
  visitor_name: string;
  created: number;
  accepted: number | null;
  last_message_at: number | null;
  waiting_for_reply: boolean;
  messages: number;
}

/** Today's figures from the interaction records; every field absent without records. */
export interface LiveToday {
  offered?: number;
  answered?: number;
  service_level?: number | null;
  service_level_target_s?: number;
  avg_speed_of_answer_s?: number | null;
  abandon_rate?: number | null;
}

export interface AvailabilityChanged {
  type: "availability";
  open: boolean;
  topics: Record<string, boolean>;
  agents_available: boolean;
}

export interface Notice {
  type: "notice";
  id: string;
  texts: Record<string, string>;
  topics: string[];
  created_at: number;
  expires_at: number | null;
  by?: string;
}

export interface NoticeEnd {
  type: "notice_end";
  id: string;
}

/** Visitors: an agent invites them to chat (answer with `invite_answer`). */
export interface Invitation {
  type: "invite";
  id: string;
  agent: string;
  text: string;
}

/** Agents: the visitor answered their invitation. */
export interface InviteAnswered {
  type: "invite_answer";
  invite: string;
  visitor: string;
  accepted: boolean;
}

export type ClientFrame =
  | Ping
  | Send
  | Typing
  | Read
  | Resume
  | History
  | Start
  | Leave
  | Rate
  | Transcript
  | Offline
  | PageView
  | InviteAnswer
  | Status
  | Accept
  | Decline
  | Transfer
  | Close
  | Tags
  | Watch
  | Unwatch
  | Join
  | Whisper
  | Queues
  | Invite;

export type ServerFrame =
  | Welcome
  | ChatChanged
  | QueuePosition
  | Offer
  | Assigned
  | Revoked
  | Ended
  | StatusChanged
  | Message
  | Ack
  | TypingEvent
  | ReadReceipt
  | Resync
  | HistoryPage
  | QueuesSnapshot
  | Ok
  | Pong
  | ErrorFrame
  | LiveFigures
  | AvailabilityChanged
  | Notice
  | NoticeEnd
  | Invitation
  | InviteAnswered;

/** The server frame of one `type`, e.g. `FrameOf<"msg">`. */
export type FrameOf<T extends ServerFrame["type"]> = Extract<ServerFrame, { type: T }>;

/** The client frame of one `type`, e.g. `ClientFrameOf<"start">`. */
export type ClientFrameOf<T extends ClientFrame["type"]> = Extract<ClientFrame, { type: T }>;
