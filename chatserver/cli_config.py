"""The ``chatserver canned``, ``tags``, ``widget`` and ``openapi`` commands: what the
console's Administration tab does to canned answers, the tag list and widget settings, for
scripted deployments.

The values go through the REST API's models (``chatserver.web.models``), so the command
line accepts exactly what ``POST /api/canned`` or ``PUT /api/widget/settings`` accept.
Heavy modules are imported only when a command runs (``--help`` stays fast).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from chatserver.settings import Settings

CANNED = """\
examples:
  chatserver canned add greet "Hello! How can I help you today?" --language en
  chatserver canned add greet "Вітаю! Чим можу допомогти?" --language uk
  chatserver canned list
  chatserver canned set k0123456789abcdef --text "Hello, how can I help?"
  chatserver canned delete k0123456789abcdef
"""

WIDGET = """\
examples:
  chatserver widget show
  chatserver widget set --origin https://shop.example --language en --language uk \\
      --default-language en --color '#1f6feb' --title en="Chat with us"
  chatserver widget set --hours mon=09:00-17:00 --hours fri=09:00-15:00 \\
      --timezone Europe/Kyiv --offline-message en="We are closed; leave a message."
  chatserver widget set --json '{"required_fields": ["email"]}'
  chatserver widget set --always-open
