"""core/positions.py: which waiting visitors are told a new queue position."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from chatserver.core.positions import Settle, Update, look_up, ranks, settle, to_send

chat_ids = st.text("abcdefgh", min_size=1, max_size=3)
topics = st.sampled_from(["billing", "sales", "tech"])


@given(
    queues=st.dictionaries(topics, st.lists(chat_ids, unique=True, max_size=12), max_size=3),
    waiting=st.dictionaries(chat_ids, st.tuples(topics, st.integers(-1, 12)), max_size=12),
)
def test_ranks_and_what_is_sent(
    queues: dict[str, list[str]], waiting: dict[str, tuple[str, int]]
) -> None:
    found = ranks(waiting, queues)
    for chat_id, (topic, place) in found.items():
        assert chat_id in waiting
        assert queues[topic][place - 1] == chat_id
    for members in queues.values():
        for chat_id in members:
            if chat_id in waiting:
                assert chat_id in found
    sent = to_send(waiting, found)
    assert {u.chat_id for u in sent} == {
        c for c, (_, place) in found.items() if waiting[c][1] != place
    }
    assert all(found[u.chat_id] == (u.topic, u.position) for u in sent)
    # nothing to look up but the chats missing from a queue or of unknown visitor
    known = [c for c in waiting if c in found]
    assert look_up(waiting, found, known) == [c for c in waiting if c not in found]


def test_examples() -> None:
    waiting = {"c1": ("sales", 2), "c2": ("sales", -1), "c3": ("tech", 1)}
    found = ranks(waiting, {"sales": ["c9", "c1", "c2"], "tech": []})
    assert found == {"c1": ("sales", 2), "c2": ("sales", 3)}
    assert to_send(waiting, found) == [Update("c2", "sales", 3)]
    assert look_up(waiting, found, ["c1"]) == ["c2", "c3"]


def test_settle() -> None:
    assert settle("queued", True, 0, 5) is Settle.VISITOR
    assert settle("queued", False, 0, 5) is Settle.MOVED  # transferred to another queue
    assert settle("offered", False, 5, 5) is Settle.DROP
    assert settle("active", False, 6, 5) is Settle.KEEP  # watched again during the pass
    assert settle("", False, 0, 5) is Settle.DROP  # gone
