"""The contract of a chat's messages (``Messages``): exactly-once append with growing
sequence numbers, only participants post while the chat is open, read receipts never go
backwards or past the last message, and the log reads back in both directions."""

from __future__ import annotations

from typing import Any

import msgspec

from chatserver.store.messages import AGENTS_ONLY, EVERYONE
from tests.store.conftest import T0, Stores


async def _post(stores: Stores, cid: str, *, role: str = "visitor", who: str = "v1",
                audience: str = EVERYONE, system: bool = False) -> tuple[str, int]:
    result = await stores.messages.post(
        "c1", role=role, sender_id=who, sender_name=who, cid=cid, text=f"text {cid}",
        kind="message", audience=audience, now_ms=T0, system=system,
    )
    return result.status, result.seq


def _text(frame: bytes) -> Any:
    return msgspec.msgpack.decode(frame)["text"]


async def test_post_once_per_client_id(stores: Stores) -> None:
    await stores.messages.open_chat("c1", ["visitor:v1", "agent:alice"])
    assert await _post(stores, "m1") == ("ok", 1)
    assert await _post(stores, "m2", role="agent", who="alice") == ("ok", 2)
    assert await _post(stores, "m1") == ("dup", 1)  # the same message again: same seq
    assert await stores.messages.last_seq("c1") == 2
    gap, entries = await stores.messages.read_after("c1", 0, 10)
    assert not gap
    assert [(e.seq, _text(e.frame)) for e in entries] == [(1, "text m1"), (2, "text m2")]


async def test_only_participants_post_while_open(stores: Stores) -> None:
    assert await _post(stores, "m0") == ("closed", 0)  # never opened
    await stores.messages.open_chat("c1", ["visitor:v1"])
    assert await _post(stores, "m1", role="agent", who="mallory") == ("forbidden", 0)
    assert await _post(stores, "m2", role="system", who="hub", system=True) == ("ok", 1)
    await stores.messages.set_participants("c1", add=["agent:bob"], remove=["visitor:v1"])
    assert await _post(stores, "m3") == ("forbidden", 0)
    assert await _post(stores, "m4", role="agent", who="bob") == ("ok", 2)
    await stores.messages.close_chat("c1")
    assert await _post(stores, "m5", role="agent", who="bob") == ("closed", 0)
    assert await stores.messages.last_seq("c1") == 2


async def test_read_receipts_clamp_and_never_go_back(stores: Stores) -> None:
    await stores.messages.open_chat("c1", ["visitor:v1"])
    for i in range(3):
        await _post(stores, f"m{i}")
    assert await stores.messages.mark_read("c1", "visitor:v1", 2) == (2, True)
    assert await stores.messages.mark_read("c1", "visitor:v1", 1) == (2, False)
    assert await stores.messages.mark_read("c1", "visitor:v1", 99) == (3, True)
    assert await stores.messages.mark_read("c1", "visitor:v1", 99) == (3, False)
    assert await stores.messages.mark_read("c1", "agent:nobody", 1) == (-1, False)


async def test_pages_back_and_internal_notes(stores: Stores) -> None:
    await stores.messages.open_chat("c1", ["visitor:v1", "agent:alice"])
    for i in range(5):
        audience = AGENTS_ONLY if i == 2 else EVERYONE
        await _post(stores, f"m{i}", role="agent", who="alice", audience=audience)
    complete, trimmed, page = await stores.messages.read_before("c1", None, 2, internal=False)
    assert [e.seq for e in page] == [4, 5] and not complete and not trimmed
    complete, trimmed, page = await stores.messages.read_before("c1", 4, 10, internal=False)
    assert [e.seq for e in page] == [1, 2] and complete and not trimmed  # 3 is a note
    _, _, page = await stores.messages.read_before("c1", 4, 10, internal=True)
    assert [e.seq for e in page] == [1, 2, 3]
    gap, after = await stores.messages.read_after("c1", 3, 10)
    assert not gap and [e.seq for e in after] == [4, 5]