"""


def add_parsers(sub: Any) -> None:
    """The commands' parsers, under the ``chatserver`` parser's subcommands ``sub``."""
    raw = argparse.RawDescriptionHelpFormatter
    c = sub.add_parser(
        "canned",
        help="manage canned answers",
        epilog=CANNED,
        description="Canned answers: /shortcut in the console inserts the text "
        "(per language when given). Prints JSON.",
        formatter_class=raw,
    )
    actions = c.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser(
        "list",
        help="every canned answer with its id",
        description="Every canned answer: id, shortcut, text, language.",
    )
    add = actions.add_parser(
        "add",
        help="add a canned answer",
        description="Add a canned answer; prints it with its new id.",
    )
    add.add_argument("shortcut", help="1-64 letters, digits, '-' or '_'")
    add.add_argument("text", help="1-4000 characters")
    add.add_argument("--language", default="", help="only for this language (en, ar, uk...)")
    upd = actions.add_parser(
        "set",
        help="change a canned answer",
        description="Change the given fields of a canned answer.",
    )
    upd.add_argument("id", help="the id from 'canned list'")
    upd.add_argument("--shortcut")
    upd.add_argument("--text")
    upd.add_argument("--language", help="'' for every language")
    rm = actions.add_parser(
        "delete", help="delete a canned answer", description="Delete a canned answer."
    )
    rm.add_argument("id", help="the id from 'canned list'")
    c.set_defaults(run=canned_command)

    tg = sub.add_parser(
        "tags",
        help="show or replace the list of tags agents may use",
        description="The tags agents may put on chats (unless FREE_TAGS, only these). "
        "'set' replaces the whole list; 'set' with no tag empties it. Prints JSON.",
    )
    actions = tg.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("list", help="the list", description="The tags agents may use.")
    put = actions.add_parser("set", help="replace the list", description="Replace the list.")
    put.add_argument("tags", nargs="*", metavar="TAG", help="1-64 characters each")
    tg.set_defaults(run=tags_command)

    w = sub.add_parser(
        "widget",
        help="show or change the widget settings",
        epilog=WIDGET,
        description="The widget settings (the console's Administration tab). Prints JSON.",
        formatter_class=raw,
    )
    actions = w.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("show", help="the widget settings", description="The widget settings.")
    s = actions.add_parser(
        "set",
        help="change the settings given (the others stay)",
        epilog=WIDGET,
        formatter_class=raw,
        description="Change only the settings given. A repeated option (--origin, "
        "--language, --hours) replaces the whole list; --title and "
        "--offline-message change one language (an empty text removes it).",
    )
    s.add_argument(
        "--json",
        metavar="OBJECT",
        help="settings as in PUT /api/widget/settings, applied before the options",
    )
    s.add_argument(
        "--origin",
        action="append",
        metavar="URL",
        help="a site that may embed the widget (https://shop.example, or *)",
    )
    s.add_argument(
        "--no-origins",
        action="store_true",
        help="no list of sites: the WIDGET_ORIGINS setting applies",
    )
    s.add_argument("--language", action="append", metavar="LANG", help="offered language")
    s.add_argument("--default-language", metavar="LANG")
    s.add_argument(
        "--hours",
        action="append",
        metavar="DAY=HH:MM-HH:MM",
        help="opening hours of a day (mon..sun); days not given are closed",
    )
    s.add_argument("--always-open", action="store_true", help="no business hours")
    s.add_argument(
        "--utc-offset",
        type=int,
        metavar="MINUTES",
        help="the business hours' clock, minutes from UTC (without --timezone)",
    )
    s.add_argument("--timezone", metavar="TZ", help="IANA zone, e.g. Europe/Kyiv ('' for none)")
    s.add_argument("--offline-message", action="append", metavar="LANG=TEXT")
    s.add_argument("--title", action="append", metavar="LANG=TEXT")
    s.add_argument(
        "--prechat-fields",
        metavar="F,F",
        help="fields of the pre-chat form: name, email, topic ('' for none)",
    )
    s.add_argument("--required-fields", metavar="F,F", help="pre-chat fields a visitor must fill")
    s.add_argument("--color", metavar="#RRGGBB")
    w.set_defaults(run=widget_command)

    o = sub.add_parser(
        "openapi",
        help="print the REST API's OpenAPI document",
        description="Print the OpenAPI 3.1 document of the REST API (also "
        "served at /api/openapi.json). Needs no server.",
    )
    o.set_defaults(run=openapi_command)


def _fail(message: str) -> SystemExit:
    return SystemExit(f"error: {message}")


def _model(kind: Any, data: Any) -> Any:
    import msgspec

    try:
        return msgspec.convert(data, kind)
    except msgspec.ValidationError as exc:
        raise _fail(str(exc)) from None


def canned_command(settings: Settings, args: argparse.Namespace) -> Any:
    from chatserver.clock import new_id
    from chatserver.web.config_api import canned_of
    from chatserver.web.models import CannedBody

    async def action(node: Any) -> Any:
        config = node.admin
        if args.action == "list":
            return await config.canned()
        if args.action == "add":
            item = canned_of(
                _model(
                    CannedBody,
                    {"shortcut": args.shortcut, "text": args.text, "language": args.language},
                )
            )
            canned_id = new_id("k")
        else:
            existing = {c["id"]: c for c in await config.canned()}
            canned_id = args.id
            if canned_id not in existing:
                raise _fail(f"no canned answer {canned_id!r} (see: chatserver canned list)")
            if args.action == "delete":
                return {"deleted": await config.delete_canned(canned_id)}
            old = existing[canned_id]
            item = canned_of(
                _model(
                    CannedBody,
                    {
                        "shortcut": old["shortcut"] if args.shortcut is None else args.shortcut,
                        "text": old["text"] if args.text is None else args.text,
                        "language": old.get("language", "")
                        if args.language is None
                        else args.language,
                    },
                )
            )
        await config.put_canned(canned_id, item)
        return {
            "id": canned_id,
            "shortcut": item.shortcut,
            "text": item.text,
            "language": item.language,
        }

    return action


def tags_command(settings: Settings, args: argparse.Namespace) -> Any:
    from chatserver.web.models import TagListBody

    async def action(node: Any) -> Any:
        if args.action == "set":
            body = _model(TagListBody, {"tags": args.tags})
            await node.admin.set_tag_list(body.tags)
        tags = sorted(await node.config.tag_list(), key=str.casefold)
        return {"tags": tags, "free": node.settings.free_tags}

    return action


def _pairs(values: list[str] | None, option: str) -> dict[str, str]:
    out = {}
    for value in values or []:
        key, sep, text = value.partition("=")
        if not sep or not key:
            raise _fail(f"{option}: expected LANG=TEXT, got {value!r}")
        out[key] = text
    return out


def _hours(values: list[str]) -> dict[str, dict[str, str]]:
    out = {}
    for value in values:
        day, sep, span = value.partition("=")
        opens, dash, closes = span.partition("-")
        if not sep or not dash:
            raise _fail(f"--hours: expected DAY=HH:MM-HH:MM, got {value!r}")
        out[day.strip().lower()] = {"open": opens.strip(), "close": closes.strip()}
    return out


def _fields(value: str) -> list[str]:
    return [f.strip() for f in value.split(",") if f.strip()]


def widget_changes(args: argparse.Namespace, current: dict[str, Any]) -> dict[str, Any]:
    """The fields of ``PUT /api/widget/settings`` that the options name."""
    changes: dict[str, Any] = {}
    if args.json:
        try:
            changes = json.loads(args.json)
        except ValueError as exc:
            raise _fail(f"--json: {exc}") from None
        if not isinstance(changes, dict):
            raise _fail("--json: expected a JSON object")
    if args.no_origins:
        changes["allowed_origins"] = []
    if args.origin:
        changes["allowed_origins"] = args.origin
    if args.language:
        changes["languages"] = args.language
    if args.default_language is not None:
        changes["default_language"] = args.default_language
    if args.always_open:
        changes["business_hours"] = {}
    if args.hours:
        changes["business_hours"] = _hours(args.hours)
    if args.utc_offset is not None:
        changes["utc_offset_minutes"] = args.utc_offset
    if args.timezone is not None:
        changes["timezone"] = args.timezone
    for option, field in (("--offline-message", "offline_message"), ("--title", "title")):
        given = _pairs(getattr(args, field), option)
        if given:
            merged = {**changes.get(field, current[field]), **given}
            changes[field] = {k: v for k, v in merged.items() if v}
    if args.prechat_fields is not None:
        changes["prechat_fields"] = _fields(args.prechat_fields)
    if args.required_fields is not None:
        changes["required_fields"] = _fields(args.required_fields)
    if args.color is not None:
        changes["color"] = args.color
    return changes


def widget_command(settings: Settings, args: argparse.Namespace) -> Any:
    import msgspec

    from chatserver.web.config_api import merged_widget_settings
    from chatserver.web.models import WidgetSettingsPatch

    async def action(node: Any) -> Any:
        current = await node.config.widget()
        if args.action == "show":
            return msgspec.to_builtins(current)
        changes = widget_changes(args, msgspec.to_builtins(current))
        patch = _model(WidgetSettingsPatch, changes)
        updated = merged_widget_settings(current, patch)
        await node.admin.set_widget_settings(updated)
        return msgspec.to_builtins(updated)

    return action


def openapi_command(settings: Settings, args: argparse.Namespace) -> None:
    from chatserver.web.openapi import document

    print(json.dumps(document(), indent=2, ensure_ascii=False))
