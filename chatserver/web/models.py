"""The REST API's typed request and response models (msgspec structs).

They are the contract: the handlers decode request bodies and query strings with the
request models (a body or query that does not fit is ``400 bad_request``), and the
OpenAPI document (``chatserver.web.openapi``) is generated from every model here.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from chatserver.records.metrics import Metrics

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
Password = Annotated[str, msgspec.Meta(min_length=8, max_length=256)]
Level = Annotated[int, msgspec.Meta(ge=0, le=10)]
SkillMap = Annotated[dict[str, Level], msgspec.Meta(max_length=100)]
RoleName = Literal["agent", "supervisor", "admin"]
Capacity = Annotated[int, msgspec.Meta(ge=0, le=100)]
Millis = Annotated[int, msgspec.Meta(description="milliseconds since the Unix epoch (UTC)")]


# ---- errors -------------------------------------------------------------------------------
class ErrorBody(msgspec.Struct):
    """Every error: a stable code for programs and a sentence for people."""

    error: Annotated[
        str,
        msgspec.Meta(
            description="bad_request, too_large, unauthorized, csrf, forbidden, not_found, "
            "in_use, rate_limited, invalid_token, unavailable, claimed, not_claimed, "
            "already_answered, mail_not_configured, mail_failed"
        ),
    ]
    message: str


# ---- session ------------------------------------------------------------------------------
class LoginBody(msgspec.Struct, forbid_unknown_fields=True):
    id: Name
    password: Annotated[str, msgspec.Meta(max_length=256)]


class AgentOut(msgspec.Struct):
    """An agent as the API shows it (never the password hash)."""

    id: str
    name: str
    role: RoleName
    capacity: int
    skills: dict[str, int]
    status: str
    disabled: bool


class LoginOut(msgspec.Struct):
    token: Annotated[
        str,
        msgspec.Meta(
            description="the session token: send it as `Authorization: Bearer <token>`; the "
            "same token is set as the `lc_session` cookie"
        ),
    ]
    agent: AgentOut


class Ok(msgspec.Struct):
    ok: bool


class Deleted(msgspec.Struct):
    deleted: bool


# ---- agents and topics --------------------------------------------------------------------
class NewAgent(msgspec.Struct, forbid_unknown_fields=True):
    id: Name
    password: Password
    name: Name | None = None
    role: RoleName = "agent"
    capacity: Annotated[
        Capacity | None, msgspec.Meta(description="default: the DEFAULT_CAPACITY setting")
    ] = None
    skills: SkillMap = {}


class AgentPatch(msgspec.Struct, forbid_unknown_fields=True):
    """Only the fields given change."""

    name: Name | None = None
    password: Password | None = None
    role: RoleName | None = None
    capacity: Capacity | None = None
    skills: SkillMap | None = None
    disabled: bool | None = None


LanguageCode = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{1,8})*$", max_length=35, description="ar, uk, pt-BR"
    ),
]
TopicLabel = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class TopicBody(msgspec.Struct, forbid_unknown_fields=True):
    required: SkillMap = {}
    optional: SkillMap = {}
    priority: Annotated[int, msgspec.Meta(ge=0, le=9)] = 5
    labels: Annotated[
        dict[LanguageCode, TopicLabel],
        msgspec.Meta(max_length=50, description="language -> the name visitors read"),
    ] = {}


class TopicOut(msgspec.Struct):
    name: str
    required: dict[str, int]
    optional: dict[str, int]
    priority: int
    labels: dict[str, str] = {}


TagName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class TagListBody(msgspec.Struct, forbid_unknown_fields=True):
    """The tags agents may put on chats (the whole list)."""

    tags: Annotated[list[TagName], msgspec.Meta(max_length=500)]


class TagListOut(msgspec.Struct):
    tags: list[str]
    free: bool
    """FREE_TAGS: any tag is accepted, the list is a suggestion."""


class QueueOut(msgspec.Struct):
    topic: str
    waiting: int
    longest_wait_s: int
    eta_s: int


class OnSiteOut(msgspec.Struct):
    """A visitor on the site (``VISITOR_TRACKING``).  ``url`` and ``title`` are the
    visitor's browser's words: show them as text (link ``url`` only for http/https)."""

    visitor: str
    name: str
    """The name they gave ('' when none)."""
    url: str
    title: str
    lang: str
    """The widget's language ('' when unknown)."""
    first_seen: int
    """When this visit began (ms since the epoch)."""
    last_seen: int
    """Their latest page view (ms)."""
    time_on_site_s: int
    pages: int
    """Pages viewed this visit."""
    returning: bool
    """They had been on the site before this visit."""
    in_chat: bool
    invited: bool
    """An invitation to chat is waiting for their answer."""
    answer: Literal["accepted", "declined"] | None
    """Their answer to the latest invitation of this visit."""


