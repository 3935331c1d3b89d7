"""Transcript by e-mail: the visitor's address checked, and the e-mail's text (pure).

A visitor asks for an ended chat's transcript with the ``transcript`` frame
(docs/protocol.md).  The e-mail holds what the visitor saw (never internal notes nor
whispers), in the visitor's language (the chat's locale: English, Arabic or Ukrainian),
as plain text.  Times are UTC (the server does not know the visitor's time zone).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass

MAX_EMAIL = 254
_EMAIL = re.compile(r"^[^\s@<>,;:\"()\[\]\\]+@[^\s@<>,;:\"()\[\]\\]+\.[^\s@<>,;:\"()\[\]\\.]+$")


def email_address(raw: str) -> str:
    """The address a transcript goes to, spaces around it removed; ValueError when it is
    not one address (``name@domain.tld``, nothing that could break a header)."""
    address = raw.strip()
    if len(address) > MAX_EMAIL or not _EMAIL.match(address) or ".." in address:
        raise ValueError("not a valid e-mail address")
    if any(ord(c) < 32 or ord(c) == 127 for c in address):
        raise ValueError("not a valid e-mail address")
    return address


LANGUAGES = ("en", "ar", "uk")

_TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "subject": "Transcript of your chat",
        "intro": "Here is the transcript of your chat with us.",
        "chat": "Chat",
        "date": "Date",
        "you": "You",
        "agent": "Agent",
        "times": "Times are UTC.",
        "empty": "(no messages)",
        "footer": "You received this e-mail because you asked for it at the end of the chat.",
    },
    "ar": {
        "subject": "نص محادثتك",
        "intro": "إليك نص محادثتك معنا.",
        "chat": "المحادثة",
        "date": "التاريخ",
        "you": "أنت",
        "agent": "الموظف",
        "times": "الأوقات بالتوقيت العالمي المنسق (UTC).",
        "empty": "(لا توجد رسائل)",
        "footer": "وصلتك هذه الرسالة لأنك طلبتها في نهاية المحادثة.",
    },
    "uk": {
        "subject": "Запис вашої розмови в чаті",
        "intro": "Ось запис вашої розмови з нами в чаті.",
        "chat": "Розмова",
        "date": "Дата",
        "you": "Ви",
        "agent": "Оператор",
        "times": "Час указано за UTC.",
        "empty": "(повідомлень немає)",
        "footer": "Ви отримали цей лист, адже попросили про нього наприкінці розмови.",
    },
}

_RTL = {"ar"}
_RLM = "\u200f"  # right-to-left mark: plain-text readers start each Arabic line at the right


def language(locale: str) -> str:
    """The e-mail's language for a chat's locale (``ar-EG`` -> ``ar``); English when the
    locale is none of the supported ones."""
    primary = locale.strip().replace("_", "-").split("-", 1)[0].lower()
    return primary if primary in LANGUAGES else "en"


def subject(lang: str) -> str:
    return _TEXTS[language(lang)]["subject"]


@dataclass(frozen=True)
class Line:
    """One message of the transcript as the visitor saw it."""

    at: int
    """ms since the epoch"""
    sender_role: str
    sender_name: str
    kind: str
    internal: bool
    text: str


def _when(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(ms / 1000))


def visible(lines: Iterable[Line]) -> list[Line]:
    """What the visitor saw: internal notes and whispers left out."""
    return [m for m in lines if not m.internal]


def body(lang: str, chat_id: str, lines: Iterable[Line], *, title: str = "") -> str:
    """The plain-text e-mail: intro, the chat's id and date, then one line per message
    the visitor saw (``[date time] who: text``; system lines marked ``*``)."""
    lang = language(lang)
    t = _TEXTS[lang]
    shown = visible(lines)
    mark = _RLM if lang in _RTL else ""
    out = [t["intro"], ""]
    if title:
        out.append(title)
    out.append(f"{t['chat']}: {chat_id}")
    if shown:
        out.append(f"{t['date']}: {_when(shown[0].at)} UTC")
    out.append("")
    if not shown:
        out.append(t["empty"])
    for m in shown:
        who = t["you"] if m.sender_role == "visitor" else (m.sender_name or t["agent"])
        text = f"\n{mark}    ".join(m.text.splitlines() or [""])
        star = "* " if m.kind == "system" else ""
        out.append(f"[{_when(m.at)}] {star}{who}: {text}")
    out += ["", t["times"], "", "--", t["footer"]]
    return "".join(f"{mark}{line}\n" if line else "\n" for line in out)
