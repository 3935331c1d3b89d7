"""The pure rules of outage notices (``chatserver.core.notices``)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatserver.core.notices import (
    Notice,
    NoticeError,
    applies,
    expired,
    in_force,
    is_active,
    next_expiry,
    pick_text,
    validate,
)

TOPICS = ("billing", "general", "tech")


def check(texts: dict[str, str], topics: tuple[str, ...] = (), expires: int | None = None
          ) -> tuple[dict[str, str], tuple[str, ...]]:
    return validate(texts, topics, expires, 1000, max_chars=20, known_topics=TOPICS)


def test_validate_cleans_texts_and_topics() -> None:
    texts, topics = check(
        {"en": "  down  ", "ar": " ", "uk": "впало"}, (" Tech", "billing", "tech")
    )
    assert texts == {"en": "down", "uk": "впало"}
    assert topics == ("billing", "tech")


@pytest.mark.parametrize(("texts", "topics", "expires", "why"), [
    ({"fr": "panne"}, (), None, "unknown language"),
    ({"en": "x" * 21}, (), None, "longer than 20"),
    ({"en": "  "}, (), None, "at least one language"),
    ({}, (), None, "at least one language"),
    ({"en": "down"}, ("sales",), None, "unknown topic"),
    ({"en": "down"}, (), 1000, "not in the future"),
    ({"en": "down"}, (), 5, "not in the future"),
])
def test_validate_refuses(texts: dict[str, str], topics: tuple[str, ...], expires: int | None,
                          why: str) -> None:
    with pytest.raises(NoticeError, match=why):
        check(texts, topics, expires)


def test_who_sees_a_notice() -> None:
    billing = Notice("a", {"en": "x"}, ("billing",), created_at=1, expires_at=100)
    everyone = Notice("b", {"en": "y"}, (), created_at=2)
    assert applies(billing, "billing", 50) and not applies(billing, "tech", 50)
    assert applies(billing, None, 50)  # no topic picked yet: every notice
    assert not applies(billing, "billing", 100)  # expired at its expiry
    assert [n.id for n in in_force([everyone, billing], "billing", 50)] == ["a", "b"]
    assert [n.id for n in in_force([everyone, billing], "tech", 50)] == ["b"]
    assert expired([everyone, billing], 100) == ["a"]
    assert next_expiry([everyone, billing], 50) == 100
    assert next_expiry([everyone, billing], 100) is None


def test_pick_text_falls_back_to_english_then_any() -> None:
    assert pick_text({"en": "down", "ar": "معطل"}, "ar") == "معطل"
    assert pick_text({"en": "down", "ar": "معطل"}, "uk") == "down"
    assert pick_text({"uk": "впало"}, "ar") == "впало"


def test_round_trip() -> None:
    n = Notice("a", {"en": "x"}, ("billing",), created_at=1, expires_at=None, by="supervisor:s")
    assert Notice.from_dict(n.as_dict()) == n


notices = st.lists(st.builds(
    Notice,
    id=st.text(min_size=1, max_size=4),
    texts=st.just({"en": "x"}),
    topics=st.lists(st.sampled_from(TOPICS), unique=True).map(tuple),
    created_at=st.integers(0, 100),
    expires_at=st.none() | st.integers(0, 200),
), max_size=8)


@given(notices, st.none() | st.sampled_from(TOPICS), st.integers(0, 200))
def test_in_force_is_what_applies_and_never_expired(
    ns: list[Notice], topic: str | None, now: int
) -> None:
    shown = in_force(ns, topic, now)
    assert all(is_active(n, now) for n in shown)
    assert {id(n) for n in shown} == {id(n) for n in ns if applies(n, topic, now)}
    # a visitor with a topic sees a subset of what one without sees
    assert {id(n) for n in shown} <= {id(n) for n in in_force(ns, None, now)}
    due = next_expiry(ns, now)
    assert due is None or due > now
