"""Where attachments are kept: the ``FileStore`` protocol and its local-disk implementation.

A file is kept under a random id (``new_file_id``), never under the name the client sent,
with a small JSON description beside it (its chat, name, sniffed type, size, sender).
Local disk is the only implementation (``FILES_DIR``, by default ``DATA_DIR/files``); an
S3-compatible bucket would be another class with the same methods (docs/files.md).

Writing is two steps so that an upload is never visible half-written or unchecked: the
body is streamed into a ``Draft`` (a temporary file in the same folder), checked (type,
virus-scan hook), then ``commit`` renames it into place atomically, or ``discard`` drops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import json
import os
import secrets
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol, cast

CHUNK = 64 * 1024


def new_file_id() -> str:
    """A random id: the storage key."""
    return secrets.token_hex(16)


@dataclass(frozen=True)
class StoredFile:
    id: str
    chat: str
    name: str
    type: str
    size: int
    sender: str
    """``visitor:<id>`` or ``agent:<id>``."""
    at: int

    def ref(self) -> dict[str, Any]:
        """As the ``file`` of a ``msg`` frame."""
        return {"id": self.id, "name": self.name, "size": self.size, "type": self.type}


class Draft(Protocol):
    path: Path
    size: int

    async def write(self, chunk: bytes) -> None: ...

    async def head(self, n: int) -> bytes: ...


class FileStore(Protocol):
    async def draft(self) -> Draft: ...

    async def commit(self, draft: Draft, meta: StoredFile) -> None: ...

    async def discard(self, draft: Draft) -> None: ...

    async def describe(self, file_id: str) -> StoredFile | None: ...

    async def remove(self, file_id: str) -> None: ...

    def read(self, file_id: str) -> AsyncIterator[bytes]: ...


@dataclass
class LocalDraft:
    path: Path
    size: int = 0

    async def write(self, chunk: bytes) -> None:
        await asyncio.to_thread(_append, self.path, chunk)
        self.size += len(chunk)

    async def head(self, n: int) -> bytes:
        return await asyncio.to_thread(_head, self.path, n)


def _append(path: Path, chunk: bytes) -> None:
    with path.open("ab") as fh:
        fh.write(chunk)


def _head(path: Path, n: int) -> bytes:
    with path.open("rb") as fh:
        return fh.read(n)


class LocalFileStore:
    """Files in one folder: ``<id>`` (the bytes) and ``<id>.json`` (the description)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _ensure(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    async def draft(self) -> LocalDraft:
        await asyncio.to_thread(self._ensure)
        fd, name = tempfile.mkstemp(prefix=".upload-", dir=self.root)
        os.close(fd)
        return LocalDraft(Path(name))

    async def commit(self, draft: Draft, meta: StoredFile) -> None:
        def run() -> None:
            meta_tmp = self.root / f".{meta.id}.json.tmp"
            meta_tmp.write_text(json.dumps(asdict(meta)))
            os.replace(draft.path, self.root / meta.id)
            os.replace(meta_tmp, self.root / f"{meta.id}.json")

        await asyncio.to_thread(run)

    async def discard(self, draft: Draft) -> None:
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(os.unlink, draft.path)

    async def remove(self, file_id: str) -> None:
        for name in (f"{file_id}.json", file_id):
            with contextlib.suppress(FileNotFoundError):
                await asyncio.to_thread(os.unlink, self.root / name)

    async def describe(self, file_id: str) -> StoredFile | None:
        path = self.root / f"{file_id}.json"
        try:
            raw = await asyncio.to_thread(path.read_text)
        except FileNotFoundError:
            return None
        return StoredFile(**json.loads(raw))

    async def read(self, file_id: str) -> AsyncIterator[bytes]:
        fh = await asyncio.to_thread((self.root / file_id).open, "rb")
        try:
            while chunk := await asyncio.to_thread(fh.read, CHUNK):
                yield chunk
        finally:
            fh.close()


ScanHook = Callable[[Path, str], "str | Awaitable[str | None] | None"]


def load_scan_hook(spec: str) -> ScanHook | None:
    """``FILE_SCAN_HOOK`` (``module:function``) as a callable; None when not set."""
    if not spec:
        return None
    module, _, name = spec.partition(":")
    hook = getattr(importlib.import_module(module), name)
    if not callable(hook):
        raise TypeError(f"FILE_SCAN_HOOK {spec} is not callable")
    return cast(ScanHook, hook)


async def scan(hook: ScanHook | None, path: Path, mime: str) -> str | None:
    """Run the virus-scan hook: its reason to refuse the file, or None to accept it."""
    if hook is None:
        return None
    if inspect.iscoroutinefunction(hook):
        result = await hook(path, mime)
    else:  # a plain function may block (a scanner's command): off the event loop
        result = await asyncio.to_thread(hook, path, mime)
        if inspect.isawaitable(result):
            result = await result
    return None if result is None else str(result)
