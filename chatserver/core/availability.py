"""What a visitor may be offered: business hours, required pre-chat fields, and which
topics have an agent online who could take a chat.

Pure decisions (settings, state and time in, answer out); the hub keeps the state fresh
and pushes what changes (``hub/availability.py``), ``hub/visitor.py`` enforces the
``start`` rules.  ``docs/protocol.md`` documents the frames and error codes built from
these answers.

Business hours
    A weekday (``"mon"`` .. ``"sun"``) maps to ``(open, close)`` in minutes after local
    midnight.  ``open < close`` covers ``[open, close)`` of that day.  ``close <= open``
    runs past midnight: ``[open, 24:00)`` of that day and ``[00:00, close)`` of the next
    (so ``00:00``-``00:00`` is the whole day).  A day not listed is closed, unless an
    overnight span of the day before reaches into it.  No hours at all: always open.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, tzinfo

from chatserver.core.routing import AgentView, has_skills

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
PRECHAT_FIELDS = ("name", "email", "topic")

Hours = Mapping[str, tuple[int, int]]
"""Weekday -> (open, close) in minutes after local midnight, 0-1439 each."""

_EMAIL = re.compile(r"^[^\s@]+@[^\s@]+\.[^\s@]+$")


def minutes(hhmm: str) -> int:
    """``"HH:MM"`` -> minutes after midnight; ValueError when it is not a time of day."""
    if len(hhmm) != 5 or hhmm[2] != ":" or not (hhmm[:2].isdigit() and hhmm[3:].isdigit()):
        raise ValueError(f"{hhmm!r} is not HH:MM")
    h, m = int(hhmm[:2]), int(hhmm[3:])
    if h > 23 or m > 59:
        raise ValueError(f"{hhmm!r} is not HH:MM")
    return 60 * h + m


def within_hours_local(hours: Hours, weekday: int, minute: int) -> bool:
    """Whether local ``weekday`` (0 = Monday) at ``minute`` after midnight is open."""
    if not hours:
        return True
    today = hours.get(DAYS[weekday])
    if today is not None:
        start, end = today
        if start < end and start <= minute < end:
            return True
        if end <= start and minute >= start:
            return True
    before = hours.get(DAYS[(weekday - 1) % 7])
    if before is not None:
        start, end = before
        if end <= start and minute < end:
            return True
    return False


def within_hours(hours: Hours, tz: tzinfo, now_ms: int) -> bool:
    """Whether ``now_ms`` (Unix time, ms) is inside the business hours, read on the
    wall clock of ``tz``."""
    if not hours:
        return True
    local = datetime.fromtimestamp(now_ms / 1000, tz=tz)
    return within_hours_local(hours, local.weekday(), 60 * local.hour + local.minute)


def valid_email(value: str) -> bool:
    return len(value) <= 256 and bool(_EMAIL.match(value.strip()))


def missing_fields(
    required: Iterable[str],
    shown: Iterable[str],
    values: Mapping[str, str | None],
    topic_count: int,
) -> list[str]:
    """The required pre-chat fields a ``start`` lacks, in ``PRECHAT_FIELDS`` order.

    A field counts only when the form shows it (``shown``); ``topic`` only when there is
    more than one topic to choose from (otherwise the default topic is the choice).  A
    required email must look like one (``a@b.c``); a blank value is missing.
    """
    shown_set = set(shown)
    wanted = set(required) & shown_set
    if topic_count < 2:
        wanted.discard("topic")
    missing = []
    for name in PRECHAT_FIELDS:
        if name not in wanted:
            continue
        value = (values.get(name) or "").strip()
        if not value or (name == "email" and not valid_email(value)):
            missing.append(name)
    return missing


def eligible_counts(
    topics: Mapping[str, Mapping[str, int]],
    agents: Sequence[AgentView],
    memo: dict[str, tuple[str, ...]] | None = None,
) -> dict[str, int]:
    """Topic -> how many of ``agents`` (the ones online: connected, status online, not
    disabled) hold every skill the topic requires.  Free capacity does not matter: a
    busy agent will take the chat when one of theirs ends.  Optional skills do not
    matter either: they are dropped after a wait.

    ``memo`` (agent id -> the topics that agent qualifies for) is filled as agents are
    weighed and used for the agents already in it, so that a read where only a few agents
    came or went weighs only those.  It holds while ``topics`` and the agents' skills
    stay the same: the caller empties it when either changes."""
    counts = dict.fromkeys(topics, 0)
    for agent in agents:
        if not agent.available:
            continue
        names = memo.get(agent.id) if memo is not None else None
        if names is None:
            names = tuple(n for n, required in topics.items() if has_skills(agent, required))
            if memo is not None:
                memo[agent.id] = names
        for name in names:
            counts[name] += 1
    return counts


def availability_view(open_now: bool, counts: Mapping[str, int]) -> dict[str, object]:
    """What a visitor is shown (the ``availability`` frame): whether it is business
    hours, and per topic whether an eligible agent is online."""
    topics = {name: counts[name] > 0 for name in sorted(counts)}
    return {
        "open": open_now,
        "topics": topics,
        "agents_available": any(topics.values()),
    }


def changed_topics(before: Mapping[str, int], after: Mapping[str, int]) -> set[str]:
    """Topics whose "an eligible agent is online" answer differs (a topic missing from
    one side counts as having nobody)."""
    return {t for t in set(before) | set(after) if (before.get(t, 0) > 0) != (after.get(t, 0) > 0)}


def visitor_wait_s(position: int, eligible: int, avg_handle_s: float) -> int | None:
    """The wait estimate a visitor at 1-based ``position`` is shown, or None when no
    eligible agent is online: then nobody can say when someone will come, and the
    visitor is told so instead of being given a number.

    With ``eligible`` agents each freeing a slot about once per average handle time,
    the chat waits roughly ``ceil(position / eligible) * avg_handle``."""
    if eligible <= 0:
        return None
    if position <= 0:
        return 0
    handle = max(avg_handle_s, 1.0)
    return round(math.ceil(position / eligible) * handle)
