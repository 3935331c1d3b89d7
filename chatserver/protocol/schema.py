"""The JSON Schema of every client and server frame, and the TypeScript types made from it.

``python -m chatserver.protocol.schema`` (``make types``) writes both committed files;
``tests/test_protocol_schema.py`` fails when either differs from what the structs give.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import msgspec

from chatserver.protocol.client_frames import ClientFrame
from chatserver.protocol.server_frames import ServerFrame
from chatserver.protocol.typescript import typescript

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = ROOT / "clients" / "protocol.schema.json"
TYPES_PATH = ROOT / "clients" / "protocol.ts"


def schema() -> dict[str, Any]:
    """One document: every struct under ``$defs``, plus ``ClientFrame`` and ``ServerFrame``
    (the two tagged unions, discriminated by ``type``)."""
    (client, server), defs = msgspec.json.schema_components(
        [ClientFrame, ServerFrame], ref_template="#/$defs/{name}"
    )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "chatserver wire protocol",
        "description": "Generated from chatserver/protocol by `make types`; do not edit.",
        "$defs": {**defs, "ClientFrame": client, "ServerFrame": server},
    }


def schema_text() -> str:
    return json.dumps(schema(), indent=2, ensure_ascii=False) + "\n"


def types_text() -> str:
    return typescript(schema())


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def main(argv: list[str]) -> int:
    """Write the schema and the TypeScript types (``--check``: only compare)."""
    outputs = {SCHEMA_PATH: schema_text(), TYPES_PATH: types_text()}
    stale = [p for p, text in outputs.items() if not p.exists() or p.read_text() != text]
    if "--check" in argv:
        for path in stale:
            print(f"stale: {_shown(path)} (run `make types`)", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(outputs[path])
        print(f"wrote {_shown(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