class VisitorsOnlineOut(msgspec.Struct):
    enabled: bool
    """``VISITOR_TRACKING``: when false the list is always empty."""
    visitors: list[OnSiteOut]
    """Newest page view first, at most ``max``."""
    max: int


# ---- widget and canned answers ------------------------------------------------------------
Hhmm = Annotated[str, msgspec.Meta(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
PrechatField = Literal["name", "email", "topic"]
Origin = Annotated[
    str,
    msgspec.Meta(
        max_length=512, description="https://site.example (scheme and host), or * for any"
    ),
]
UNSET: Any = msgspec.UNSET


class DayHoursBody(msgspec.Struct, forbid_unknown_fields=True):
    open: Hhmm
    close: Hhmm


class WidgetSettingsPatch(msgspec.Struct, forbid_unknown_fields=True):
    """PUT and PATCH both change only the fields the body names (``{}`` changes nothing):
    a client that sends part of the settings never resets the rest to their defaults."""

    allowed_origins: Annotated[list[Origin], msgspec.Meta(max_length=100)] = UNSET
    languages: Annotated[
        list[Annotated[str, msgspec.Meta(max_length=35)]], msgspec.Meta(max_length=50)
    ] = UNSET
    default_language: Annotated[str, msgspec.Meta(max_length=35)] = UNSET
    business_hours: dict[Day, DayHoursBody] = UNSET
    utc_offset_minutes: Annotated[int, msgspec.Meta(ge=-840, le=840)] = UNSET
    offline_message: dict[str, Annotated[str, msgspec.Meta(max_length=4000)]] = UNSET
    prechat_fields: list[PrechatField] = UNSET
    required_fields: list[PrechatField] = UNSET
    color: Annotated[str, msgspec.Meta(pattern=r"^#[0-9A-Fa-f]{3}([0-9A-Fa-f]{3})?$")] = UNSET
    title: dict[str, Annotated[str, msgspec.Meta(max_length=200)]] = UNSET
    timezone: Annotated[
        str,
        msgspec.Meta(
            max_length=64, description="IANA time zone (Europe/Kyiv); empty: utc_offset_minutes"
        ),
    ] = UNSET
    nps_question: Annotated[
        bool,
        msgspec.Meta(
            description='ask "how likely are you to recommend us? 0-10" beside the rating'
        ),
    ] = UNSET

    def changes(self) -> dict[str, Any]:
        return {
            f: msgspec.to_builtins(v)
            for f in self.__struct_fields__
            if (v := getattr(self, f)) is not msgspec.UNSET
        }


class WidgetLimits(msgspec.Struct):
    max_text_chars: int
    visitor_tracking: bool = False
    """Visitors on the site is on: the widget connects at once and reports page views."""


class WidgetNotice(msgspec.Struct):
    """An outage notice in force, as visitors see it (the ``notice`` frame)."""

    id: str
    texts: dict[str, str]
    topics: list[str]
    created_at: Millis
    expires_at: Millis | None


class WidgetConfig(msgspec.Struct):
    """What the widget needs before it opens a socket."""

    languages: list[str]
    default_language: str
    open: bool
    agents_available: bool
    topics_available: dict[str, bool]
    offline_message: dict[str, str]
    prechat_fields: list[str]
    required_fields: list[str]
    topics: list[str]
    topic_labels: dict[str, dict[str, str]]
    """Topic -> language -> the name to show (topics without translations are left out)."""
    color: str
    title: dict[str, str]
    nps_question: bool
    """Ask "how likely are you to recommend us? (0-10)" beside the rating."""
    limits: WidgetLimits
    email_transcript: bool = False
    """Offer "email me the transcript" at the end of a chat (the server sends e-mail:
    ``SMTP_HOST``, and ``TRANSCRIPT_MAX_PER_CHAT`` is not 0)."""
    notices: list[WidgetNotice] = []
    """The outage notices in force (every topic's; the widget shows those of the topic
    the visitor picks)."""


class CannedBody(msgspec.Struct, forbid_unknown_fields=True):
    """A canned answer: ``/shortcut`` inserts ``text`` (per language when given)."""

    shortcut: Annotated[
        str,
        msgspec.Meta(
            min_length=1, max_length=64, description="letters (of any script), digits, '-' or '_'"
        ),
    ]
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=4000, description="not only spaces")]
    language: Annotated[str, msgspec.Meta(max_length=35)] = ""

    def __post_init__(self) -> None:
        # Unicode letters: a JSON Schema pattern (ECMA-262) cannot say it the way Python does
        if not all(c.isalnum() or c in "-_" for c in self.shortcut):
            raise ValueError("shortcut: 1-64 letters, digits, '-' or '_'")
        if not self.text.strip():
            raise ValueError("text: not only spaces")


