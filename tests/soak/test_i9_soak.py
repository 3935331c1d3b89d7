"""The fault soak (issue 9, "A fault soak"), short version: 60 s of faults under load
(``python -m soak`` with SOAK_S=60 and a smaller population), run as a separate process
exactly as ``make soak`` runs it.  It must report no violation; its report is printed
when it does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from soak.system import _pg_bin
from tests.harness import postgres_available

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(1200)
def test_i9_soak_short_run_finds_no_violation() -> None:
    if _pg_bin() is None and not postgres_available():
        pytest.skip("the soak needs PostgreSQL: Debian's binaries or a server at TEST_PG_URL")
    out = Path(tempfile.mkdtemp(prefix="lc-soak-report-"))
    env = {
        **os.environ,
        "SOAK_S": os.environ.get("SOAK_S", "60"),
        "SOAK_VISITORS": os.environ.get("SOAK_VISITORS", "60"),
        "SOAK_AGENTS": os.environ.get("SOAK_AGENTS", "10"),
        "SOAK_WARMUP_S": "10",
        "SOAK_SEED": os.environ.get("SOAK_SEED", "20261202"),
        "SOAK_OUT": str(out),
        "PYTHONPATH": str(ROOT),
    }
    done = subprocess.run(
        [sys.executable, "-m", "soak"], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=1100,
    )
    reports = list(out.glob("soak-*.json"))
    assert reports, f"no report written:\n{done.stdout[-5000:]}\n{done.stderr[-5000:]}"
    report = json.loads(reports[0].read_text())
    summary = done.stdout[-8000:]
    assert report["violation_count"] == 0, summary
    assert done.returncode == 0, summary + done.stderr[-3000:]
    # the run did what it claims: every kind of fault, chats, messages, records
    assert all(n >= 1 for n in report["faults"]["by_kind"].values()), summary
    assert report["chats"]["started"] >= 30, summary
    assert report["messages"]["acknowledged"] >= 100, summary
    assert report["chats"]["records"] == report["chats"]["finished_chats"], summary
