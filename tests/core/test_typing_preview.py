"""The typing gate: what a connection's ``typing`` frame is relayed as (pure)."""

from __future__ import annotations

from chatserver.core.typing_preview import TypingGate, TypingRelay


def gate() -> TypingGate:
    return TypingGate(indicator_ms=1000, preview_ms=500)


def test_a_draft_is_relayed_once_per_interval_and_stands_for_the_indicator() -> None:
    g = gate()
    assert g.decide(0, True, "H") == TypingRelay(on=True, preview="H")
    # too soon for a draft, and the draft used the indicator's turn: dropped
    assert g.decide(100, True, "He") is None
    # a draft's interval passed: the newest draft goes
    assert g.decide(500, True, "Hel") == TypingRelay(on=True, preview="Hel")
    assert g.decide(1600, True, "Hell") == TypingRelay(on=True, preview="Hell")
    assert g.decide(1700, True, "Hello") is None
    # no draft (the frame carries none, or may not): the indicator's own throttle
    assert g.decide(2000, True, None) is None
    assert g.decide(2600, True, None) == TypingRelay(on=True)


def test_without_a_draft_it_is_the_plain_throttled_indicator() -> None:
    g = gate()
    assert g.decide(0, True, None) == TypingRelay(on=True)
    assert g.decide(600, True, None) is None
    assert g.decide(1000, True, None) == TypingRelay(on=True)


def test_a_blank_draft_is_no_draft() -> None:
    g = gate()
    assert g.decide(0, True, "   ") == TypingRelay(on=True)
    assert g.decide(10, True, "Hi") == TypingRelay(on=True, preview="Hi")


def test_a_dropped_draft_falls_back_to_the_indicator_when_its_turn_came() -> None:
    g = TypingGate(indicator_ms=300, preview_ms=1000)
    assert g.decide(0, True, "a") == TypingRelay(on=True, preview="a")
    assert g.decide(400, True, "ab") == TypingRelay(on=True)


def test_a_draft_early_by_less_than_half_an_interval_still_goes() -> None:
    # sent an interval apart, the second delayed less than the first: jitter, not abuse
    g = gate()
    assert g.decide(0, True, "Do you") == TypingRelay(on=True, preview="Do you")
    assert g.decide(430, True, "Do you ship") == TypingRelay(on=True, preview="Do you ship")
    # a flood gets at most two drafts an interval
    relayed = [t for t in range(440, 940, 10) if g.decide(t, True, f"x{t}") is not None]
    assert [t for t in relayed if t < 930] == [680]


def test_stopping_always_goes_through_and_rearms_both() -> None:
    g = gate()
    assert g.decide(0, True, "a") == TypingRelay(on=True, preview="a")
    assert g.decide(1, False, "ignored") == TypingRelay(on=False)
    assert g.decide(2, True, "b") == TypingRelay(on=True, preview="b")
    assert g.decide(3, False, None) == TypingRelay(on=False)
    assert g.decide(4, True, None) == TypingRelay(on=True)
