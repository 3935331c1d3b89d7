"""The store's concepts as ``typing.Protocol``s: what the rest of the product (and the
contract suite in ``tests/store/``) may rely on, whatever keeps the state.

The Redis classes satisfy them structurally (checked by mypy at the bottom of this
module): ``RoutingStore`` is ``Chats``, ``Routing``, ``AgentPresence``, ``Timers`` and
``Outbox`` at once; ``VisitorStore`` is ``VisitorPresence``; ``MessageStore`` is
``Messages``; ``RateLimits``, ``Directory``, ``ConfigStore`` and ``NoticeStore`` are the
rest.  Another implementation (a cluster-backed one) must pass the same contract suite,
which is typed against these Protocols only.

Times are milliseconds; refusals are reason strings (``not_found``, ``invalid_state``,
``not_yours``, ``agent_full`` ...), never exceptions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from chatserver.core.lifecycle import ChatEvent
from chatserver.core.notices import Notice
from chatserver.core.routing import Assignment

if TYPE_CHECKING:
    from chatserver.store.chat_state import ChatRecord, Created, OfferHint, Outcome
    from chatserver.store.config import Canned, WidgetSettings
    from chatserver.store.directory import Agent, Role, Topic
    from chatserver.store.messages import LogEntry, PostResult
    from chatserver.store.snapshot import Snapshot


class Chats(Protocol):
    """A chat's life: created (queued), ended once, tagged, rated; one open chat per
    visitor; its history of routing events."""

    async def create_chat(
        self,
        chat_id: str,
        visitor_id: str,
        topic: Topic,
        details: Mapping[str, Any],
        now_ms: int,
        visitor_name: str = "",
    ) -> Created:
        """Created (with the chat's hash and queue place) or, when the visitor has an open
        chat, not created with its id."""
        ...

    async def get_chat(self, chat_id: str) -> ChatRecord | None: ...

    async def visitor_open_chat(self, visitor_id: str) -> str | None: ...

    async def end_chat(
        self,
        chat_id: str,
        event: ChatEvent,
        now_ms: int,
        *,
        by: str,
        outcome: str = "",
        tags: Sequence[str] = (),
        required_agent: str = "",
        if_visitor_gone: bool = False,
        closer_name: str = "",
    ) -> Outcome:
        """CLOSE, ABANDON or MISS; frees the holder's capacity and hands the chat to the
        outbox in the same step."""
        ...

    async def set_tags(self, chat_id: str, tags: Sequence[str], *, required_agent: str) -> str: ...

    async def create_offline(
        self,
        chat_id: str,
        visitor_id: str,
        topic: str,
        details: Mapping[str, Any],
        now_ms: int,
        *,
        notice: str = "",
        notice_ttl_s: int = 0,
    ) -> bool: ...

    async def rate(
        self,
        chat_id: str,
        visitor_id: str,
        rating: int,
        comment: str,
        now_ms: int,
        nps: int | None = None,
    ) -> str: ...

    async def request_transcript(
        self, chat_id: str, visitor_id: str, email: str, now_ms: int
    ) -> str: ...

    async def history(self, chat_id: str) -> list[str]: ...


class Routing(Protocol):
    """Queues and offers: a routing pass reads a snapshot and commits a plan, which is
    re-checked (capacity is never exceeded); offers are accepted, declined or lapse;
    chats move between agents and queues."""

    async def snapshot(self, topics: Iterable[str], window: int | None = None) -> Snapshot: ...

    async def commit(
        self,
        plan: Sequence[Assignment],
        topics_of: Mapping[str, str],
        now_ms: int,
        chats: dict[str, dict[Any, Any]] | None = None,
    ) -> list[tuple[Assignment, str]]: ...

    async def accept(self, chat_id: str, agent_id: str, now_ms: int) -> Outcome: ...

    async def requeue(
        self,
        chat_id: str,
        event: ChatEvent,
        now_ms: int,
        *,
        expected_agent: str = "",
        new_topic: Topic | None = None,
        by: str = "",
        note: str = "",
        offered: OfferHint | None = None,
    ) -> Outcome: ...

    async def transfer_to_agent(
        self,
        chat_id: str,
        to_agent: str,
        now_ms: int,
        *,
        expected_agent: str = "",
        by: str = "",
        note: str = "",
    ) -> Outcome: ...

    async def relax(self, chat_id: str, now_ms: int) -> bool: ...

    async def queue_position(self, topic: str, chat_id: str) -> int | None: ...

    async def queue_summary(self, topics: Iterable[str], now_ms: int) -> list[dict[str, Any]]: ...

    async def agent_chat_ids(self, agent_id: str) -> list[str]: ...

    async def events(self, count: int = 100_000) -> list[dict[str, str]]: ...


class AgentPresence(Protocol):
    """Agents' console connections, status and availability."""

    async def agent_connect(self, agent_id: str, conn_id: str, now_ms: int) -> tuple[str, bool]: ...

    async def agent_disconnect(self, agent_id: str, conn_id: str, now_ms: int) -> int: ...

    async def heartbeat(self, conns: Mapping[str, Sequence[str]], now_ms: int) -> bool: ...

    async def set_status(
        self, agent_id: str, status: str, now_ms: int, *, announce: bool = True
    ) -> tuple[str, bool]: ...

    async def sweep_agent(self, agent_id: str, now_ms: int, grace_due: bool) -> str: ...


class VisitorPresence(Protocol):
    """Visitors' sockets on every process and their gone marks (core/presence.py)."""

    async def connect(self, visitor_id: str, conn_id: str, now_ms: int) -> int: ...

    async def disconnect(self, visitor_id: str, conn_id: str, now_ms: int) -> int: ...

    async def heartbeat(self, conns: Mapping[str, Sequence[str]], now_ms: int) -> None: ...

    async def sweep(self, visitor_id: str, now_ms: int) -> str: ...

    async def due_sweeps(self, now_ms: int, limit: int = 200) -> list[str]: ...

    async def due_gone(self, now_ms: int, limit: int = 500) -> list[tuple[str, int]]: ...

    async def clear_gone(self, visitor_id: str, due_ms: int) -> bool: ...

    async def timers_tick(self, now_ms: int) -> int: ...


class Timers(Protocol):
    """What is due: offers, relaxations, misses, idle chats, presence, graces."""

    async def due(self, now_ms: int, limit: int = 200) -> dict[str, list[str]]: ...

    async def reschedule_idle(self, chat_id: str, at_ms: int) -> None: ...

    async def due_released(self, now_ms: int, limit: int = 200) -> list[tuple[str, str]]: ...

    async def released_done(self, note: str, due: str) -> bool: ...


class Outbox(Protocol):
    """Finished chats (and ratings) waiting to become interaction records."""

    async def hand_to_outbox(self, chat_id: str, state: str, now_ms: int) -> None: ...

    async def outbox_entries(self, count: int = 100_000) -> list[dict[str, str]]: ...


class Messages(Protocol):
    """A chat's message log: exactly-once append, sequence numbers, read receipts."""

    async def open_chat(self, chat_id: str, participants: Iterable[str]) -> None: ...

    async def set_participants(
        self, chat_id: str, add: Iterable[str] = (), remove: Iterable[str] = ()
    ) -> None: ...

    async def close_chat(self, chat_id: str) -> None: ...

    async def post(
        self,
        chat_id: str,
        *,
        role: str,
        sender_id: str,
        sender_name: str,
        cid: str,
        text: str,
        kind: str,
        audience: str,
        now_ms: int,
        system: bool = False,
        origin: str = "",
    ) -> PostResult: ...

    async def mark_read(self, chat_id: str, who: str, seq: int) -> tuple[int, bool]: ...

    async def last_seq(self, chat_id: str) -> int: ...

    async def read_after(
        self, chat_id: str, after: int, limit: int
    ) -> tuple[bool, list[LogEntry]]: ...

    async def read_before(
        self,
        chat_id: str,
        before: int | None,
        limit: int,
        *,
        internal: bool,
        max_bytes: int = 0,
    ) -> tuple[bool, bool, list[LogEntry]]: ...


class RateLimitStore(Protocol):
    async def hit(self, kind: str, subject: str, per_minute: int, now_ms: int) -> bool: ...


class AgentDirectory(Protocol):
    """Agents and topics."""

    async def create_agent(
        self,
        agent_id: str,
        *,
        name: str,
        password_hash: str,
        role: Role,
        capacity: int,
        skills: Mapping[str, int],
        now_ms: int,
    ) -> Agent: ...

    async def get_agent(self, agent_id: str) -> Agent | None: ...

    async def update_agent(
        self,
        agent_id: str,
        *,
        name: str | None = None,
        role: Role | None = None,
        capacity: int | None = None,
        skills: Mapping[str, int] | None = None,
        password_hash: str | None = None,
        disabled: bool | None = None,
    ) -> Agent: ...

    async def set_topic(
        self,
        name: str,
        *,
        required: Mapping[str, int],
        optional: Mapping[str, int],
        priority: int,
        labels: Mapping[str, str] | None = None,
    ) -> Topic: ...

    async def delete_topic(self, name: str) -> tuple[bool, int]:
        """(deleted, 0), or (False, chats waiting): refused while its queue holds chats."""
        ...

    async def topics(self) -> dict[str, Topic]: ...


class Settings(Protocol):
    """Configuration an administrator changes at run time."""

    async def widget(self) -> WidgetSettings: ...

    async def set_widget(self, settings: WidgetSettings) -> None: ...

    async def tag_list(self) -> list[str]: ...

    async def set_tag_list(self, tags: list[str]) -> None: ...

    async def canned(self) -> list[dict[str, Any]]: ...

    async def put_canned(self, canned_id: str, item: Canned) -> None: ...

    async def delete_canned(self, canned_id: str) -> bool: ...


class Notices(Protocol):
    """Outage notices in force."""

    async def post(self, notice: Notice, now: int, max_active: int) -> bool: ...

    async def end(self, notice_id: str) -> Notice | None: ...

    async def all(self, now: int) -> list[Notice]: ...


if TYPE_CHECKING:
    from chatserver.store.agent_presence import AgentPresenceStore
    from chatserver.store.chats import ChatStore
    from chatserver.store.config import ConfigStore
    from chatserver.store.directory import Directory
    from chatserver.store.messages import MessageStore
    from chatserver.store.notices import NoticeStore
    from chatserver.store.outbox import Outbox as OutboxStream
    from chatserver.store.ratelimits import RateLimits
    from chatserver.store.routing import RoutingStore
    from chatserver.store.timers import TimerStore
    from chatserver.store.visitors import VisitorStore

    def _redis_classes_satisfy_the_protocols(  # checked by mypy, never called
        chats: ChatStore,
        routing: RoutingStore,
        agents: AgentPresenceStore,
        timers: TimerStore,
        outbox: OutboxStream,
        visitors: VisitorStore,
        messages: MessageStore,
        limits: RateLimits,
        directory: Directory,
        config: ConfigStore,
        notices: NoticeStore,
    ) -> None:
        _chats: Chats = chats
        _routing: Routing = routing
        _agents: AgentPresence = agents
        _timers: Timers = timers
        _outbox: Outbox = outbox
        _visitors: VisitorPresence = visitors
        _messages: Messages = messages
        _limits: RateLimitStore = limits
        _directory: AgentDirectory = directory
        _settings: Settings = config
        _notices: Notices = notices
