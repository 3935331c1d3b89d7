"""The pure rules of file attachments (chatserver/core/files.py): type sniffing from the
content only, the shown name, and the download URL signature."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from chatserver.core import files as rules
from tests.test_files import HTML, PDF, SVG, png_bytes

KEY = b"k" * 32


def test_the_type_comes_from_the_content_never_the_name() -> None:
    assert rules.sniff(png_bytes()) == "image/png"
    assert rules.sniff(PDF) == "application/pdf"
    assert rules.sniff(b"\xff\xd8\xff\xe0" + b"\0" * 20) == "image/jpeg"
    # pages, SVG and text are no known type: never accepted, whatever the name says
    for content in (HTML, SVG, b"hello", b"", b"\x89PN"):
        assert rules.sniff(content) is None
    assert rules.is_image("image/png") and not rules.is_image("application/pdf")
    assert "image/svg+xml" not in rules.KNOWN_TYPES and "text/html" not in rules.KNOWN_TYPES


def test_shown_names_are_text_without_paths_or_controls() -> None:
    assert rules.display_name("../../etc/passwd") == "passwd"
    assert rules.display_name("C:\\Users\\a\\photo.png") == "photo.png"
    assert rules.display_name("a\x00b\nc\u202e.png") == "abc.png"
    assert rules.display_name("///") == "file"
    hostile = "<img src=x onerror=alert(1)>.png"
    assert rules.display_name(hostile) == hostile  # kept as text: shown as text
    assert len(rules.display_name("x" * 5000)) == rules.MAX_NAME_CHARS


def test_file_ids_are_32_hex_digits_only() -> None:
    assert rules.valid_file_id("0" * 32)
    for bad in ("0" * 31, "0" * 33, "../" + "0" * 29, "G" * 32, "A" * 32):
        assert not rules.valid_file_id(bad)


@given(
    chat=st.text(min_size=1, max_size=20),
    other=st.text(min_size=1, max_size=20),
    expires=st.integers(min_value=1, max_value=2**53),
)
def test_a_signature_holds_only_for_its_chat_file_and_expiry(
    chat: str, other: str, expires: int
) -> None:
    file_id = "a" * 32
    sig = rules.sign(KEY, chat, file_id, expires)
    assert rules.verify(KEY, chat, file_id, expires, sig, now_ms=expires - 1)
    assert not rules.verify(KEY, chat, file_id, expires, sig, now_ms=expires)  # expired
    assert not rules.verify(KEY, chat, file_id, expires + 1, sig, now_ms=0)
    assert not rules.verify(KEY, chat, "b" * 32, expires, sig, now_ms=0)
    assert not rules.verify(b"other-key" * 4, chat, file_id, expires, sig, now_ms=0)
    if other != chat:
        assert not rules.verify(KEY, other, file_id, expires, sig, now_ms=0)
