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
}

/** GET /api/records/{id} (Record). */
export interface RecordDetail extends RecordSummary {
  messages: RecordMessage[];
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
