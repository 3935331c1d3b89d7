"""What travels between server processes over Redis pub/sub (never to a client as is).

**A chat's channel** carries envelopes whose first byte says who may see them and whether
they are sequenced:

- ``a<seq>|<origin>|<frame>``  a stored message for everyone; ``g...`` for agents only
  (published by ``lua/post.lua``; ``origin`` is the id of the connection that sent it, or
  empty, and that connection is not sent its own message);
- ``A<frame>``  an unsequenced event for everyone (typing, read, chat state);
  ``G<frame>``  the same for agents only (``publication``).

``<frame>`` is the msgpack server frame, sent to clients byte for byte.

**An agent's or a visitor's channel** carries control messages (``control``): a msgpack
map ``{ctl: Control, frame?: <server frame>}`` that every process holding one of that
subject's connections applies to them: send ``frame``, then follow or unfollow a chat,
report a status change, close connections older than a credential version, watch a queued
chat's position.
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from chatserver.protocol.server_frames import encode

EVERYONE = "a"
"""Sequenced envelope prefix: a message every participant sees."""
AGENTS_ONLY = "g"
"""Sequenced envelope prefix: a message only agents and supervisors see."""


def publication(frame: dict[str, Any] | msgspec.Struct, agents_only: bool = False) -> bytes:
    """An unsequenced frame as published on a chat's channel: ``A`` (everyone) or ``G``
    (agents and supervisors only), then the msgpack frame."""
    return (b"G" if agents_only else b"A") + encode(frame)


class Control(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """The orders of a control message (each optional)."""

    follow: str | UnsetType = UNSET
    """Make every connection follow this chat (from its start)."""
    unfollow: str | UnsetType = UNSET
    status: str | UnsetType = UNSET
    """Send each connection ``{type: "status", status}`` (after ``frame``)."""
    revoke_below: int | UnsetType = UNSET
    """Close (4401) connections opened with a credential version below this."""
    watch: str | UnsetType = UNSET
    """A queued chat whose position this process should push (with ``topic``)."""
    topic: str | UnsetType = UNSET


_ctl_decoder = msgspec.msgpack.Decoder(Control)


def control(frame: dict[str, Any] | msgspec.Struct | None, ctl: dict[str, Any]) -> bytes:
    """A message on an agent's or visitor's channel: orders for their connections and
    optionally a frame to send to each of them."""
    payload: dict[str, Any] = {"ctl": ctl}
    if frame is not None:
        payload["frame"] = frame
    return encode(payload)


def decode_control(data: bytes) -> tuple[Control, msgspec.Raw | None]:
    """A control message's orders (validated) and its frame, still encoded (to send as
    is to each connection)."""
    raw = msgspec.msgpack.decode(data, type=dict[str, msgspec.Raw])
    ctl = _ctl_decoder.decode(raw["ctl"]) if "ctl" in raw else Control()
    return ctl, raw.get("frame")
