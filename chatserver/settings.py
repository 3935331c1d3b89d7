"""One typed settings object, read once from the environment at start-up.

Every option is listed in ``docs/configuration.md``.  Code below the entry points receives
a :class:`Settings` instance and never reads the environment itself.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any


class SettingsError(ValueError):
    """An environment variable holds a value that cannot be used."""


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


@dataclass(frozen=True)
class Settings:
    # --- network ---------------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = ""
    """Base URL browsers use to reach the product; derived from host/port when empty."""

    forwarded_allow_ips: str = ""
    """Load balancer addresses whose X-Forwarded-For is trusted ("*" = any).  Empty: the
    client address is the TCP peer (rate limits per address see the balancer)."""

    # --- storage ---------------------------------------------------------------------------
    redis_url: str = ""
    """Empty: start the embedded Valkey server under ``data_dir``."""
    data_dir: Path = Path("data")
    database_url: str = ""
    secret_key: str = ""
    """Signs visitor and agent tokens; all processes must share it.  Empty: a key is
    generated once and kept in ``data_dir/secret.key``."""
    key_prefix: str = "lc"
    redis_max_inflight: int = 10_000
    """Commands one of the process's Redis connections may have written and not yet had
    answered (every caller shares the connection: ``store/multiplex.py``).  Beyond it,
    which only a paused or unreachable Redis reaches, an action is refused at once with
    ``overloaded``."""
    redis_wait_replicas: int = 0
    """When above 0, a message is acknowledged only after ``WAIT <n> <timeout>`` on the
    master that stored it: at least this many replicas have it, or the timeout passed.
    0: acknowledged as soon as the master stored it (replication is asynchronous; see
    the loss window in ``docs/deployment.md``)."""
    redis_wait_timeout_ms: int = 100
    """How long one ``WAIT`` (``redis_wait_replicas``) may hold the acknowledgement, and
    the process's shared connection to that master, when replicas are slow or absent."""
    action_timeout_s: float = 5.0
    """Deadline of one client action (a frame's storage work); past it the action is
    refused with ``overloaded`` (its effect may still land: a resent ``msg`` with the same
    ``cid`` is deduplicated)."""
    overload_retry_ms: int = 500
    """The ``retry_ms`` hint sent with ``overloaded``: clients resend after about this long
    (with jitter, growing on repeated refusals)."""

    # --- origins ---------------------------------------------------------------------------
    agent_origins: tuple[str, ...] = ()
    """Origins allowed on the agent socket and for cookie-authenticated REST calls.
    Empty: the product's own origin (public_url) only."""
    widget_origins: tuple[str, ...] = ("*",)
    """Origins allowed on the visitor socket ("*" = any site)."""

    # --- presence --------------------------------------------------------------------------
    heartbeat_interval_s: float = 10.0
    presence_ttl_s: float = 30.0
    offline_grace_s: float = 30.0
    ws_ping_interval_s: float = 20.0
    ws_ping_timeout_s: float = 20.0

    # --- routing ---------------------------------------------------------------------------
    offer_timeout_s: float = 20.0
    auto_accept: bool = False
    relax_after_s: float = 60.0
    queue_timeout_s: float = 900.0
    """A chat still queued after this long is marked missed."""
    default_capacity: int = 3
    default_topic: str = "general"
    timer_interval_s: float = 0.25
    position_interval_s: float = 0.5
    """Queue positions are re-read and pushed to waiting visitors at most this often."""
    availability_interval_s: float = 1.0
    """Each process re-reads what its visitors are shown (business hours, which topics
    have an agent online) at least this often; agent presence changes are pushed at once."""
    background_jobs: bool = True
    """Run timers and the presence sweeper inside ``serve`` (safe with several processes)."""

    # --- chats -----------------------------------------------------------------------------
    visitor_leave_grace_s: float = 60.0
    """A queued visitor with no connection for this long has left: the chat is abandoned."""
    chat_idle_timeout_s: float = 1800.0
    """An active chat with no message for this long is closed (reason ``timeout``)."""
    log_max_messages: int = 5000
    """Messages kept per chat for resume; older ones need a history reload."""
    chat_retention_s: float = 86400.0
    """How long a finished chat's live keys stay in Redis."""

    # --- interaction records -------------------------------------------------------------
    record_claim_idle_s: float = 30.0
    """An outbox entry a writer took but did not acknowledge for this long is taken over
    by another writer (the first one probably died)."""
    record_batch: int = 20
    """Outbox entries the records writer handles per pass."""
    record_pause_ms: int = 50
    """Least pause of the records writer between passes while it has a backlog, so that a
    backlog (for example left by a previous process) yields to live traffic."""
    record_busy_share: float = 0.25
    """While draining a backlog the writer is busy at most this share of the time: after a
    pass that took t, it pauses at least t * (1 - share) / share (long chats, slow SQL)."""
    record_log_page: int = 500
    """Messages read per round trip when the writer reads a finished chat's log."""
    record_hold_s: float = 14 * 86400.0
    """A finished chat's keys stay in Redis at most this long while its record waits to be
    written (a database outage); once written they expire after CHAT_RETENTION_S."""
    agents_see_all_records: bool = False
    """Agents may search and read every record in the archive, not only the chats they
    took part in (supervisors and admins always see every record)."""
    rating_window_s: float = 86400.0
    """How long after a chat ends its visitor may rate it."""
    crm_webhook_url: str = ""
    """When set, every new record is POSTed here (JSON, signed with CRM_WEBHOOK_SECRET)."""
    crm_webhook_secret: str = ""
    crm_max_attempts: int = 20
    # --- inbox of offline messages: e-mail replies (docs/inbox.md) -------------------------
    smtp_host: str = ""
    """The SMTP server replies are sent through; empty: replying answers 503
    ``mail_not_configured`` (the inbox and claims still work)."""
    smtp_port: int = 587
    smtp_user: str = ""
    """Empty: no AUTH."""
    smtp_password: str = ""
    smtp_from: str = ""
    """The From address of replies (required with SMTP_HOST)."""
    smtp_starttls: bool = True
    """Upgrade the connection with STARTTLS (refused if the server does not offer it)."""
    smtp_tls: bool = False
    """Implicit TLS from the first byte (port 465); SMTP_STARTTLS is then ignored."""
    smtp_timeout_s: float = 10.0
    """Deadline of connecting to the SMTP server and of each of its replies."""
    inbox_reply_max_chars: int = 10_000
    """Longest reply an agent may send (at most 10000)."""
    inbox_reply_subject: str = "Re: your message"
    """The subject of reply e-mails."""
    # --- transcript by e-mail (docs/protocol.md, ``transcript``) ----------------------------
    transcript_max_per_chat: int = 3
    """How many times a visitor may ask for an ended chat's transcript by e-mail (the
    ``transcript`` frame; more answers ``too_many``); 0 turns the feature off."""
    transcript_max_attempts: int = 8
    """Tries to send a transcript e-mail (backing off 1 s, 2 s, 4 s ... between them)
    before it is given up."""
    service_level_target_s: float = 20.0
    service_level_goal: float = 0.8
    short_abandon_s: float = 5.0
    live_metrics_interval_s: float = 2.0
    # --- capacity planning (chatserver plan, GET /api/planning) ----------------------------
    plan_max_abandon: float = 0.05
    """The abandon rate a plan keeps below by default (0-1)."""
    plan_answer_s: float = 3.0
    """How long agents take to answer an offer, in the simulation."""
    plan_sim_arrivals: int = 1000
    """Chats simulated per (hour, skill group, number of agents) in the API (the command line
    takes --sim-arrivals)."""
    plan_max_cells: int = 48
    """(hour, skill group) cells one API request may plan (each one is simulated)."""

    # --- limits ----------------------------------------------------------------------------
    max_frame_bytes: int = 65536
    max_text_chars: int = 4000
    max_tags: int = 20
    free_tags: bool = False
    """Agents may put any tag on a chat; when false only the tags of the admin's list
    (``PUT /api/tags``) are accepted."""
    notice_max_chars: int = 1000
    """Longest text of an outage notice, per language."""
    notices_max_active: int = 20
    """Outage notices in force at once (posting another: 409)."""
    notice_close_batch: int = 100
    """Queued chats closed at a time when a notice ends with ``close_queued``."""
    notice_refresh_s: float = 30.0
    """Each process reads the notices in force again at least this often (and at each
    expiry), in case it missed a pub/sub message."""
    messages_per_10s: int = 30
    typing_interval_s: float = 1.0
    typing_preview: bool = False
    """Agents see what the visitor is typing before it is sent: the widget sends the draft
    with its ``typing`` frames and the server relays it to the chat's agents and supervisors
    only (never stored).  Off: the server drops any draft a client sends."""
    typing_preview_chars: int = 500
    """Longest draft a ``typing`` frame may carry (``error too_large`` beyond)."""
    typing_preview_interval_s: float = 0.5
    """A connection's drafts are relayed at most once per interval; extra ones are dropped
    silently (the typing indicator itself still follows ``typing_interval_s``)."""
    visitor_tracking: bool = False
    """Visitors on the site: the widget reports page views (``page`` frames) and agents see
    who is on the site (``GET /api/visitors/online``) and may invite them to chat.  Off (the
    default, for privacy): the widget sends no page views and the server refuses them."""
    visitors_online_max: int = 500
    """At most this many visitors are kept on the site list (the most recently seen)."""
    visit_idle_s: float = 1800.0
    """A visit ends after this long without a page view: the next one starts a new visit
    (its time on site starts again, and the visitor counts as returning)."""
    invites_per_minute: int = 10
    """Invitations an agent may send per minute (``rate_limited`` beyond)."""
    max_connections_per_visitor: int = 10
    new_visitors_per_minute: int = 60
    logins_per_minute: int = 10
    token_checks_per_minute: int = 120
    """``POST /api/visitor/check`` requests per client address per minute, across all
    processes; further ones get 429 (the client keeps its token and asks again later)."""
    handshake_timeout_s: float = 10.0
    """Every request's headers (the WebSocket handshake too) must arrive within this time
    of the connection opening or of the request's first byte, or the connection is closed."""
    request_body_timeout_s: float = 30.0
    """A request's body must arrive whole within this time of its headers, or the
    connection is closed."""
    max_http_connections_per_address: int = 256
    """Open HTTP connections (before any WebSocket upgrade) one client address may hold on
    one process; further ones are answered 503 and closed (0: no limit).  Peers listed in
    FORWARDED_ALLOW_IPS (a load balancer) are not limited."""
    health_timeout_s: float = 0.5
    """``/healthz`` answers 503 when Redis does not answer within this time."""
    readiness_timeout_s: float = 0.5
    """``/readyz`` answers 503 when Redis does not answer within this time."""
    shutdown_drain_s: float = 5.0
    """On SIGTERM, ``/readyz`` answers 503 at once while the process keeps serving for this
    long (so that a load balancer following ``/readyz`` stops sending it new connections),
    then it closes its sockets and exits.  SIGINT (Ctrl-C) does not wait."""
    max_connections_per_address: int = 500
    """WebSocket connections one client address may hold on one process."""
    max_pending_handshakes: int = 1024
    """Visitor connections being set up at once on one process (handshake to welcome);
    further handshakes wait their turn (0: no limit).  A 10,000-visitor storm resumed in
    27.2 s with 256, 20.1 s with 1,024 and 22.7 s with 4,096 (docs/performance.md)."""
    handshake_queue_s: float = 30.0
    """How long a visitor handshake may wait for its turn before it is answered 503.
    Waiting costs a parked coroutine and a socket; a 503 costs the request's parse now
    and a whole handshake again on the retry (a 10,000-visitor storm: 61 s to resume 99 %
    with 5 s and 6,941 refusals, 38 s with 30 s and none; docs/performance.md)."""
    listen_backlog: int = 16384
    """TCP connections the kernel queues for the process before it accepts them (the
    ``listen`` backlog; Linux caps it at ``net.core.somaxconn``).  When a reconnect storm
    overflows it, the kernel drops connection attempts and clients retry only after TCP's
    1, 3, 7, 15 s back-off: keep it above the visitors one process may see reconnect."""
    send_queue_frames: int = 1000
    """Frames buffered for one slow connection before it is dropped (close 1013)."""
    send_queue_bytes: int = 8 * 1024 * 1024
    """Bytes buffered for one slow connection before it is dropped (close 1013)."""
    send_queue_bytes_per_address: int = 64 * 1024 * 1024
    """Bytes buffered for all the connections of one client address on one process; the
    connection whose frame would pass it is dropped (close 1013)."""
    history_page: int = 200
    history_page_bytes: int = 1024 * 1024
    """A ``history`` reply holds at most this many bytes of messages (at least one)."""

    # --- file attachments (docs/files.md) -------------------------------------------------
    file_max_bytes: int = 10 * 1024 * 1024
    """Largest file a visitor or agent may send; a bigger upload is refused with 413 as soon
    as its body passes this (it is never buffered whole)."""
    file_types: tuple[str, ...] = (
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "application/pdf",
    )
    """Media types accepted, as sniffed from the file's content (the name and the
    ``Content-Type`` the client sends are ignored).  Only these can be recognised:
    ``chatserver/core/files.py`` lists them; SVG and HTML never are."""
    file_url_ttl_s: float = 300.0
    """How long a signed download URL stays valid."""
    files_dir: Path = Path("")
    """Where local-disk storage keeps files; empty: ``data_dir/files``.  Every process must
    see the same folder (a shared volume) when there are several."""
    file_scan_hook: str = ""
    """Virus-scan hook: ``module:function`` called with the stored file's path and its
    media type before the file is accepted (may be a coroutine function); it returns a
    reason (a string) to refuse the file, or None to accept it.  Empty: no scanning."""
    uploads_per_minute: int = 30
    """File uploads per client address per minute, across all processes (429 beyond)."""

    # --- auth ------------------------------------------------------------------------------
    visitor_token_ttl_s: float = 30 * 86400.0
    agent_token_ttl_s: float = 12 * 3600.0
    password_time_cost: int = 3
    password_memory_kib: int = 65536
    admin_password: str = ""
    """When set and no agent exists, an ``admin`` agent is created with this password."""

    # --- operations ------------------------------------------------------------------------
    metrics_token: str = ""
    """When set, ``GET /metrics`` with ``Authorization: Bearer <token>`` is let in from any
    address."""
    metrics_addresses: tuple[str, ...] = ("127.0.0.1", "::1")
    """Client addresses let in to ``GET /metrics`` without the token (only requests that
    did not come through a proxy).  Empty: the token is always needed."""
    metrics_timeout_s: float = 1.0
    """Deadline of the Redis reads of one scrape (queue depths, outbox length)."""
    metrics_max_topics: int = 100
    """Topics whose queue depth and oldest wait are exported (the first, by name)."""
    worker_metrics_port: int = 0
    """``chatserver worker`` serves its Prometheus figures on HOST at this port (0: not at
    all).  No token there: keep HOST on loopback or a private network."""
    log_format: str = "text"
    """``text`` (one line per event, for people) or ``json`` (one JSON object per line)."""
    log_level: str = "info"
    """``debug``, ``info``, ``warning`` or ``error``."""

    extra: Mapping[str, str] = field(default_factory=dict)

    # ---------------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "localhost" if self.host in ("0.0.0.0", "127.0.0.1", "::") else self.host
        return f"http://{host}:{self.port}"

    @property
    def allowed_agent_origins(self) -> tuple[str, ...]:
        if self.agent_origins:
            return self.agent_origins
        base = self.base_url
        alt = {base, base.replace("localhost", "127.0.0.1"), base.replace("127.0.0.1", "localhost")}
        return tuple(sorted(alt))

    def __post_init__(self) -> None:
        if not 1 <= self.listen_backlog <= 1_000_000:
            raise SettingsError("LISTEN_BACKLOG must be 1-1000000")
        # the planning settings are used at request time: refuse bad ones at start
        if not 0 <= self.plan_max_abandon <= 1:
            raise SettingsError("PLAN_MAX_ABANDON must be between 0 and 1")
        if not 0 <= self.plan_answer_s <= 3600:
            raise SettingsError("PLAN_ANSWER_S must be 0-3600 seconds")
        if not 10 <= self.plan_sim_arrivals <= 100_000:
            raise SettingsError("PLAN_SIM_ARRIVALS must be 10-100000")
        if not 1 <= self.plan_max_cells <= 2000:
            raise SettingsError("PLAN_MAX_CELLS must be 1-2000")
        if not 1 <= self.typing_preview_chars <= 4000:
            raise SettingsError("TYPING_PREVIEW_CHARS must be 1-4000")
        if not 1 <= self.visitors_online_max <= 10_000:
            raise SettingsError("VISITORS_ONLINE_MAX must be 1-10000")
        if self.visit_idle_s < 60:
            raise SettingsError("VISIT_IDLE_S must be at least 60 seconds")
        if not 1 <= self.inbox_reply_max_chars <= 10_000:
            raise SettingsError("INBOX_REPLY_MAX_CHARS must be 1-10000")
        if not 1 <= self.file_max_bytes <= 1024**3:
            raise SettingsError("FILE_MAX_BYTES must be 1 byte to 1 GiB")
        from chatserver.core.files import KNOWN_TYPES

        unknown = sorted(set(self.file_types) - KNOWN_TYPES)
        if unknown:
            raise SettingsError(
                f"FILE_TYPES: {', '.join(unknown)} cannot be told from a file's content; "
                f"known: {', '.join(sorted(KNOWN_TYPES))}"
            )
        if self.file_scan_hook and ":" not in self.file_scan_hook:
            raise SettingsError("FILE_SCAN_HOOK must be module:function")
        if not 0 <= self.transcript_max_per_chat <= 100:
            raise SettingsError("TRANSCRIPT_MAX_PER_CHAT must be 0-100")
        if not 1 <= self.transcript_max_attempts <= 100:
            raise SettingsError("TRANSCRIPT_MAX_ATTEMPTS must be 1-100")
        if self.smtp_host and "@" not in self.smtp_from:
            raise SettingsError("SMTP_FROM (an e-mail address) is required with SMTP_HOST")

    @property
    def files_path(self) -> Path:
        return self.files_dir if str(self.files_dir) not in ("", ".") else self.data_dir / "files"

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``CHAT_*``-less upper-case names (``PORT``, ``REDIS_URL`` ...)."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name == "extra":
                continue
            name = f.name.upper()
            if name not in env:
                continue
            raw = env[name]
            default = getattr(cls, f.name, None)
            try:
                values[f.name] = _convert(raw, default)
            except ValueError as exc:
                raise SettingsError(f"{name}={raw!r}: {exc}") from None
        return cls(**values)

    def resolved_secret(self) -> str:
        """The signing key: the configured one, or one kept in ``data_dir``."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret.key"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_text().strip()
        with os.fdopen(fd, "w") as fh:
            key = secrets.token_urlsafe(48)
            fh.write(key)
        return key


def _convert(raw: str, default: Any) -> Any:
    if isinstance(default, bool):
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off", ""):
            return False
        raise ValueError("expected a boolean (true/false)")
    if isinstance(default, int):
        value = int(raw)
        if value < 0:
            raise ValueError("must not be negative")
        return value
    if isinstance(default, float):
        fvalue = float(raw)
        if fvalue < 0:
            raise ValueError("must not be negative")
        return fvalue
    if isinstance(default, Path):
        return Path(raw)
    if isinstance(default, tuple):
        return _split(raw)
    return raw
