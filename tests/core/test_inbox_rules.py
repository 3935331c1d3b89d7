"""The inbox's pure rules: who may claim or answer an offline message, the reply text."""

from __future__ import annotations

import pytest

from chatserver.core.inbox import claim_refusal, reply_refusal, reply_text


@pytest.mark.parametrize(("claimed_by", "answered", "code"), [
    (None, False, None),          # open, nobody's: claim it
    ("me", False, None),          # mine already: a no-op
    ("me", True, None),           # mine and answered: still mine
    ("other", False, "claimed"),
    ("other", True, "already_answered"),
    (None, True, "already_answered"),
])
def test_claim(claimed_by: str | None, answered: bool, code: str | None) -> None:
    refusal = claim_refusal(claimed_by, answered, "me")
    assert (refusal.code if refusal else None) == code


@pytest.mark.parametrize(("claimed_by", "answered", "code"), [
    ("me", False, None),
    (None, False, "not_claimed"),
    ("other", False, "claimed"),
    ("me", True, "already_answered"),
    ("other", True, "already_answered"),
])
def test_reply(claimed_by: str | None, answered: bool, code: str | None) -> None:
    refusal = reply_refusal(claimed_by, answered, "me")
    assert (refusal.code if refusal else None) == code
    assert refusal is None or refusal.status == 409


def test_reply_text() -> None:
    assert reply_text("  hello\n", 5) == "hello"
    assert reply_text("Привіт", 6) == "Привіт"
    for bad in ("", "   \n\t", "x" * 6):
        with pytest.raises(ValueError, match="text: "):
            reply_text(bad, 5)
