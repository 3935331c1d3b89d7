// The REST replies the console reads, by hand: they mirror the msgspec models in
// chatserver/web/models.py (only the WebSocket frames are generated, in clients/protocol.ts).
// Only the fields the console uses are listed.

/** GET /api/records items (RecordSummary). */
export interface RecordSummary {
  chat_id: string;
  visitor_id: string;
  visitor_name: string;
  visitor_email: string;
  topic: string;
  end_state: string;
  outcome: string;
  tags: string[];
  rating: number | null;
  rating_comment: string;
  created_at: number;
  ended_at: number;
  agent_id: string | null;
  message_count: number;
}

/** GET /api/records?… (RecordPage). */
export interface RecordPage {
  items: RecordSummary[];
  next?: string | null;
}

/** A message of a stored transcript (RecordMessage). */
export interface RecordMessage {
  seq: number;
  at: number;
  sender_role: string;
  sender_id: string;
  sender_name: string;
  kind: string;
  internal: boolean;
  text: string;
  /** An attachment (docs/files.md); null for a text message. */
  file?: { id: string; name: string; size: number; type: string } | null;
}

/** A routing event of a stored chat (RecordEvent). */
export interface RecordEvent {
  idx: number;
  kind: string;
  at: number;
  agent_id: string;
  detail: string | null;
  result: string | null;
}

/** A span during which an agent held a stored chat (RecordAgent). */
export interface RecordAgent {
  agent_id: string;
  joined_at: number;
  left_at: number | null;
  left_reason: string | null;
}

/** GET /api/records/{id} (Record). */
export interface RecordDetail extends RecordSummary {
  messages: RecordMessage[];
  events?: RecordEvent[];
  agents?: RecordAgent[];
  page_url?: string;
  locale?: string;
  ended_by?: string;
  nps?: number | null;
}

/** GET /api/inbox items, and the reply of claim / reply (InboxItem). */
export interface InboxItem {
  chat_id: string;
  topic: string;
  status: string;
  visitor_name: string;
  visitor_email: string;
  text: string;
  created_at: number;
  claimed_by: string | null;
  reply: string | null;
  replied_at: number | null;
  replied_by: string | null;
}

/** A figure of a planning row (null: not computed, e.g. no simulation). */
type Figure = number | null;

/** A row of GET /api/planning: one hour of the week and one topic set. */
export interface PlanRow {
  hour: number;
  topic: string;
  label: string;
  topics: string[];
  skills: Record<string, number> | null;
  arrivals_per_hour: Figure;
  handle_s: Figure;
  erlang_agents: Figure;
  erlang_service_level: Figure;
  erlang_abandon_rate: Figure;
  sim_agents: Figure;
  sim_service_level: Figure;
  sim_abandon_rate: Figure;
  staffed: Figure;
}

/** A point of the planning curve: the service level with that many agents. */
export interface CurvePoint {
  agents: number;
  erlang_service_level: number;
  sim_service_level?: number | null;
}

export interface PlanGoal {
  service_level: number;
  target_s: number;
  max_abandon: number | null;
}

/** GET /api/planning. */
export interface Plan {
  from: number;
  to: number;
  goal: PlanGoal;
  concurrency: number;
  offers: { decline_rate: number | null; lapse_rate: number | null };
  curve: { topics: string[]; hour: number; points: CurvePoint[] } | null;
  rows: PlanRow[];
}

/** The figures of GET /api/metrics (Metrics): null where there is no sample. */
export type MetricKey = "offered" | "answered" | "abandoned" | "missed" | "abandon_rate" | "service_level"
  | "avg_speed_of_answer_s" | "wait_p90_s" | "avg_first_response_s" | "avg_handle_s" | "csat" | "avg_rating"
  | "nps" | "promoters" | "passives" | "detractors" | "occupancy" | "service_level_target_s"
  | "service_level_goal" | "nps_responses" | "offline_messages";

export type Metrics = Record<MetricKey, number | null> & { service_level_met?: boolean | null };

/** GET /api/metrics (MetricsOut): the whole period, or grouped. */
export interface MetricsOut {
  from: number;
  to: number;
  metrics: Metrics | null;
  group: string | null;
  groups: Record<string, Metrics> | null;
}

/** GET/PUT /api/widget/settings (the widget settings; WidgetSettingsPatch's fields). */
export interface WidgetSettings {
  allowed_origins: string[];
  languages: string[];
  default_language: string;
  business_hours: Record<string, { open: string; close: string }>;
  utc_offset_minutes: number;
  offline_message: Record<string, string>;
  prechat_fields: string[];
  required_fields: string[];
  color: string;
  title: Record<string, string>;
  nps_question?: boolean;
}

/** A visitor on the site (OnSiteOut): url and title are the visitor's browser's words. */
export interface OnSite {
  visitor: string;
  name: string;
  url: string;
  title: string;
  lang: string;
  first_seen: number;
  last_seen: number;
  time_on_site_s: number;
  pages: number;
  returning: boolean;
  in_chat: boolean;
  invited: boolean;
  answer: "accepted" | "declined" | null;
}

/** GET /api/visitors/online (VisitorsOnlineOut). */
export interface VisitorsOnline {
  enabled: boolean;
  visitors: OnSite[];
  max: number;
}
