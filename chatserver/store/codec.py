"""Turning Redis replies into Python values (the client is used with bytes replies)."""

from __future__ import annotations

from typing import Any


def text(value: Any) -> str:
    """bytes or str or None (a missing value) -> str."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode()
    return str(value)


def integer(value: Any, default: int = 0) -> int:
    if value is None or value == b"" or value == "":
        return default
    return int(value)


def mapping(data: dict[str, Any]) -> Any:
    """A field mapping for HSET (redis-py's annotation is narrower than what it accepts)."""
    return data