class CannedOut(msgspec.Struct):
    id: str
    shortcut: str
    text: str
    language: str = ""


# ---- outage notices -----------------------------------------------------------------------
Language = Literal["en", "ar", "uk"]
NoticeText = Annotated[
    str,
    msgspec.Meta(max_length=4000, description="at most NOTICE_MAX_CHARS characters (default 1000)"),
]


class NoticeBody(msgspec.Struct, forbid_unknown_fields=True):
    """A new outage notice: shown to visitors waiting in ``topics`` (none: every topic),
    to new visitors before they start a chat, and to agents in their console."""

    texts: Annotated[
        dict[Language, NoticeText],
        msgspec.Meta(description="the text per language (en, ar, uk); at least one not empty"),
    ]
    topics: Annotated[
        list[Annotated[str, msgspec.Meta(max_length=128)]],
        msgspec.Meta(max_length=100, description="topics it is about; empty: every topic"),
    ] = []
    expires_at: (
        Annotated[
            int,
            msgspec.Meta(
                ge=0,
                description="when it stops being shown (ms since the epoch, in the future, "
                "at most 30 days ahead); absent: until ended",
            ),
        ]
        | None
    ) = None


class NoticeOut(msgspec.Struct):
    id: str
    texts: dict[str, str]
    topics: list[str]
    created_at: Millis
    expires_at: Millis | None
    by: Annotated[str, msgspec.Meta(description="who posted it: supervisor:<id>")]


class NoticeEndBody(msgspec.Struct, forbid_unknown_fields=True):
    close_queued: Annotated[
        bool,
        msgspec.Meta(
            description="also close every chat waiting in the notice's topics, with a last "
            "message and the outcome `incident`"
        ),
    ] = False
    message: Annotated[
        dict[Language, NoticeText],
        msgspec.Meta(description="that last message per language (default: the notice's texts)"),
    ] = {}


class NoticeEnded(msgspec.Struct):
    notice: NoticeOut
    closed: Annotated[int, msgspec.Meta(description="queued chats closed")]


