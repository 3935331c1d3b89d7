"""Every Redis key and pub/sub channel name the product uses, built in this one module.

Hash tags keep related keys in one Redis Cluster slot:

- ``{rt}``        all routing state of the site (agents, presence, queues, chat states,
                  timers, the routing event log, the outbox).  Routing scripts touch only
                  this slot, so they run unchanged on a cluster.
- ``{c:<chat>}``  one chat's message log, dedup map and sequence counter.  The message
                  script touches only this slot.
- ``{rl}``        rate-limit counters.

Nothing builds a key name anywhere else, and Lua scripts receive every key in KEYS.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Keys:
    prefix: str = "lc"

    # ---- routing slot ------------------------------------------------------------------
    @property
    def _rt(self) -> str:
        return f"{self.prefix}:{{rt}}"

    def agent(self, agent_id: str) -> str:
        """Hash: name, role, pw, ver, capacity, status, disabled, idle_since, status_at."""
        return f"{self._rt}:agent:{agent_id}"

    def agent_skills(self, agent_id: str) -> str:
        """Hash: skill -> proficiency (1-10)."""
        return f"{self._rt}:agent:{agent_id}:skills"

    def agent_chats(self, agent_id: str) -> str:
        """Set of chat ids the agent holds (offered or active): its load."""
        return f"{self._rt}:agent:{agent_id}:chats"

    def agent_conns(self, agent_id: str) -> str:
        """Sorted set: connection id -> expiry (ms)."""
        return f"{self._rt}:agent:{agent_id}:conns"

    @property
    def agents(self) -> str:
        """Set of every agent id."""
        return f"{self._rt}:agents"

    @property
    def available(self) -> str:
        """Set of agents that are online, connected and enabled (capacity checked apart)."""
        return f"{self._rt}:available"

    @property
    def presence(self) -> str:
        """Sorted set: agent id -> latest connection expiry (ms); the sweeper's index."""
        return f"{self._rt}:presence"

    @property
    def graces(self) -> str:
        """Sorted set: agent id -> time (ms) their offline grace period ends."""
        return f"{self._rt}:graces"

    @property
    def agents_version(self) -> str:
        """Counter bumped whenever an agent's skills or capacity change (cache key)."""
        return f"{self._rt}:agents:ver"

    def chat(self, chat_id: str) -> str:
        """Hash: the chat's routing state (state, topic, skills, agent, timestamps ...)."""
        return f"{self._rt}:chat:{chat_id}"

    def chat_declined(self, chat_id: str) -> str:
        """Set of agents who declined or let lapse an offer of this chat."""
        return f"{self._rt}:chat:{chat_id}:declined"

    def chat_history(self, chat_id: str) -> str:
        """List of the chat's raw routing events, oldest first: ``kind|ms|agent|detail``
        (created, offer, assign, accept, decline, lapse, requeue, transfer_queue,
        transfer, relax, end), and ``handoff|ms|by|{json}`` after each transfer (the
        record's transfer trace).  Interaction records and their metrics are built from it."""
        return f"{self._rt}:chat:{chat_id}:history"

    def chat_watchers(self, chat_id: str) -> str:
        """Set of supervisors who joined the chat as participants."""
        return f"{self._rt}:chat:{chat_id}:joined"

    def queue(self, topic: str) -> str:
        """Sorted set: chat id -> queue score (priority band, then age)."""
        return f"{self._rt}:queue:{topic}"

    @property
    def topics(self) -> str:
        """Hash: topic -> JSON {required, optional, priority}."""
        return f"{self._rt}:topics"

    @property
    def offers(self) -> str:
        """Sorted set: chat id -> offer deadline (ms)."""
        return f"{self._rt}:offers"

    @property
    def relax(self) -> str:
        """Sorted set: queued chat id -> time (ms) its optional skills are dropped."""
        return f"{self._rt}:relax"

    @property
    def queue_deadlines(self) -> str:
        """Sorted set: queued chat id -> time (ms) it becomes missed."""
        return f"{self._rt}:queue_deadlines"

    @property
    def idle(self) -> str:
        """Sorted set: active chat id -> time (ms) it closes for inactivity."""
        return f"{self._rt}:idle"

    @property
    def released(self) -> str:
        """Sorted set: ``<chat>|<agent>`` -> time (ms) the sweeper checks that an agent
        an active chat was taken from no longer writes in its log (``core/released.py``)."""
        return f"{self._rt}:released"

    @property
    def live_chats(self) -> str:
        """Set of chats that are not finished (queued, offered or active)."""
        return f"{self._rt}:live"

    def visitor(self, visitor_id: str) -> str:
        """Hash: open chat id, created time."""
        return f"{self._rt}:visitor:{visitor_id}"

    @property
    def events(self) -> str:
        """Stream: routing event log (assign, release, state changes), capped."""
        return f"{self._rt}:events"

    @property
    def outbox(self) -> str:
        """Stream: finished chats waiting to become interaction records."""
        return f"{self._rt}:outbox"

    @property
    def status_log(self) -> str:
        """Stream: every agent status change (agent, status, ts), read into the records
        database for occupancy; entries are deleted once written."""
        return f"{self._rt}:status_log"

    @property
    def widget_settings(self) -> str:
        """JSON: the widget's settings (origins, languages, business hours ...)."""
        return f"{self._rt}:widget"

    @property
    def tag_list(self) -> str:
        """JSON: the tags agents may put on chats (an admin's list; FREE_TAGS allows
        any)."""
        return f"{self._rt}:tag_list"

    @property
    def canned(self) -> str:
        """Hash: canned answer id -> JSON {shortcut, text, language}."""
        return f"{self._rt}:canned"

    @property
    def drain_lease(self) -> str:
        """Held by the one drainer routing at this moment (``lua/drain_lease.lua``)."""
        return f"{self._rt}:drain_lease"

    @property
    def migrate_lock(self) -> str:
        """Held by the one process running database migrations."""
        return f"{self._rt}:migrate_lock"

    @property
    def epoch(self) -> str:
        """Counter bumped when the Redis server is seen to have restarted."""
        return f"{self._rt}:epoch"

    @property
    def run_id(self) -> str:
        """The Redis run id the epoch was last bumped for."""
        return f"{self._rt}:run_id"

    def visitor_conns(self, visitor_id: str) -> str:
        """Sorted set: the visitor's open sockets on every process, connection id -> expiry
        (ms); pushed on by each process's heartbeat (see ``core/presence.py``)."""
        return f"{self._rt}:visitor:{visitor_id}:conns"

    @property
    def visitor_presence(self) -> str:
        """Sorted set: visitor id -> latest connection expiry (ms); the sweeper's index."""
        return f"{self._rt}:visitor_presence"

    @property
    def visitor_gone(self) -> str:
        """Sorted set: visitor id -> time (ms) they count as gone (no connection for
        ``VISITOR_LEAVE_GRACE_S``): their chat then ends."""
        return f"{self._rt}:visitor_gone"

    @property
    def timers(self) -> str:
        """Hash: seen (last time any process ran the timers, ms), since (when they last
        resumed after not running for longer than ``PRESENCE_TTL_S``)."""
        return f"{self._rt}:timers"

    @property
    def notices(self) -> str:
        """Hash: notice id -> JSON {id, texts, topics, created_at, expires_at, by}: the
        outage notices in force (see ``core/notices.py``)."""
        return f"{self._rt}:notices"

    @property
    def notices_expiry(self) -> str:
        """Sorted set: notice id -> expiry (ms; +inf: until ended)."""
        return f"{self._rt}:notices:exp"

    def chat_notices(self, chat_id: str) -> str:
        """Set of the notice ids the chat's visitor was shown (for its record)."""
        return f"{self._rt}:chat:{chat_id}:notices"

    @property
    def handle_time(self) -> str:
        """Hash: topic -> moving average handle time (s), for wait estimates."""
        return f"{self._rt}:handle_time"

    # ---- chat slot -----------------------------------------------------------------------
    def chat_log(self, chat_id: str) -> str:
        """Stream: the chat's messages; entry id ``<seq>-0``; capped."""
        return f"{self.prefix}:{{c:{chat_id}}}:log"

    def chat_ids(self, chat_id: str) -> str:
        """Hash: client message id -> sequence number (dedup)."""
        return f"{self.prefix}:{{c:{chat_id}}}:ids"

    def chat_meta(self, chat_id: str) -> str:
        """Hash: seq (last sequence), epoch, read:<participant> -> last read sequence."""
        return f"{self.prefix}:{{c:{chat_id}}}:meta"

    # ---- rate limits -----------------------------------------------------------------------
    def rate(self, kind: str, subject: str, window: int) -> str:
        return f"{self.prefix}:{{rl}}:{kind}:{subject}:{window}"

    # ---- pub/sub channels (not keys; named here too so nothing else builds names) ---------
    # On a cluster they are sharded channels (``SPUBLISH``/``SSUBSCRIBE``), served by the
    # master of their slot.  A channel a script publishes on carries the hash tag of the
    # script's keys and is passed in KEYS (the chat and notice channels).  The others are
    # published from Python only: untagged, each in a slot of its own (spread over the
    # masters), with the names they always had (a rolling restart on one server mixes
    # processes of two versions, which must hear each other).
    @staticmethod
    def chat_of_channel(channel: str) -> str:
        """The chat id of a chat channel name (``<prefix>:{c:<chat>}:ch``)."""
        return channel[channel.index("{c:") + 3 : channel.rindex("}")]

    def chat_channel(self, chat_id: str) -> str:
        return f"{self.prefix}:{{c:{chat_id}}}:ch"

    def agent_channel(self, agent_id: str) -> str:
        return f"{self.prefix}:ch:agent:{agent_id}"

    def visitor_channel(self, visitor_id: str) -> str:
        return f"{self.prefix}:ch:visitor:{visitor_id}"

    @property
    def supervisor_channel(self) -> str:
        return f"{self.prefix}:ch:supervisors"

    @property
    def notice_channel(self) -> str:
        """Notices posted and ended (``notice`` / ``notice_end`` frames); hash-tagged so
        the notice scripts may publish to it."""
        return f"{self._rt}:ch:notices"

    @property
    def queue_channel(self) -> str:
        """Queue membership changed: processes refresh their waiting visitors' positions."""
        return f"{self.prefix}:ch:queues"
