"""File attachments: the pure decisions.

- what a file is, from its first bytes (``sniff``; the name and the client's
  ``Content-Type`` are never trusted), and whether that type is allowed;
- the name shown for it (``display_name``: text only, never a path);
- download URLs: an HMAC-SHA256 signature over the chat, the file and the expiry
  (``sign`` / ``verify``), so a URL for one chat's file cannot be turned into one for
  another chat's, or kept past its expiry.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata

import filetype

SNIFF_BYTES = 8192
"""Bytes read from the start of a file to tell its type (``filetype`` needs 261)."""

KNOWN_TYPES = frozenset(
    {
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "application/pdf",
        "application/zip",
        "audio/mpeg",
        "video/mp4",
    }
)
"""Types the sniffer can tell and the ``FILE_TYPES`` setting may allow.  SVG and HTML are
not among them (they could run script): a file that only looks like text is refused."""

IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
"""Shown inline (previews); every other type is downloaded as an attachment."""

MAX_NAME_CHARS = 200


def sniff(head: bytes) -> str | None:
    """The media type told by the file's first bytes, or None when it is none we know."""
    kind = filetype.guess(head)
    if kind is None:
        return None
    mime = str(kind.mime)
    return mime if mime in KNOWN_TYPES else None


def is_image(mime: str) -> bool:
    return mime in IMAGE_TYPES


def display_name(raw: str) -> str:
    """The file name as sent, made safe to show and store as text: the last path part,
    no control characters, at most ``MAX_NAME_CHARS``; ``file`` when nothing is left."""
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip()
    return name[:MAX_NAME_CHARS] or "file"


def valid_file_id(value: str) -> bool:
    return len(value) == 32 and all(c in "0123456789abcdef" for c in value)


def _message(chat_id: str, file_id: str, expires_ms: int) -> bytes:
    return f"{chat_id}\n{file_id}\n{expires_ms}".encode()


def sign(key: bytes, chat_id: str, file_id: str, expires_ms: int) -> str:
    return hmac.new(key, _message(chat_id, file_id, expires_ms), hashlib.sha256).hexdigest()


def verify(key: bytes, chat_id: str, file_id: str, expires_ms: int, sig: str, now_ms: int) -> bool:
    """The signature is right (constant-time compare) and the URL has not expired."""
    expected = sign(key, chat_id, file_id, expires_ms)
    return hmac.compare_digest(expected, sig) and now_ms < expires_ms
