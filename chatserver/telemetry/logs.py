"""Logging: one line per event, as text for people or JSON for log collectors.

``LOG_FORMAT=text`` (default) writes ``time level logger: message key=value...``;
``LOG_FORMAT=json`` writes one JSON object per line with ``ts``, ``level``, ``logger``,
``msg``, the context fields and, for an unexpected error, ``exc`` (its traceback, still one
line).  The context fields are those known where the event happened: ``request`` (the HTTP
request or WebSocket connection, see ``chatserver.web.request_ids``), ``chat`` (passed as
``extra={"chat": ...}``) and any passed as ``extra={"fields": {...}}``.

Alembic's progress messages are demoted to debug (shown only with ``LOG_LEVEL=debug``);
uvicorn's access log is shown only at debug too.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from collections.abc import Mapping
from typing import Any, Final

from chatserver.settings import Settings, SettingsError

FORMATS: Final = ("text", "json")
LEVELS: Final = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
CONTEXT_FIELDS: Final = ("request", "chat", "node")
"""Fields taken from the record (``extra=``) or the context, in this order."""

_request: contextvars.ContextVar[str] = contextvars.ContextVar("log_request", default="")
"""The request (or WebSocket connection) id of the task logging; one string per task, so
that an idle socket holds next to nothing for it."""


def bind_request(request_id: str) -> contextvars.Token[str]:
    """Name the request in every event logged from this task (and tasks it starts) on;
    undo with :func:`unbind_request`."""
    return _request.set(request_id)


def unbind_request(token: contextvars.Token[str]) -> None:
    _request.reset(token)


def context_fields(record: logging.LogRecord) -> dict[str, str]:
    found: dict[str, str] = {}
    request = _request.get()
    if request:
        found["request"] = request
    for name in CONTEXT_FIELDS:
        value = record.__dict__.get(name)
        if value:
            found[name] = str(value)
    more = record.__dict__.get("fields")
    if isinstance(more, Mapping):
        found.update({str(k): str(v) for k, v in more.items()})
    return found


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = context_fields(record)
        if fields:
            extra = " ".join(f"{k}={v}" for k, v in fields.items())
            head, sep, tail = line.partition("\n")  # a traceback follows the first line
            line = f"{head} [{extra}]{sep}{tail}"
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        event: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            **context_fields(record),
        }
        if record.exc_info:
            event["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            event["exc"] = record.exc_text
        return json.dumps(event, ensure_ascii=False, default=str)


_DENIAL_NOISE: Final = "ASGI callable returned without completing handshake."


class _Demote(logging.Filter):
    """Alembic's and uvicorn's access messages count as debug (and one uvicorn message
    that is not an error here)."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        name = record.name
        if record.levelno == logging.INFO and (
            name.startswith("alembic") or name == "uvicorn.access"
        ):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        elif name == "uvicorn.error" and record.msg == _DENIAL_NOISE:
            # uvicorn's websockets-sansio protocol says this after every handshake the
            # app answered with an HTTP response (503 + Retry-After: busy, or Redis down),
            # which it does send: not an error
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return record.levelno >= self.level


def check(settings: Settings) -> None:
    """Refuse unknown LOG_FORMAT or LOG_LEVEL values."""
    if settings.log_format not in FORMATS:
        raise SettingsError(f"LOG_FORMAT={settings.log_format!r}: expected text or json")
    if settings.log_level.lower() not in LEVELS:
        raise SettingsError(
            f"LOG_LEVEL={settings.log_level!r}: expected one of {', '.join(LEVELS)}"
        )


def configure(settings: Settings) -> None:
    """Send every logger's events (uvicorn's and Alembic's too) to stderr, one line each."""
    check(settings)
    level = LEVELS[settings.log_level.lower()]
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else TextFormatter())
    handler.addFilter(_Demote(level))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "alembic"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
        logger.setLevel(logging.NOTSET)
    # uvicorn's own messages ("Started server process", "Waiting for application
    # startup") are start-up noise: its warnings and errors still show
    logging.getLogger("uvicorn.error").setLevel(max(level, logging.WARNING))
    # two lines per SQL call even at debug: not what anyone debugging chatserver reads
    logging.getLogger("aiosqlite").setLevel(max(level, logging.INFO))
