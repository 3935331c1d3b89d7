"""NPS: the 0-10 "how likely are you to recommend us?" answer -- validation, the
promoter/passive/detractor groups and the score (hand-checked), the metrics, and the whole
path on real servers: the widget setting, the rate frame, the record, the metrics API and
the CSV and JSON exports."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import urllib.request
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatserver.client import ClientError, http
from chatserver.protocol import ErrorCode, ProtocolError, decode_visitor
from chatserver.records.metrics import RecordRow, compute
from chatserver.records.nps import classify, nps_figures, parse_score
from tests.harness import Cluster
from tests.records.test_records_api import active_chat, wait_record

# --- the pure part ------------------------------------------------------------------------


def test_groups_at_their_boundaries() -> None:
    assert [classify(s) for s in range(11)] == (
        ["detractor"] * 7 + ["passive"] * 2 + ["promoter"] * 2
    )


@pytest.mark.parametrize(("scores", "expected"), [
    # 10, 9 promoters; 8, 7 passives; 6, 0 detractors: 2/6 - 2/6 = 0
    ([10, 9, 8, 7, 6, 0], (6, 2, 2, 2, 0.0)),
    # 3 promoters, 1 passive, 1 detractor of 5: 60 % - 20 % = 40
    ([10, 10, 9, 7, 3], (5, 3, 1, 1, 40.0)),
    # all detractors: -100; all promoters: +100
    ([0, 5, 6], (3, 0, 0, 3, -100.0)),
    ([9], (1, 1, 0, 0, 100.0)),
    # 1 promoter, 2 passives, 4 detractors of 7: (1 - 4) / 7 = -42.857...
    ([9, 7, 8, 1, 2, 3, 4], (7, 1, 2, 4, -300 / 7)),
    ([], (0, 0, 0, 0, None)),
])
def test_figures_hand_checked(scores: list[int], expected: tuple[Any, ...]) -> None:
    f = nps_figures(scores)
    got = (f.responses, f.promoters, f.passives, f.detractors, f.nps)
    assert got[:4] == expected[:4]
    assert got[4] == (None if expected[4] is None else pytest.approx(expected[4]))


@given(st.lists(st.integers(0, 10), max_size=200))
def test_figures_properties(scores: list[int]) -> None:
    f = nps_figures(scores)
    assert f.promoters + f.passives + f.detractors == f.responses == len(scores)
    if scores:
        assert f.nps is not None and -100 <= f.nps <= 100


@pytest.mark.parametrize("bad", [11, -1, "x", "", "7.5", 7.5, True, None, "1000"])
def test_bad_answers_are_refused_with_a_reason(bad: object) -> None:
    with pytest.raises(ValueError, match="NPS answer is"):
        parse_score(bad)


def test_text_whole_numbers_are_taken() -> None:
    assert parse_score("7") == 7 and parse_score(" 10 ") == 10


@pytest.mark.parametrize(("nps", "where"), [
    (11, "<= 10"), (-1, ">= 0"), ("x", "Expected `int | null`"), (7.5, "Expected `int"),
])
def test_rate_frame_refuses_bad_nps(nps: object, where: str) -> None:
    frame = msgspec.msgpack.encode({"type": "rate", "chat": "c1", "rating": 5, "nps": nps})
    with pytest.raises(ProtocolError) as info:
        decode_visitor(frame)
    assert info.value.code is ErrorCode.BAD_FRAME
    assert where in info.value.message and "$.nps" in info.value.message


def test_rate_frame_nps_is_optional() -> None:
    ok = decode_visitor(msgspec.msgpack.encode({"type": "rate", "chat": "c1", "rating": 4}))
    assert ok.nps is None  # type: ignore[union-attr]
    ten = decode_visitor(msgspec.msgpack.encode(
        {"type": "rate", "chat": "c1", "rating": 4, "nps": 10}))
    assert ten.nps == 10  # type: ignore[union-attr]


def _row(i: int, nps: int | None, rating: int | None = None) -> RecordRow:
    return RecordRow(
        chat_id=f"c{i}", topic="t", required_skills={}, end_state="closed", outcome="",
        rating=rating, created_at=1000 * i, accepted_at=1000 * i, first_agent_reply_at=None,
        ended_at=1000 * i + 500, agent_id="a", nps=nps,
    )


def test_metrics_hand_checked() -> None:
    # answers 10, 9, 8, 6, 2 and two records without an answer:
    # 2 promoters, 1 passive, 2 detractors of 5 -> 40 % - 40 % = 0
    rows = [_row(1, 10, 5), _row(2, 9), _row(3, 8, 4), _row(4, 6), _row(5, 2, 1),
            _row(6, None, 3), _row(7, None)]
    m = compute(rows, (), (), start_ms=0, end_ms=100_000)
    assert (m.nps_responses, m.promoters, m.passives, m.detractors) == (5, 2, 1, 2)
    assert m.nps == 0.0
    # CSAT is unchanged by NPS: 2 of the 4 ratings are 4 or 5
    assert m.rated == 4 and m.csat == 0.5
    # one more promoter: 3 of 6 promoters, 2 of 6 detractors -> 50 - 33.3 = 16.7
    m = compute([*rows, _row(8, 9)], (), (), start_ms=0, end_ms=100_000)
    assert m.nps == pytest.approx(100 * (3 - 2) / 6)
    empty = compute([_row(1, None)], (), (), start_ms=0, end_ms=100_000)
    assert empty.nps is None and empty.nps_responses == 0


# --- on real servers ----------------------------------------------------------------------


async def _closed_chat(cluster: Cluster, agent: Any, name: str) -> tuple[Any, str]:
    visitor = await cluster.visitor()
    chat_id = await active_chat(agent, visitor, name=name)
    await agent.request({"type": "close", "chat": chat_id, "outcome": "resolved"})
    return visitor, chat_id


@pytest.mark.timeout(90)
async def test_nps_from_the_widget_setting_to_the_exports(records_cluster: Cluster) -> None:
    cluster = records_cluster
    base = cluster.urls[0]
    # the question is off by default, and switched on by the widget setting
    status, config = await http("GET", f"{base}/api/widget/config")
    assert status == 200 and config["nps_question"] is False
    status, _ = await http("PATCH", f"{base}/api/widget/settings", {"nps_question": True},
                           cluster.admin_token)
    assert status == 200
    status, config = await http("GET", f"{cluster.urls[1]}/api/widget/config")
    assert config["nps_question"] is True
    status, body = await http("PATCH", f"{base}/api/widget/settings", {"nps_question": "yes"},
                              cluster.admin_token)
    assert status == 400 and body["error"] == "bad_request"

    agent = await cluster.agent(await cluster.add_agent("alice", capacity=3))
    answers = {"P": (5, 10), "Q": (4, 7), "R": (1, 3), "S": (3, None)}
    chats: dict[str, str] = {}
    visitors = []
    for name, (rating, nps) in answers.items():
        visitor, chat_id = await _closed_chat(cluster, agent, name)
        visitors.append(visitor)
        chats[name] = chat_id
        frame: dict[str, Any] = {"type": "rate", "chat": chat_id, "rating": rating}
        if nps is not None:
            frame["nps"] = nps
        await visitor.request(frame)
    # bad answers over the socket: a clear error, nothing stored
    for bad in (11, -1, "x"):
        with pytest.raises(ClientError) as info:
            await visitors[3].request(
                {"type": "rate", "chat": chats["S"], "rating": 3, "nps": bad})
        assert info.value.code == "bad_frame" and "$.nps" in str(info.value)

    for name, (_, nps) in answers.items():
        record = await wait_record(cluster, chats[name],
                                   until=lambda r: r["rating"] is not None)
        assert record["nps"] == nps, name

    # metrics: 10 promoter, 7 passive, 3 detractor of 3 answers -> 33.3 - 33.3 = 0
    status, body = await http("GET", f"{base}/api/metrics", token=cluster.admin_token)
    assert status == 200, body
    m = body["metrics"]
    assert (m["nps_responses"], m["promoters"], m["passives"], m["detractors"]) == (3, 1, 1, 1)
    assert m["nps"] == 0.0
    status, grouped = await http("GET", f"{base}/api/metrics?group=agent",
                                 token=cluster.admin_token)
    assert grouped["groups"]["alice"]["promoters"] == 1

    # CSV export: the answer and its group; JSON export: the answer
    def fetch(fmt: str) -> bytes:
        req = urllib.request.Request(
            f"{base}/api/records/export.{fmt}",
            headers={"Authorization": f"Bearer {cluster.admin_token}"},
        )
        return bytes(urllib.request.urlopen(req, timeout=10).read())

    rows = list(csv.DictReader(io.StringIO((await asyncio.to_thread(fetch, "csv")).decode())))
    by_chat = {r["chat_id"]: r for r in rows}
    assert [(by_chat[chats[n]]["nps"], by_chat[chats[n]]["nps_group"]) for n in "PQRS"] == [
        ("10", "promoter"), ("7", "passive"), ("3", "detractor"), ("", ""),
    ]
    records = json.loads(await asyncio.to_thread(fetch, "json"))
    assert {r["chat_id"]: r["nps"] for r in records} == {
        chats[n]: answers[n][1] for n in "PQRS"
    }
    for c in (agent, *visitors):
        await c.close()
