"""Time and ids, injected so that tests can control them."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

Clock = Callable[[], int]
"""Returns the current time in milliseconds since the Unix epoch."""


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def new_id(prefix: str = "") -> str:
    return prefix + secrets.token_hex(8)
