"""Outage notices (incident broadcasts): which notices are in force, and for whom.

A notice has a text per language, the topics it is about (none: every topic) and an
optional expiry.  Everything here takes the notices and the time and decides; the store
(``store/notices.py``) keeps them and the hub (``hub/notices.py``) delivers them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

LANGUAGES = ("en", "ar", "uk")
"""The languages a notice's text may be given in (the widget's and console's)."""


class NoticeError(ValueError):
    """A notice that cannot be posted; the message says why."""


@dataclass(frozen=True)
class Notice:
    id: str
    texts: Mapping[str, str]
    topics: tuple[str, ...] = ()
    """Topics whose visitors see it; empty: every topic."""
    created_at: int = 0
    expires_at: int | None = None
    """Time (ms) it stops being shown; None: until ended."""
    by: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "texts": dict(self.texts),
            "topics": list(self.topics),
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "by": self.by,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Notice:
        expires = data.get("expires_at")
        return cls(
            id=str(data.get("id", "")),
            texts={str(k): str(v) for k, v in (data.get("texts") or {}).items()},
            topics=tuple(str(t) for t in data.get("topics") or ()),
            created_at=int(data.get("created_at") or 0),
            expires_at=int(expires) if expires is not None else None,
            by=str(data.get("by", "")),
        )


def validate(
    texts: Mapping[str, str],
    topics: Iterable[str],
    expires_at: int | None,
    now: int,
    *,
    max_chars: int,
    known_topics: Iterable[str],
) -> tuple[dict[str, str], tuple[str, ...]]:
    """The texts (trimmed, only languages given) and topics (lower case, sorted, no
    repeats) of a new notice; raises :class:`NoticeError` if it cannot be posted."""
    clean: dict[str, str] = {}
    for lang, text in texts.items():
        if lang not in LANGUAGES:
            raise NoticeError(f"unknown language {lang!r}: one of {', '.join(LANGUAGES)}")
        text = text.strip()
        if not text:
            continue
        if len(text) > max_chars:
            raise NoticeError(f"text ({lang}) is longer than {max_chars} characters")
        clean[lang] = text
    if not clean:
        raise NoticeError("a notice needs a text in at least one language")
    names = tuple(sorted({t.strip().lower() for t in topics if t.strip()}))
    unknown = sorted(set(names) - set(known_topics))
    if unknown:
        raise NoticeError(f"unknown topic {unknown[0]!r}")
    if expires_at is not None and expires_at <= now:
        raise NoticeError("expires_at is not in the future")
    return clean, names


def is_active(notice: Notice, now: int) -> bool:
    return notice.expires_at is None or notice.expires_at > now


def applies(notice: Notice, topic: str | None, now: int) -> bool:
    """Is ``notice`` shown to a visitor of ``topic`` at ``now``?  ``topic`` None: a visitor
    who has not chosen one yet (they see every notice in force)."""
    if not is_active(notice, now):
        return False
    return topic is None or not notice.topics or topic in notice.topics


def in_force(notices: Iterable[Notice], topic: str | None, now: int) -> list[Notice]:
    """The notices a visitor of ``topic`` sees at ``now``, oldest first."""
    return sorted(
        (n for n in notices if applies(n, topic, now)), key=lambda n: (n.created_at, n.id)
    )


def expired(notices: Iterable[Notice], now: int) -> list[str]:
    """Ids of the notices whose expiry has passed."""
    return [n.id for n in notices if not is_active(n, now)]


def next_expiry(notices: Iterable[Notice], now: int) -> int | None:
    """The earliest expiry still to come (ms), or None."""
    times = [n.expires_at for n in notices if n.expires_at is not None and n.expires_at > now]
    return min(times) if times else None


def pick_text(texts: Mapping[str, str], language: str, fallback: str = "en") -> str:
    """The text in ``language``, else in ``fallback``, else any."""
    for lang in (language, fallback, *LANGUAGES):
        if texts.get(lang):
            return texts[lang]
    return next(iter(texts.values()), "")