# ---- visitors -----------------------------------------------------------------------------
class TokenCheck(msgspec.Struct, forbid_unknown_fields=True):
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]


class TokenValid(msgspec.Struct):
    valid: bool


# ---- records and metrics ------------------------------------------------------------------
Param = Annotated[str, msgspec.Meta(max_length=512)]
Time = Annotated[
    str,
    msgspec.Meta(
        max_length=512, description="milliseconds since the epoch, or ISO 8601 (UTC when no zone)"
    ),
]


class RecordFilters(msgspec.Struct, kw_only=True):
    """Which records: ended in [from, to), and the other filters all at once."""

    from_: Time = msgspec.field(default="", name="from")
    to: Time = ""
    agent: Param = ""
    topic: Param = ""
    skill: Param = ""
    outcome: Param = ""
    state: Param = ""
    tag: Param = ""
    email: Param = ""
    visitor: Param = ""
    name: Annotated[str, msgspec.Meta(max_length=256, description="part of the visitor's name")] = (
        ""
    )
    rating: Annotated[
        str,
        msgspec.Meta(
            pattern=r"^([1-5](-[1-5])?|none)?$",
            description='a rating (1-5), a range ("1-2") or "none" (not rated)',
        ),
    ] = ""
    ids: Annotated[
        str,
        msgspec.Meta(
            max_length=5_000,
            pattern=r"^[A-Za-z0-9_.:, -]*$",
            description="only these chats: ids separated by commas (at most 200)",
        ),
    ] = ""
    q: Annotated[
        str, msgspec.Meta(max_length=512, description="words, all of them (at most 10)")
    ] = ""


class RecordQuery(RecordFilters, kw_only=True):
    limit: Annotated[int, msgspec.Meta(ge=1, le=200)] = 50
    cursor: Param = ""


class MetricsQuery(msgspec.Struct, kw_only=True):
    from_: Time = msgspec.field(default="", name="from")
    to: Time = ""
    group: Literal["", "agent", "topic", "skill", "hour", "day"] = ""
    sl_target_s: (
        Annotated[
            float,
            msgspec.Meta(
                ge=0, le=365 * 86_400, description="default: the SERVICE_LEVEL_TARGET_S setting"
            ),
        ]
        | None
    ) = None


class MetricsOut(msgspec.Struct, kw_only=True):
    """The whole period (``metrics``) or one entry per group (``group`` and ``groups``)."""

    from_: Millis = msgspec.field(name="from")
    to: Millis
    metrics: Metrics | None = None
    group: str | None = None
    groups: dict[str, Metrics] | None = None


class RecordSummary(msgspec.Struct, kw_only=True):
    chat_id: str
    visitor_id: str
    visitor_name: str
    visitor_email: str
    page_url: str
    referrer: str
    locale: str
    user_agent: str
    fields: dict[str, Any]
    topic: str
    required_skills: Any
    optional_skills: Any
    priority: int
    end_state: str
    ended_by: str
    outcome: str
    tags: list[str]
    rating: int | None
    rating_comment: str
    nps: Annotated[
        int | None,
        msgspec.Meta(description='"how likely are you to recommend us?", 0-10, if answered'),
    ] = None
    created_at: Millis
    queued_at: Millis | None
    first_offer_at: Millis | None
    accepted_at: Millis | None
    first_agent_reply_at: Millis | None
    ended_at: Millis
    agent_id: str | None
    message_count: int
    written_at: Millis
    transfers: list[dict[str, Any]] | None
    notices: Annotated[
        list[str], msgspec.Meta(description="ids of the outage notices the visitor was shown")
    ] = []
    claimed_by: str | None = None
    claimed_at: Millis | None = None
    reply: Annotated[
        str | None, msgspec.Meta(description="offline messages: the e-mail reply from the inbox")
    ] = None
    replied_at: Millis | None = None
    replied_by: str | None = None


class RecordPage(msgspec.Struct):
    items: list[RecordSummary]
    next: Annotated[str | None, msgspec.Meta(description="the cursor of the next page")]


