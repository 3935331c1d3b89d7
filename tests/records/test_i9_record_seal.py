"""Every acknowledged message is in the chat's record, even when the process that ended the
chat died before sealing its log (found by the fault soak: a record with messages [1, 2]
for a log of [1, 2, 3]).

Ending a chat is two steps in two slots: ``close_chat`` in the routing slot, then the log's
meta is marked closed in the chat's slot.  This test performs only the first step, as a
process killed between them would, then checks that the record writer seals the log before
it reads it: a message sent after the record was written is refused, and the record holds
every message the log holds."""

from __future__ import annotations

import pytest

from chatserver.client import ClientError
from chatserver.core.lifecycle import ChatEvent
from chatserver.settings import Settings
from chatserver.store.chats import ChatStore
from chatserver.store.keys import Keys
from chatserver.store.scripts import Scripts
from tests.harness import Cluster
from tests.records.test_records_api import active_chat, wait_record


@pytest.mark.timeout(60)
async def test_i9_soak_record_has_every_message_when_the_closer_died_before_sealing(
    records_cluster: Cluster,
) -> None:
    cluster = records_cluster
    token = await cluster.add_agent("alice")
    agent = await cluster.agent(token, server=1)
    visitor = await cluster.visitor(server=0)
    redis = cluster.redis()
    try:
        chat_id = await active_chat(agent, visitor)
        await visitor.say(chat_id, "one")
        await agent.say(chat_id, "two")
        # the first step of ending the chat only: the closing process "died" after it
        settings = Settings(key_prefix=cluster.prefix)
        keys = Keys(cluster.prefix)
        chats = ChatStore(redis, keys, Scripts(redis), settings)
        ended = await chats.end_chat(
            chat_id, ChatEvent.CLOSE, await _now_ms(redis), by="agent:alice",
            outcome="resolved",
        )
        assert ended.ok, ended.reason
        record = await wait_record(cluster, chat_id)
        assert [m["text"] for m in record["messages"]] == ["one", "two"]
        # the log is sealed: nothing is acknowledged that the record cannot hold
        with pytest.raises(ClientError) as refused:
            await visitor.say(chat_id, "three")
        assert refused.value.code == "invalid_state"
        log = await redis.xrange(keys.chat_log(chat_id))
        assert len(log) == 2
    finally:
        await redis.aclose()
        for c in (agent, visitor):
            await c.close()


async def _now_ms(redis: object) -> int:
    seconds, micros = await redis.time()  # type: ignore[attr-defined]
    return int(seconds) * 1000 + int(micros) // 1000
