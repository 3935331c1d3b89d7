"""The protocol version and the constrained field types frames are made of."""

from __future__ import annotations

from typing import Annotated

import msgspec

PROTOCOL_VERSION = 1

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Rid = Annotated[str, msgspec.Meta(max_length=64)] | None
Short = Annotated[str, msgspec.Meta(max_length=256)]
Url = Annotated[str, msgspec.Meta(max_length=2048)]
Text = Annotated[str, msgspec.Meta(max_length=100_000)]  # the real limit is a setting
Seq = Annotated[int, msgspec.Meta(ge=0, le=2**53)]
Tag = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
