"""Product configuration an administrator changes at run time: widget settings and
canned answers.  Kept in Redis (routing slot) as JSON; read by every process."""

from __future__ import annotations

import json
from datetime import timedelta, timezone, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from chatserver.core.availability import DAYS, minutes, within_hours
from chatserver.store.codec import text
from chatserver.store.keys import Keys

if TYPE_CHECKING:
    from redis.asyncio import Redis


class DayHours(msgspec.Struct, forbid_unknown_fields=True):
    open: str
    close: str


class WidgetSettings(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=False):
    """What the widget shows and where it may be embedded."""

    allowed_origins: list[str] = msgspec.field(default_factory=list)
    """Sites allowed to embed the widget; empty = the WIDGET_ORIGINS setting."""
    languages: list[str] = msgspec.field(default_factory=lambda: ["en", "ar", "uk"])
    default_language: str = "en"
    business_hours: dict[str, DayHours] = msgspec.field(default_factory=dict)
    """Weekday ("mon".."sun") -> opening hours; empty = always open."""
    utc_offset_minutes: int = 0
    """Offset of the business hours' clock from UTC; ignored when ``timezone`` is set."""
    offline_message: dict[str, str] = msgspec.field(default_factory=dict)
    """Language -> text shown above the leave-a-message form."""
    prechat_fields: list[str] = msgspec.field(default_factory=lambda: ["name", "email", "topic"])
    required_fields: list[str] = msgspec.field(default_factory=list)
    """Pre-chat fields a ``start`` must fill (enforced by the server too); a field counts
    only when ``prechat_fields`` shows it."""
    color: str = "#1f6feb"
    title: dict[str, str] = msgspec.field(default_factory=dict)
    timezone: str = ""
    """IANA time zone of the business hours (``Europe/Kyiv``); empty = ``utc_offset_minutes``."""
    nps_question: bool = False
    """Ask "how likely are you to recommend us? 0-10" beside the 1-5 rating."""


def validate_widget(settings: WidgetSettings) -> None:
    for day, hours in settings.business_hours.items():
        if day not in DAYS:
            raise ValueError(f"business_hours: unknown day {day!r}")
        for value in (hours.open, hours.close):
            if (
                len(value) != 5
                or value[2] != ":"
                or not (
                    value[:2].isdigit()
                    and value[3:].isdigit()
                    and int(value[:2]) < 24
                    and int(value[3:]) < 60
                )
            ):
                raise ValueError(f"business_hours: {value!r} is not HH:MM")
    if settings.timezone:
        try:
            ZoneInfo(settings.timezone)
        except (ValueError, ZoneInfoNotFoundError):
            raise ValueError(f"unknown timezone {settings.timezone!r}") from None
    if not -14 * 60 <= settings.utc_offset_minutes <= 14 * 60:
        raise ValueError("utc_offset_minutes out of range")
    for field in (*settings.prechat_fields, *settings.required_fields):
        if field not in ("name", "email", "topic"):
            raise ValueError(f"unknown pre-chat field {field!r}")
    if not settings.color.startswith("#") or len(settings.color) not in (4, 7):
        raise ValueError("color must be #rgb or #rrggbb")
    for origin in settings.allowed_origins:
        if origin != "*" and not origin.startswith(("http://", "https://")):
            raise ValueError(f"bad origin {origin!r}")


def hours_of(settings: WidgetSettings) -> dict[str, tuple[int, int]]:
    """The business hours as ``core.availability`` reads them (minutes after midnight)."""
    return {day: (minutes(h.open), minutes(h.close)) for day, h in settings.business_hours.items()}


def tz_of(settings: WidgetSettings) -> tzinfo:
    """The clock the business hours are read on."""
    if settings.timezone:
        try:
            return ZoneInfo(settings.timezone)
        except (ValueError, ZoneInfoNotFoundError):
            pass  # refused when set; a zone removed from the system since: the offset
    return timezone(timedelta(minutes=settings.utc_offset_minutes))


def is_open(settings: WidgetSettings, now_ms: int) -> bool:
    """Whether ``now`` is inside the business hours (always, when none are set); see
    ``core.availability`` for days, overnight spans and the clock."""
    if not settings.business_hours:
        return True
    return within_hours(hours_of(settings), tz_of(settings), now_ms)


class Canned(msgspec.Struct, forbid_unknown_fields=True):
    """A canned answer: ``/shortcut`` inserts ``text`` (per language when given)."""

    shortcut: str
    text: str
    language: str = ""


class ConfigStore:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def widget(self) -> WidgetSettings:
        raw = await self.redis.get(self.keys.widget_settings)
        if not raw:
            return WidgetSettings()
        return msgspec.json.decode(raw, type=WidgetSettings)

    async def set_widget(self, settings: WidgetSettings) -> None:
        validate_widget(settings)
        await self.redis.set(self.keys.widget_settings, msgspec.json.encode(settings))

    async def tag_list(self) -> list[str]:
        raw = await self.redis.get(self.keys.tag_list)
        return msgspec.json.decode(raw, type=list[str]) if raw else []

    async def set_tag_list(self, tags: list[str]) -> None:
        await self.redis.set(self.keys.tag_list, msgspec.json.encode(tags))

    async def canned(self) -> list[dict[str, Any]]:
        raw = await self.redis.hgetall(self.keys.canned)
        items = [{"id": text(k), **json.loads(v)} for k, v in raw.items()]
        return sorted(items, key=lambda c: (c["shortcut"], c["id"]))

    async def put_canned(self, canned_id: str, item: Canned) -> None:
        await self.redis.hset(self.keys.canned, canned_id, msgspec.json.encode(item))

    async def delete_canned(self, canned_id: str) -> bool:
        return bool(await self.redis.hdel(self.keys.canned, canned_id))
