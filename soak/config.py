"""The soak's settings: environment variables (``SOAK_S`` ...), overridden by flags."""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass, fields
from pathlib import Path

HUB_SETTINGS = {
    # short product timers, so that a fault's consequences (grace periods, requeues,
    # abandonment) happen many times within the soak
    "OFFER_TIMEOUT_S": "6",
    "OFFLINE_GRACE_S": "3",
    "PRESENCE_TTL_S": "4",
    "HEARTBEAT_INTERVAL_S": "1",
    "TIMER_INTERVAL_S": "0.2",
    "VISITOR_LEAVE_GRACE_S": "6",
    "RECORD_CLAIM_IDLE_S": "5",
    "HANDSHAKE_TIMEOUT_S": "10",
    # every simulated client comes from 127.0.0.1 (through the proxies)
    "MESSAGES_PER_10S": "1000",
    "NEW_VISITORS_PER_MINUTE": "1000000",
    "LOGINS_PER_MINUTE": "1000000",
    "MAX_CONNECTIONS_PER_ADDRESS": "1000000",
    "MAX_HTTP_CONNECTIONS_PER_ADDRESS": "0",
    "SEND_QUEUE_BYTES_PER_ADDRESS": str(1 << 30),
}


@dataclass
class SoakConfig:
    seconds: float = 600.0
    """How long faults are injected under load (``SOAK_S``)."""
    seed: int = 0
    """0: one is drawn from the clock (the report says which, to replay a run)."""
    hubs: int = 3
    visitors: int = 300
    agents: int = 30
    warmup_s: float = 15.0
    """Load without faults before the first fault and the first memory sample."""
    fault_gap_s: tuple[float, float] = (2.0, 8.0)
    """Quiet time between two faults, drawn uniformly."""
    memory_factor: float = 1.5
    memory_slack_mib: float = 64.0
    """A process's resident memory at the end may be at most
    ``memory_factor * after warm-up + memory_slack_mib``."""
    out: Path = Path("soak-results")
    """Folder for the JSON report and (with ``keep``) the processes' logs."""
    keep: bool = False
    """Keep the work folder (logs, data) after the run."""
    database: str = "auto"
    """``private``: a PostgreSQL cluster of its own (stopped for real); ``proxy``: a fresh
    database on the shared server at TEST_PG_URL behind a proxy that is cut; ``auto``:
    private when the binaries are there, else proxy."""

    @property
    def leave_grace_s(self) -> float:
        return float(HUB_SETTINGS["VISITOR_LEAVE_GRACE_S"])


_ENV = {
    "seconds": "SOAK_S", "seed": "SOAK_SEED", "hubs": "SOAK_HUBS",
    "visitors": "SOAK_VISITORS", "agents": "SOAK_AGENTS", "warmup_s": "SOAK_WARMUP_S",
    "out": "SOAK_OUT", "keep": "SOAK_KEEP", "database": "SOAK_DATABASE",
    "memory_factor": "SOAK_MEMORY_FACTOR", "memory_slack_mib": "SOAK_MEMORY_SLACK_MIB",
}


def parse(argv: list[str] | None = None) -> SoakConfig:
    cfg = SoakConfig()
    for f in fields(cfg):
        name = _ENV.get(f.name)
        if name and os.environ.get(name):
            setattr(cfg, f.name, _convert(getattr(cfg, f.name), os.environ[name]))
    p = argparse.ArgumentParser(prog="python -m soak", description=__doc__)
    p.add_argument("--seconds", type=float, help="fault phase length (SOAK_S, default 600)")
    p.add_argument("--seed", type=int, help="random seed (SOAK_SEED; 0: from the clock)")
    p.add_argument("--hubs", type=int, choices=(2, 3), help="hub processes (SOAK_HUBS)")
    p.add_argument("--visitors", type=int, help="simulated visitors (SOAK_VISITORS)")
    p.add_argument("--agents", type=int, help="simulated agents (SOAK_AGENTS)")
    p.add_argument("--warmup", dest="warmup_s", type=float, help="SOAK_WARMUP_S")
    p.add_argument("--out", type=Path, help="report folder (SOAK_OUT)")
    p.add_argument("--keep", action="store_true", default=None, help="keep logs (SOAK_KEEP)")
    p.add_argument("--database", choices=("auto", "private", "proxy"), help="SOAK_DATABASE")
    args = p.parse_args(argv)
    for key, value in vars(args).items():
        if value is not None:
            setattr(cfg, key, value)
    if not cfg.seed:
        cfg.seed = int(time.time()) % 1_000_000
    if cfg.hubs not in (2, 3):
        p.error("--hubs must be 2 or 3")
    return cfg


def _convert(default: object, raw: str) -> object:
    if isinstance(default, bool):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    if isinstance(default, Path):
        return Path(raw)
    return raw
