"""The records scenario on a controlled clock: every field of the records and every metric,
checked against values worked out by hand.

Timeline (seconds after T0 = 2027-01-15 10:00:00 UTC; offer timeout 20 s, queue timeout
100 s, short abandon < 5 s, service level target 20 s):

  0  alice (billing:5, capacity 2) and bob (billing:8, capacity 1) come online
  0  V1 starts C1 (billing); alice has the most free capacity: offered to alice
  1  V1: "I need help with billing"
  5  alice declines; C1 is offered to bob
 25  bob lets it lapse: bob is set away; nobody else is eligible, C1 waits
 40  carol (billing:6, capacity 1) comes online: C1 offered to carol
 42  carol accepts                                  -> C1 wait = 42 s
 50  carol: "Hi, carol here"                         -> C1 first response = 50 s
 60  carol transfers C1 to alice with a note (internal)
 70  alice: "Alice here"
120  alice closes C1 (resolved, tags: refund)       -> C1 handle = 120 - 42 = 78 s
125  V1 rates C1 4 "ok"
130  V2 starts C2 (general); alice (2 free) beats carol (1 free): offered to alice
133  alice accepts                                  -> C2 wait = 3 s
135  alice: "Hello"                                 -> C2 first response = 5 s
190  alice closes C2 (resolved)                     -> C2 handle = 190 - 133 = 57 s
200  V3 starts C3 (general): offered to alice
203  V3 leaves                                      -> abandoned after 3 s: a short abandon
210  V4 starts C4: offered to alice; 212 alice declines -> carol; 215 carol declines
230  V4 leaves                                      -> abandoned after 20 s
240  V5 starts C5 (tech): nobody has tech
340  C5 is missed (queued 100 s)
350  V6 leaves an offline message
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from chatserver.client import ChatClient, http, login
from tests.harness import ADMIN_PASSWORD, AGENT_PASSWORD, scaled
from tests.inprocess import FakeClock, inprocess_hubs

T0 = 1_800_007_200_000  # 2027-01-15T10:00:00Z
S = 1000


def at(seconds: float) -> int:
    return T0 + int(seconds * S)


async def until(check: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + scaled(10)
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def frame(client: ChatClient, kind: str, chat: str | None = None, since: int = 0) -> Any:
    for f in client.frames[since:]:
        chat_of = f.get("chat", {}).get("id") if isinstance(f.get("chat"), dict) else f.get("chat")
        if f.get("type") == kind and (chat is None or chat_of == chat):
            return f
    return None


@pytest.mark.timeout(120)
async def test_records_and_metrics_of_a_scripted_day(redis_url: str, database_url: str) -> None:
    clock = FakeClock(T0)
    async with inprocess_hubs(
        redis_url, clock, n=2, database_url=database_url, offer_timeout_s=20.0,
        queue_timeout_s=100.0, relax_after_s=1000.0, short_abandon_s=5.0,
        service_level_target_s=20.0, live_metrics_interval_s=3600.0,
        presence_ttl_s=100_000.0,  # the clock jumps; presence is not what this tests
    ) as urls:
        admin = await login(urls[0], "admin", ADMIN_PASSWORD)
        for agent_id, skills, capacity in (
            ("alice", {"billing": 5}, 2), ("bob", {"billing": 8}, 1),
            ("carol", {"billing": 6}, 1),
        ):
            status, body = await http("POST", urls[0] + "/api/agents", {
                "id": agent_id, "password": AGENT_PASSWORD, "capacity": capacity,
                "skills": skills}, admin)
            assert status == 201, body
        for topic, required in (("billing", {"billing": 0}), ("tech", {"tech": 0})):
            status, body = await http("PUT", f"{urls[0]}/api/topics/{topic}",
                                      {"required": required, "priority": 5}, admin)
            assert status == 200, body
        await http("PATCH", urls[0] + "/api/agents/admin", {"capacity": 0}, admin)
        tokens = {a: await login(urls[0], a, AGENT_PASSWORD) for a in ("alice", "bob", "carol")}
        clients: list[ChatClient] = []
        try:
            alice = await ChatClient.agent(urls[0], tokens["alice"])
            bob = await ChatClient.agent(urls[1], tokens["bob"])
            clients += [alice, bob]
            # 0: C1
            v1 = await ChatClient.visitor(urls[1])
            clients.append(v1)
            c1 = (await v1.start(topic="billing", name="Vera", email="vera@example.com",
                                 page="https://shop.example/p/1", locale="uk"))["id"]
            await until(lambda: frame(alice, "offer", c1), "C1 offered to alice")
            clock.at(T0, 1)
            await v1.say(c1, "I need help with billing")
            clock.at(T0, 5)
            await alice.request({"type": "decline", "chat": c1})
            await until(lambda: frame(bob, "offer", c1), "C1 offered to bob")
            clock.at(T0, 25)
            await until(lambda: frame(bob, "revoked", c1), "bob's offer lapsed")
            clock.at(T0, 40)
            carol = await ChatClient.agent(urls[0], tokens["carol"])
            clients.append(carol)
            await until(lambda: frame(carol, "offer", c1), "C1 offered to carol")
            clock.at(T0, 42)
            await carol.request({"type": "accept", "chat": c1})
            clock.at(T0, 50)
            await carol.say(c1, "Hi, carol here")
            clock.at(T0, 60)
            await carol.request({"type": "transfer", "chat": c1, "agent": "alice",
                                 "note": "please take over"})
            await until(lambda: frame(alice, "assigned", c1), "C1 assigned to alice")
            clock.at(T0, 70)
            await alice.say(c1, "Alice here")
            clock.at(T0, 120)
            await alice.request({"type": "close", "chat": c1, "outcome": "resolved",
                                 "tags": ["refund"]})
            clock.at(T0, 125)
            await v1.request({"type": "rate", "chat": c1, "rating": 4, "comment": "ok"})
            # 130: C2
            clock.at(T0, 130)
            v2 = await ChatClient.visitor(urls[0])
            clients.append(v2)
            c2 = (await v2.start(name="Omar"))["id"]
            await until(lambda: frame(alice, "offer", c2), "C2 offered to alice")
            clock.at(T0, 133)
            await alice.request({"type": "accept", "chat": c2})
            clock.at(T0, 135)
            await alice.say(c2, "Hello")
            clock.at(T0, 190)
            await alice.request({"type": "close", "chat": c2, "outcome": "resolved"})
            # 200: C3, a short abandon
            clock.at(T0, 200)
            v3 = await ChatClient.visitor(urls[1])
            clients.append(v3)
            c3 = (await v3.start())["id"]
            await until(lambda: frame(alice, "offer", c3), "C3 offered to alice")
            clock.at(T0, 203)
            await v3.request({"type": "leave", "chat": c3})
            # 210: C4, declined twice, then abandoned
            clock.at(T0, 210)
            v4 = await ChatClient.visitor(urls[0])
            clients.append(v4)
            c4 = (await v4.start())["id"]
            await until(lambda: frame(alice, "offer", c4), "C4 offered to alice")
            clock.at(T0, 212)
            await alice.request({"type": "decline", "chat": c4})
            await until(lambda: frame(carol, "offer", c4), "C4 offered to carol")
            clock.at(T0, 215)
            await carol.request({"type": "decline", "chat": c4})
            clock.at(T0, 230)
            await v4.request({"type": "leave", "chat": c4})
            # 240: C5, missed at 340
            clock.at(T0, 240)
            v5 = await ChatClient.visitor(urls[1])
            clients.append(v5)
            c5 = (await v5.start(topic="tech"))["id"]
            clock.at(T0, 340)
            await until(
                lambda: any(f.get("type") == "chat" and f["chat"]["state"] == "missed"
                            for f in v5.frames),
                "C5 missed",
            )
            # 350: an offline message
            clock.at(T0, 350)
            v6 = await ChatClient.visitor(urls[0])
            clients.append(v6)
            c6 = (await v6.request({"type": "offline", "email": "late@example.com",
                                    "text": "call me"}))["chat"]
            clock.at(T0, 360)

            records = {}
            for name, chat_id in (("C1", c1), ("C2", c2), ("C3", c3), ("C4", c4),
                                  ("C5", c5), ("C6", c6)):
                records[name] = await wait_record(urls[0], admin, chat_id,
                                                  rated=name == "C1")
            check_records(records)
            status, body = await http(
                "GET", f"{urls[1]}/api/metrics?from={T0}&to={at(360)}", token=admin
            )
            assert status == 200, body
            check_metrics(body["metrics"])
            status, body = await http(
                "GET", f"{urls[1]}/api/metrics?from={T0}&to={at(360)}&group=agent", token=admin
            )
            check_agent_metrics(body["groups"])
            status, body = await http(
                "GET", f"{urls[1]}/api/metrics?from={T0}&to={at(360)}&group=topic", token=admin
            )
            topics = body["groups"]
            assert topics["billing"]["offered"] == 1 and topics["billing"]["answered"] == 1
            assert topics["general"]["offered"] == 3 and topics["general"]["answered"] == 1
            assert topics["general"]["short_abandoned"] == 1
            assert topics["general"]["abandoned"] == 1
            assert topics["tech"]["missed"] == 1
            status, body = await http(
                "GET", f"{urls[1]}/api/metrics?from={T0}&to={at(360)}&group=hour", token=admin
            )
            assert list(body["groups"]) == ["2027-01-15T10:00Z"]
            assert body["groups"]["2027-01-15T10:00Z"]["offered"] == 5
        finally:
            for c in clients:
                await c.close()


async def wait_record(url: str, token: str, chat_id: str, rated: bool) -> dict[str, Any]:
    deadline = time.monotonic() + scaled(15)
    while True:
        status, body = await http("GET", f"{url}/api/records/{chat_id}", token=token)
        if status == 200 and (not rated or body["rating"] is not None):
            return dict(body)
        assert time.monotonic() < deadline, (chat_id, status, body)
        await asyncio.sleep(0.05)


def check_records(r: dict[str, dict[str, Any]]) -> None:
    c1 = r["C1"]
    assert (c1["end_state"], c1["outcome"], c1["tags"]) == ("closed", "resolved", ["refund"])
    assert (c1["visitor_name"], c1["visitor_email"], c1["locale"]) == (
        "Vera", "vera@example.com", "uk")
    assert c1["page_url"] == "https://shop.example/p/1" and c1["topic"] == "billing"
    assert c1["required_skills"] == {"billing": 0} and c1["priority"] == 5
    assert (c1["rating"], c1["rating_comment"]) == (4, "ok")
    assert c1["created_at"] == T0 and c1["queued_at"] == T0
    assert c1["first_offer_at"] == T0 and c1["accepted_at"] == at(42)
    assert c1["first_agent_reply_at"] == at(50) and c1["ended_at"] == at(120)
    assert c1["agent_id"] == "alice" and c1["ended_by"] == "agent:alice"
    events = [(e["kind"], e["at"], e["agent_id"], e["result"]) for e in c1["events"]]
    assert events == [
        ("created", T0, None, None),
        ("offer", T0, "alice", "declined"),
        ("decline", at(5), "alice", None),
        ("offer", at(5), "bob", "lapsed"),
        ("lapse", at(25), "bob", None),
        ("offer", at(40), "carol", "accepted"),
        ("accept", at(42), "carol", None),
        ("transfer", at(60), "carol", None),
        ("end", at(120), "alice", None),
    ]
    assert c1["events"][7]["detail"] == "alice"
    spans = [(a["agent_id"], a["joined_at"], a["left_at"], a["left_reason"]) for a in c1["agents"]]
    assert spans == [("carol", at(42), at(60), "transfer"), ("alice", at(60), at(120), "end")]
    messages = [(m["seq"], m["at"], m["sender_role"], m["sender_id"], m["kind"], m["internal"],
                 m["text"]) for m in c1["messages"]]
    assert messages == [
        (1, at(1), "visitor", messages[0][3], "message", False, "I need help with billing"),
        (2, at(50), "agent", "carol", "message", False, "Hi, carol here"),
        (3, at(60), "agent", "carol", "note", True, "please take over"),
        # the visitor is told who has the chat now (issue 9, item 9)
        (4, at(60), "agent", "alice", "system", False, "transferred"),
        (5, at(70), "agent", "alice", "message", False, "Alice here"),
    ]
    assert [(t["at"], t["from"], t["to"], t["by"], t["note"]) for t in c1["transfers"]] == [
        (at(60), "carol", "alice", "agent:carol", "please take over"),
    ]
    c2 = r["C2"]
    assert (c2["end_state"], c2["accepted_at"], c2["first_agent_reply_at"], c2["ended_at"]) == (
        "closed", at(133), at(135), at(190))
    assert [a["agent_id"] for a in c2["agents"]] == ["alice"] and c2["rating"] is None
    c3 = r["C3"]
    assert (c3["end_state"], c3["accepted_at"], c3["ended_at"], c3["agent_id"]) == (
        "abandoned", None, at(203), None)
    assert [(e["kind"], e["result"]) for e in c3["events"]] == [
        ("created", None), ("offer", "withdrawn"), ("end", None)]
    c4 = r["C4"]
    assert c4["end_state"] == "abandoned" and c4["ended_at"] == at(230)
    assert [(e["kind"], e["agent_id"], e["result"]) for e in c4["events"] if e["kind"] == "offer"
            ] == [("offer", "alice", "declined"), ("offer", "carol", "declined")]
    c5 = r["C5"]
    assert (c5["end_state"], c5["ended_at"], c5["first_offer_at"]) == ("missed", at(340), None)
    c6 = r["C6"]
    assert (c6["end_state"], c6["visitor_email"], c6["queued_at"]) == (
        "offline", "late@example.com", None)
    assert [m["text"] for m in c6["messages"]] == ["call me"]


def check_metrics(m: dict[str, Any]) -> None:
    # offered: C1-C5 (the offline message is not offered); answered C1, C2
    assert (m["offered"], m["answered"], m["abandoned"], m["short_abandoned"], m["missed"],
            m["offline_messages"]) == (5, 2, 1, 1, 1, 1)
    assert m["answer_rate"] == 2 / 4 and m["abandon_rate"] == 1 / 4  # over 5 - 1 short
    assert m["avg_speed_of_answer_s"] == (42 + 3) / 2
    assert (m["wait_p50_s"], m["wait_p90_s"], m["wait_p95_s"]) == (3.0, 42.0, 42.0)
    assert m["answered_within_target"] == 1 and m["service_level"] == 1 / 4  # C2 only
    assert m["service_level_met"] is False
    assert m["avg_first_response_s"] == (50 + 5) / 2
    assert m["avg_handle_s"] == (78 + 57) / 2
    assert (m["rated"], m["csat"], m["avg_rating"]) == (1, 1.0, 4.0)
    assert m["closed"] == 2 and m["resolution_counts"] == {"resolved": 2}
    # online: alice 0-360, bob 0-25 (then away), carol 40-360 = 360 + 25 + 320 = 705 s
    # busy: carol 42-60 (18 s), alice 60-120 and 133-190 (117 s) = 135 s
    assert m["online_s"] == 705.0 and m["busy_s"] == 135.0
    assert m["occupancy"] == pytest.approx(135 / 705)


def check_agent_metrics(groups: dict[str, dict[str, Any]]) -> None:
    alice = groups["alice"]
    assert (alice["offered"], alice["answered"], alice["avg_handle_s"]) == (2, 2, 67.5)
    assert alice["online_s"] == 360.0 and alice["busy_s"] == 117.0
    assert alice["occupancy"] == pytest.approx(117 / 360)
    assert groups["carol"]["online_s"] == 320.0 and groups["carol"]["busy_s"] == 18.0
    assert groups["bob"]["online_s"] == 25.0 and groups["bob"]["occupancy"] == 0.0
