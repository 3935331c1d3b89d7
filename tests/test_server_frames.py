"""Every frame a real server sends is described by the server-frame Structs.

Real flows through a real `chatserver serve` process (start, queue, offer, decline, accept,
messages, typing, receipts, history, tags, transfer, supervisors, notices, close, rating,
offline messages, errors, reconnections, a trimmed log); every frame the visitors and
agents receive is decoded strictly against ``ServerFrame`` (unknown fields and unknown
types fail), and the flows must have produced every frame type.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import msgspec
import pytest

from chatserver.client import ChatClient, ClientError, Frame, http
from chatserver.protocol.server_frames import decode_server
from chatserver.store.keys import Keys
from tests.harness import Cluster, close_quietly, running, scaled


class StrictClient(ChatClient):
    """A ``ChatClient`` that checks every frame it receives against ``ServerFrame``.

    The client decodes msgpack into plain maps; msgpack maps decoded that way keep every
    type (int, float, str, bytes, nil), so encoding the map again gives the frame the
    server sent, which is then decoded strictly."""

    seen: Counter[str]
    undescribed: list[tuple[Frame, str]]

    def _check(self, frame: Frame) -> None:
        if not hasattr(self, "seen"):
            self.seen, self.undescribed = Counter(), []
        self.seen[str(frame.get("type"))] += 1
        try:
            decode_server(msgspec.msgpack.encode(frame))
        except msgspec.ValidationError as exc:
            self.undescribed.append((frame, str(exc)))

    async def connect(self) -> None:
        await super().connect()
        self._check(self.welcome)

    def _dispatch(self, frame: Frame) -> None:
        self._check(frame)
        super()._dispatch(frame)


def is_(kind: str, **fields: Any) -> Any:
    return lambda f: f["type"] == kind and all(f.get(k) == v for k, v in fields.items())


def chat_in(state: str, chat_id: str) -> Any:
    return lambda f: (f["type"] == "chat" and f["chat"]["id"] == chat_id
                      and f["chat"]["state"] == state)


async def test_every_frame_of_real_flows_decodes_strictly(redis_url: str) -> None:
    async with running(redis_url, live_metrics_interval_s="0.3") as cluster:
        await flows(cluster)


async def flows(cluster: Cluster) -> None:
    await cluster.set_topic("general")
    sue_token = await cluster.add_agent("sue", role="supervisor", capacity=0)
    alice_token = await cluster.add_agent("alice", capacity=2)
    bob_token = await cluster.add_agent("bob", capacity=2)

    async def agent(token: str) -> StrictClient:
        return await StrictClient.agent(cluster.urls[0], token)  # type: ignore[return-value]

    async def visitor() -> StrictClient:
        return await StrictClient.visitor(cluster.urls[0])  # type: ignore[return-value]

    sue, alice, bob = await agent(sue_token), await agent(alice_token), await agent(bob_token)
    v1, v2 = await visitor(), await visitor()
    clients: list[StrictClient] = [sue, alice, bob, v1, v2]
    t = scaled(10)
    try:
        # an outage notice, then its end (REST by the supervisor; pushed to everyone)
        status, notice = await http("POST", f"{cluster.urls[0]}/api/notices",
                                    {"texts": {"en": "Slow today"}}, sue_token)
        assert status == 201, notice
        await v1.wait_for(is_("notice", id=notice["id"]), t)
        await alice.wait_for(is_("notice", id=notice["id"]), t)
        status, _ = await http("POST", f"{cluster.urls[0]}/api/notices/{notice['id']}/end",
                               {}, sue_token)
        assert status == 200
        await v2.wait_for(is_("notice_end", id=notice["id"]), t)

        # errors: an unknown topic, a bad frame, a chat that is not theirs
        with pytest.raises(ClientError, match="unknown_topic"):
            await v1.request({"type": "start", "topic": "nope", "name": "V", "email": "v@x.io"})
        await v1.send_raw(msgspec.msgpack.encode({"type": "start", "name": 5}))
        await v1.wait_for(is_("error", code="bad_frame"), t)
        await v1.request({"type": "ping"})

        # nobody online: v2 queues, sees its position, leaves
        await alice.request({"type": "status", "status": "away"})
        await sue.request({"type": "status", "status": "away"})
        await bob.request({"type": "status", "status": "away"})
        await alice.wait_for(is_("status", status="away"), t)
        await v2.wait_for(is_("availability", agents_available=False), t)
        queued = await v2.start(name="Two", email="two@example.com")
        await v2.wait_for(is_("queue", chat=queued["id"]), t)
        await v2.request({"type": "leave", "chat": queued["id"]})
        await v2.request({"type": "offline", "email": "two@example.com", "text": "call me"})

        # v1 starts; alice declines the offer, bob takes it
        await alice.request({"type": "status", "status": "online"})
        chat = (await v1.start(name="One", email="one@example.com"))["id"]
        await alice.wait_for(is_("offer"), t)
        await alice.request({"type": "decline", "chat": chat})
        await alice.wait_for(is_("revoked", chat=chat, reason="decline"), t)
        await bob.request({"type": "status", "status": "online"})
        await bob.wait_for(lambda f: f["type"] == "offer" and f["chat"]["id"] == chat, t)
        await bob.request({"type": "accept", "chat": chat})
        await bob.wait_for(lambda f: f["type"] == "assigned" and f["chat"]["id"] == chat, t)
        await v1.wait_for(chat_in("active", chat), t)

        # the conversation: messages, typing, receipts, notes, history, tags
        await v1.say(chat, "hello")
        await bob.wait_messages(chat, 1, t)
        await v1.send({"type": "typing", "chat": chat, "on": True})
        await bob.wait_for(is_("typing", chat=chat), t)
        await bob.say(chat, "hi, how can I help?")
        await v1.wait_messages(chat, 2, t)
        await v1.send({"type": "read", "chat": chat, "seq": v1.last_seq[chat]})
        await bob.wait_for(is_("read", chat=chat), t)
        await bob.request({"type": "msg", "chat": chat, "cid": "n1", "text": "note",
                           "internal": True})
        await bob.request({"type": "tags", "chat": chat, "tags": ["billing"]})
        await v1.request({"type": "history", "chat": chat})
        await bob.request({"type": "history", "chat": chat})
        with pytest.raises(ClientError, match="invalid_state"):
            await v1.request({"type": "msg", "chat": "c0000000000000000", "cid": "x",
                              "text": "?"})

        # the supervisor: snapshot, watch, whisper, join; live figures arrive unasked
        await sue.request({"type": "queues"})
        await sue.request({"type": "watch", "chat": chat})
        await sue.request({"type": "whisper", "chat": chat, "cid": "w1", "text": "psst"})
        await sue.request({"type": "unwatch", "chat": chat})
        await sue.request({"type": "join", "chat": chat})
        await sue.wait_for(is_("live"), t)

        # transfer to alice, she closes, the visitor rates; a visitor reconnects (resume)
        await bob.request({"type": "transfer", "chat": chat, "agent": "alice", "note": "yours"})
        await bob.wait_for(is_("revoked", chat=chat, reason="transfer"), t)
        await alice.wait_for(lambda f: f["type"] == "assigned" and f["chat"]["id"] == chat, t)
        # a second console of alice's and a second tab of v1's: welcomes holding the chat
        alice2 = await agent(alice_token)
        v1b = await StrictClient.visitor(cluster.urls[0], v1.welcome["token"])
        clients += [alice2, v1b]  # type: ignore[list-item]
        assert [c["id"] for c in alice2.welcome["chats"]] == [chat]
        assert v1b.welcome["chat"]["id"] == chat
        # the first message is gone from the log (as if trimmed): a resume says so
        redis = cluster.redis()
        try:
            assert await redis.xdel(Keys(cluster.prefix).chat_log(chat), "1-0") == 1
        finally:
            await redis.aclose()
        await v1.request({"type": "resume", "chat": chat, "after": 0})
        await v1.wait_for(is_("resync", chat=chat), t)
        await alice.request({"type": "close", "chat": chat, "tags": ["done"]})
        await alice.wait_for(is_("ended", chat=chat), t)
        await v1.wait_for(chat_in("closed", chat), t)
        await v1.request({"type": "rate", "chat": chat, "rating": 5, "comment": "great"})
    finally:
        await close_quietly(list(clients))

    undescribed = [u for c in clients for u in c.undescribed]
    assert not undescribed, undescribed
    seen = sum((c.seen for c in clients), Counter[str]())
    expected = {
        "welcome", "chat", "queue", "offer", "assigned", "revoked", "ended", "status",
        "msg", "ack", "typing", "read", "history", "queues", "ok", "pong", "error", "live",
        "availability", "notice", "notice_end", "resync",
    }
    assert expected <= set(seen), expected - set(seen)
