"""The Prometheus figures of one process (``GET /metrics``, see ``docs/operations.md``).

Each process counts what it does itself; Prometheus scrapes every process and sums.  The
hub calls the small functions below from its hot paths, so they cost next to nothing:

- per-frame counts (frames in and out by type) are plain integers in a dict, turned into
  Prometheus counters only when scraped (``_FrameCounts``): no lock, no label lookup;
- every other labelled figure has its children bound once, at import, for every label
  value it can take (roles, error codes, offer outcomes, Redis steps), so counting is one
  attribute access and one ``inc``.

Queue depth, oldest wait and the records outbox are not counted here: they are read from
Redis when scraped (``chatserver.telemetry.scrape``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Final

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from chatserver.protocol import ErrorCode

# no ``*_created`` series: they double the output and an operator never reads them
disable_created_metrics()  # type: ignore[no-untyped-call]

ROLES: Final = ("visitor", "agent")
OFFER_OUTCOMES: Final = ("accepted", "declined", "lapsed", "auto_accepted")
REDIS_STEPS: Final = ("drain_snapshot", "drain_commit", "drain_notify", "post", "scrape")
"""The storage steps whose latency is measured (``chat_redis_seconds{step}``)."""

_LATENCY_BUCKETS: Final = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)
_WAIT_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1800)

# ---- connections, messages, errors --------------------------------------------------------
_connections = Gauge(
    "chat_connections", "Open WebSocket connections on this process, by role", ["role"]
)
CONNECTIONS: Final = {role: _connections.labels(role) for role in ROLES}

_posted = Counter(
    "chat_messages_posted",
    "Messages stored (not counting resent duplicates), by sender role",
    ["role"],
)
POSTED: Final = {role: _posted.labels(role) for role in ROLES}

UNREPLICATED: Final = Counter(
    "chat_messages_unreplicated",
    "Messages acknowledged although WAIT saw fewer than REDIS_WAIT_REPLICAS replicas "
    "have them within REDIS_WAIT_TIMEOUT_MS",
)

_errors = Counter("chat_errors", "Error frames sent to clients, by error code", ["code"])
ERRORS: Final = {code.value: _errors.labels(code.value) for code in ErrorCode}

# ---- routing -------------------------------------------------------------------------------
ASSIGNMENTS: Final = Counter(
    "chat_routing_assignments", "Chats offered (or auto-assigned) to an agent by routing"
)
_offers = Counter(
    "chat_offer_outcomes",
    "What became of offers: accepted, declined, lapsed (unanswered), auto_accepted",
    ["outcome"],
)
OFFERS: Final = {outcome: _offers.labels(outcome) for outcome in OFFER_OUTCOMES}
DRAIN_SECONDS: Final = Histogram(
    "chat_drain_seconds",
    "Duration of one routing pass (drain) of this process",
    buckets=_LATENCY_BUCKETS,
)
START_TO_OFFER_SECONDS: Final = Histogram(
    "chat_start_to_offer_seconds",
    "From a chat's start to an offer of it to an agent (a re-queued chat counts from its "
    "start too)",
    buckets=_WAIT_BUCKETS,
)
_redis = Histogram(
    "chat_redis_seconds",
    "Latency of the Redis steps of the hot paths, by step (each step is one or a few "
    "round trips: a script or a pipeline)",
    ["step"],
    buckets=_LATENCY_BUCKETS,
)
REDIS: Final = {step: _redis.labels(step) for step in REDIS_STEPS}

# ---- background work -------------------------------------------------------------------
_crm = Counter("chat_crm_deliveries", "CRM webhook deliveries by result (ok, failed)", ["result"])
CRM_DELIVERED: Final = _crm.labels("ok")
CRM_FAILED: Final = _crm.labels("failed")


# ---- frames: plain integers, exposed at scrape time ---------------------------------------
_UNKNOWN: Final = "other"
_MAX_TYPES: Final = 64
"""Frame type names kept apart; more (never expected) are counted as ``other``."""

frames_in: dict[str, int] = {}
frames_out: dict[bytes, int] = {}


def frame_in(kind: str) -> None:
    """A frame of type ``kind`` arrived (``invalid``: it could not be decoded)."""
    if kind in frames_in:
        frames_in[kind] += 1
    elif len(frames_in) < _MAX_TYPES:
        frames_in[kind] = 1
    else:
        frames_in[_UNKNOWN] = frames_in.get(_UNKNOWN, 0) + 1


_TYPE_KEY: Final = b"\xa4type"  # msgpack: the 4-byte string "type"


def frame_out(data: bytes) -> None:
    """A frame was queued for a socket.  Its type is read from the msgpack bytes: the value
    of the ``type`` key, found among the first bytes (a short string, 0xa0 + length)."""
    # the product's own frames (msgspec keeps insertion order) start with it: a map
    # header, then "type"; those encoded by the Lua scripts may have it further on
    at = 1 if data.startswith(_TYPE_KEY, 1) else data.find(_TYPE_KEY, 0, 256)
    kind = b"other"
    if at >= 0 and len(data) > at + 5:
        head = data[at + 5]
        if 0xA0 <= head <= 0xBF:
            kind = data[at + 6 : at + 6 + (head - 0xA0)]
    try:
        frames_out[kind] += 1
    except KeyError:
        if len(frames_out) < _MAX_TYPES:
            frames_out[kind] = 1
        else:
            frames_out[b"other"] = frames_out.get(b"other", 0) + 1


class _FrameCounts(Collector):
    def collect(self) -> Iterator[CounterMetricFamily]:
        received = CounterMetricFamily(
            "chat_frames_received", "Frames received from clients, by type", labels=["type"]
        )
        for kind, count in sorted(frames_in.items()):
            received.add_metric([kind], count)
        yield received
        sent = CounterMetricFamily(
            "chat_frames_sent", "Frames queued for clients, by type", labels=["type"]
        )
        for raw, count in sorted(frames_out.items()):
            sent.add_metric([raw.decode("utf-8", "replace")], count)
        yield sent


REGISTRY.register(_FrameCounts())


class timed:
    """``with timed(REDIS["post"]):`` observes the block's duration (also when it raises)."""

    __slots__ = ("_histogram", "_start")

    def __init__(self, histogram: Histogram) -> None:
        self._histogram = histogram
        self._start = 0.0

    def __enter__(self) -> None:
        self._start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self._histogram.observe(time.perf_counter() - self._start)


_struct_tags: dict[type, str] = {}


def frame_in_struct(frame: object) -> None:
    """A decoded frame arrived: counted under its wire type (its msgspec tag)."""
    cls = type(frame)
    tag = _struct_tags.get(cls)
    if tag is None:
        config = getattr(cls, "__struct_config__", None)
        tag = _struct_tags[cls] = str(getattr(config, "tag", None) or cls.__name__.lower())
    frame_in(tag)
