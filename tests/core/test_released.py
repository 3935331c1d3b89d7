"""The released agents' sweep (core/released.py): whose participation goes."""

from __future__ import annotations

from chatserver.core.lifecycle import ChatState
from chatserver.core.released import drop_participation, member, parse


def test_a_note_names_the_chat_and_the_agent() -> None:
    assert parse(member("c1a2", "alice|x")) == ("c1a2", "alice|x")


def test_the_participation_stays_only_with_a_holder_again() -> None:
    assert not drop_participation("alice", "alice", ChatState.ACTIVE)
    assert not drop_participation("alice", "alice", ChatState.OFFERED)
    assert drop_participation("alice", "bob", ChatState.ACTIVE)
    assert drop_participation("alice", "", ChatState.QUEUED)
    assert drop_participation("alice", "alice", ChatState.CLOSED)
    assert drop_participation("alice", "", None)  # the chat is gone