class RecordMessage(msgspec.Struct):
    seq: int
    at: Millis
    sender_role: str
    sender_id: str
    sender_name: str
    kind: str
    internal: bool
    text: str
    file: FileOut | None = None
    """An attachment (docs/files.md): download it through
    ``GET /api/chats/{chat_id}/files/{id}``."""


class RecordAgent(msgspec.Struct):
    idx: int
    agent_id: str
    joined_at: Millis
    left_at: Millis | None
    left_reason: str | None


class RecordEvent(msgspec.Struct):
    idx: int
    kind: str
    at: Millis
    agent_id: str | None
    detail: str | None
    result: str | None


class RecordTranscriptEmail(msgspec.Struct):
    email: str
    requested_at: Millis
    sent_at: Annotated[
        Millis | None, msgspec.Meta(description="null while it waits (or was given up)")
    ]


class Record(RecordSummary, kw_only=True):
    """A whole record: the summary, its transcript, agents and events."""

    messages: list[RecordMessage]
    agents: list[RecordAgent]
    events: list[RecordEvent]
    transcript_emails: Annotated[
        list[RecordTranscriptEmail],
        msgspec.Meta(description="the visitor's requests of the transcript by e-mail"),
    ] = []


# ---- inbox of offline messages ------------------------------------------------------------
InboxStatus = Literal["open", "answered"]


class InboxQuery(msgspec.Struct, kw_only=True):
    topic: Param = ""
    status: Literal["", "open", "answered"] = ""
    mine: Annotated[bool, msgspec.Meta(description="only the messages the caller claimed")] = False
    limit: Annotated[int, msgspec.Meta(ge=1, le=500)] = 200


class InboxItem(msgspec.Struct, kw_only=True):
    """An offline message: ``open`` until it is answered by e-mail."""

    chat_id: str
    topic: str
    status: InboxStatus
    text: Annotated[str, msgspec.Meta(description="the visitor's message")]
    visitor_id: str
    visitor_name: str
    visitor_email: str
    locale: str
    page_url: str
    created_at: Millis
    claimed_by: str | None
    claimed_at: Millis | None
    reply: str | None
    replied_at: Millis | None
    replied_by: str | None


class InboxPage(msgspec.Struct):
    items: list[InboxItem]


class InboxReply(msgspec.Struct, forbid_unknown_fields=True):
    text: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            max_length=10_000,
            description="the reply, sent by e-mail (not only spaces; at most "
            "INBOX_REPLY_MAX_CHARS characters)",
        ),
    ]


# ---- file attachments (docs/files.md) -------------------------------------------------------
class UploadQuery(msgspec.Struct):
    name: Annotated[
        str,
        msgspec.Meta(
            max_length=1024,
            description="The file's name as the sender knows it: shown as text, never a path.",
        ),
    ] = "file"
    cid: Annotated[
        str,
        msgspec.Meta(
            max_length=64,
            description="The client's id for the message (a resent upload with the same cid "
            "is stored once); empty: one is made up.",
        ),
    ] = ""
    caption: Annotated[
        str, msgspec.Meta(max_length=4000, description="Text sent with the file.")
    ] = ""


class FileOut(msgspec.Struct):
    id: str
    name: str
    size: int
    type: str


class Uploaded(msgspec.Struct):
    """The file was stored and posted to the chat as the message ``seq``."""

    chat: str
    cid: str
    seq: int
    dup: bool
    file: FileOut


class FileLink(msgspec.Struct):
    """A signed download URL (relative to the server) and when it expires (ms)."""

    url: str
    expires: int
    file: FileOut


class DownloadQuery(msgspec.Struct):
    e: Annotated[int, msgspec.Meta(ge=0, description="Expiry, ms since the epoch.")] = 0
    s: Annotated[str, msgspec.Meta(max_length=128, description="The signature.")] = ""
