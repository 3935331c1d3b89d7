"""core/timers.py: every due item gets exactly one action, in a fixed order."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from chatserver.core.timers import Action, Do, Due, actions, idle_deadline

ids = st.lists(st.text("abcdef0123", min_size=1, max_size=6), unique=True, max_size=8)
ORDER = [Do.LAPSE, Do.RELAX, Do.MISS, Do.RESCHEDULE_IDLE, Do.SWEEP_PRESENCE, Do.END_GRACE]


def test_examples() -> None:
    due = Due(
        offers=["c1"], relax=["c2"], missed=["c3"], idle={"c4": 0, "c5": 1_000, "c6": 9_000},
        presence=["a1"], graces=["a2"],
    )
    assert actions(due, now_ms=10_000, idle_timeout_ms=5_000) == [
        Action(Do.LAPSE, "c1"),
        Action(Do.RELAX, "c2"),
        Action(Do.MISS, "c3"),
        Action(Do.TIME_OUT, "c4"),  # no message at all: idle now
        Action(Do.TIME_OUT, "c5"),  # last message 9 s ago, timeout 5 s
        Action(Do.RESCHEDULE_IDLE, "c6", 14_000),  # a message 1 s ago: check again later
        Action(Do.SWEEP_PRESENCE, "a1"),
        Action(Do.END_GRACE, "a2"),
    ]


def test_idle_deadline_boundary() -> None:
    # exactly at the deadline the chat is idle (not rescheduled to now)
    assert actions(Due(idle={"c": 5_000}), 10_000, 5_000) == [Action(Do.TIME_OUT, "c")]
    assert actions(Due(idle={"c": 5_001}), 10_000, 5_000) == [
        Action(Do.RESCHEDULE_IDLE, "c", 10_001)
    ]
    assert idle_deadline(0, 5_000) == 0


@given(
    offers=ids, relax=ids, missed=ids, presence=ids, graces=ids,
    idle=st.dictionaries(st.text("xyz", min_size=1, max_size=4),
                         st.integers(0, 10**12), max_size=8),
    now=st.integers(0, 10**12), timeout=st.integers(1, 10**9),
)
def test_one_action_per_item_in_order(
    offers: list[str], relax: list[str], missed: list[str], presence: list[str],
    graces: list[str], idle: dict[str, int], now: int, timeout: int,
) -> None:
    due = Due(offers, relax, missed, idle, presence, graces)
    out = actions(due, now, timeout)
    assert len(out) == len(offers) + len(relax) + len(missed) + len(idle) + len(presence) + len(
        graces
    )
    # grouped in the fixed order (time-outs and reschedules share the idle slot)
    rank = [ORDER.index(Do.RESCHEDULE_IDLE if a.do is Do.TIME_OUT else a.do) for a in out]
    assert rank == sorted(rank)
    for a in out:
        if a.do in (Do.TIME_OUT, Do.RESCHEDULE_IDLE):
            last = idle[a.target]
            if a.do is Do.RESCHEDULE_IDLE:
                assert last and a.at_ms == last + timeout > now
            else:
                assert not last or last + timeout <= now
