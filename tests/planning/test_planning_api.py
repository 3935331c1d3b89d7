"""``GET /api/planning`` on a real server reading a recorded week from SQLite: the plan,
the curve, supervisors only, and bad input answered 400."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest

from chatserver.client import http
from tests.harness import Cluster
from tests.planning.week import T0, WEEK, write_week


@pytest.mark.timeout(90)
async def test_planning_endpoint(redis_url: str, tmp_path: Path) -> None:
    db = tmp_path / "records.db"
    await write_week(f"sqlite+aiosqlite:///{db}")
    cluster = Cluster(redis_url, n=1, database_url=f"sqlite:///{db}", plan_sim_arrivals="300")
    await cluster.start()
    try:
        base = f"{cluster.urls[0]}/api/planning?from={T0}&to={T0 + WEEK}"
        status, body = await http(
            "GET", base + "&hours=" + quote("Mon 9-10") + "&within_s=60&sl=80&max_abandon=5",
            token=cluster.admin_token,
        )
        assert status == 200, body
        assert body["goal"] == {"service_level": 0.8, "target_s": 60.0, "max_abandon": 0.05}
        assert body["concurrency"] == 2 and body["simulated"] is True
        # billing and tech both need "support": one skill group, planned together
        assert [(r["label"], r["topics"]) for r in body["rows"]] == [
            ("Mon 09:00", ["billing", "tech"]), ("Mon 10:00", ["billing", "tech"]),
        ]
        for r in body["rows"]:
            assert r["topic"] == "billing+tech" and r["skills"] == {"support": 5}
            assert r["erlang_agents"] >= 1 and r["sim_agents"] >= 1
            assert r["staffed"] == pytest.approx(4)
        curve = body["curve"]
        assert curve["topics"] == ["billing", "tech"]
        assert curve["label"] in ("Mon 09:00", "Mon 10:00")
        agents = [p["agents"] for p in curve["points"]]
        assert agents == sorted(agents) and len(agents) >= 4
        sls = [p["erlang_service_level"] for p in curve["points"]]
        assert sls == sorted(sls)

        status, body = await http("GET", base + "&simulate=0&topic=tech",
                                  token=cluster.admin_token)
        assert status == 200 and body["simulated"] is False
        assert {r["topic"] for r in body["rows"]} == {"tech"}
        assert all(r["sim_agents"] is None for r in body["rows"])

        for query, word in (
            ("&sl=150", "sl"), ("&within_s=x", "within_s"), ("&hours=Mon%2025", "hours"),
            ("&max_abandon=-1", "max_abandon"), ("&concurrency=0", "concurrency"),
            (f"&from={T0}&to={T0 - 1}", "from < to"),
        ):
            status, body = await http("GET", base + query, token=cluster.admin_token)
            assert status == 400 and body["error"] == "bad_request", (query, body)
            assert word in body["message"], (query, body)
        # a whole week simulated is more than one request may ask for
        status, body = await http("GET", base, token=cluster.admin_token)
        assert status == 400 and "cells" in body["message"]

        token = await cluster.add_agent("bob")
        status, body = await http("GET", base, token=token)
        assert status == 403 and body["error"] == "forbidden"
        status, _ = await http("GET", base)
        assert status == 401
    finally:
        cluster.stop()
