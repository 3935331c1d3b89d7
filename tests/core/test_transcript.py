"""Transcript by e-mail, the pure part (``chatserver/core/transcript.py``): which
addresses are taken, the e-mail's language, and its text (no internal notes; Arabic
marked right-to-left).  The whole path on real servers: tests/records/test_transcript_email.py."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatserver.core import transcript

AR_LINE = "مرحبا، أين طلبي؟"
NOTE = "internal: VIP, check the warehouse"


@pytest.mark.parametrize("good", ["a@b.co", " olena@example.com ", "x.y+z@mail.example.ua"])
def test_good_addresses(good: str) -> None:
    assert transcript.email_address(good) == good.strip()


@pytest.mark.parametrize("bad", [
    "", "a@b", "a b@c.de", "a@@b.cd", "<a@b.cd>", "a@b..cd", "a@b.cd, c@d.ef", "a@b.c\nd@e.fg",
    "Ann <a@b.cd>", "ab.cd", "a@b.cd\x00", "x" * 250 + "@b.cd",
])
def test_bad_addresses(bad: str) -> None:
    with pytest.raises(ValueError):
        transcript.email_address(bad)


@given(st.text(max_size=300))
def test_an_accepted_address_cannot_break_a_header(raw: str) -> None:
    try:
        address = transcript.email_address(raw)
    except ValueError:
        return
    assert address.count("@") == 1 and len(address) <= transcript.MAX_EMAIL
    assert not any(c.isspace() or c in '<>,;"' or ord(c) < 32 for c in address)


@pytest.mark.parametrize(("locale", "lang"), [
    ("ar-EG", "ar"), ("uk", "uk"), ("uk_UA", "uk"), ("en-GB", "en"), ("", "en"), ("fr", "en"),
])
def test_language_of_a_locale(locale: str, lang: str) -> None:
    assert transcript.language(locale) == lang


def test_body_leaves_out_notes_and_marks_arabic_right_to_left() -> None:
    lines = [
        transcript.Line(1_764_770_400_000, "visitor", "Ali", "message", False, AR_LINE),
        transcript.Line(1_764_770_410_000, "agent", "Sara", "message", True, NOTE),
        transcript.Line(1_764_770_420_000, "agent", "Sara", "message", False, "أهلاً\nلحظة"),
    ]
    text = transcript.body("ar", "c123", lines)
    assert NOTE not in text
    assert f"\u200f[2025-12-03 14:00] أنت: {AR_LINE}\n" in text
    assert "\u200f[2025-12-03 14:00] Sara: أهلاً\n\u200f    لحظة\n" in text
    assert all(line.startswith("\u200f") for line in text.splitlines() if line)
    english = transcript.body("en", "c123", lines)
    assert "\u200f" not in english and "[2025-12-03 14:00] You: " in english
    assert "(no messages)" in transcript.body("en", "c1", lines[1:2])
