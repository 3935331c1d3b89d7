"""A virus-scan hook for the tests (FILE_SCAN_HOOK=tests.scan_hook:scan): refuses a file
that carries the EICAR test string, as a real scanner would."""

from __future__ import annotations

import asyncio
from pathlib import Path

EICAR = b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE"


async def scan(path: Path, mime: str) -> str | None:
    content = await asyncio.to_thread(path.read_bytes)
    return "EICAR test signature" if EICAR in content else None


def scan_sync(path: Path, mime: str) -> str | None:
    """The same as a plain (blocking) function: the server runs it in a worker thread."""
    return "EICAR test signature" if EICAR in path.read_bytes() else None
