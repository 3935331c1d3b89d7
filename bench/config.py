"""Run configuration shared by the scenarios: sizes (full or quick), core layout, output."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.procs import cores

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Config:
    quick: bool = False
    profile: bool = False
    layout_name: str = "split"
    out: Path = RESULTS
    redis: str = "single"
    """``single`` (one Valkey) or ``cluster`` (3 masters + 3 replicas, issue 12)."""
    compare: bool = False
    """A ``--redis cluster``/``both`` run (the relay runs the product alone)."""
    started: float = field(default_factory=time.monotonic)

    def size(self, full: Any, quick: Any) -> Any:
        return quick if self.quick else full

    # ---- cores ---------------------------------------------------------------------------
    @property
    def generator_cpus(self) -> list[int] | None:
        cs = cores()
        if self.layout_name == "shared" or len(cs) < 2:
            return None
        return [cs[-1]]

    @property
    def server_cpus(self) -> list[int] | None:
        cs = cores()
        if self.layout_name == "shared" or len(cs) < 2:
            return None
        return cs[:-1]

    def layout(self, profile_dir: Path | None = None) -> dict[str, Any]:
        """Where each server process runs: with ``split`` every server process shares the
        server cores and the generator has the last core to itself."""
        s = self.server_cpus
        out: dict[str, Any] = {"name": self.layout_name, "hub0": s, "hub1": s, "redis": s,
                               "generator": self.generator_cpus, "backend": self.redis}
        if profile_dir is not None:
            out["profile_dir"] = profile_dir
        return out

    def profile_dir(self, scenario: str) -> Path | None:
        if not self.profile:
            return None
        d = self.out / "profiles" / scenario
        d.mkdir(parents=True, exist_ok=True)
        return d


Log = Callable[[str], None]
