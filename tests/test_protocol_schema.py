"""The committed JSON Schema and TypeScript types of the protocol match the Python structs,
the TypeScript generator's output for each schema construct, and the pub/sub envelope.

If ``test_committed_files_are_fresh`` fails: run ``make types`` and commit the result.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from chatserver.protocol import envelope, schema
from chatserver.protocol.server_frames import ServerFrame, decode_server
from chatserver.protocol.typescript import typescript


def test_committed_files_are_fresh() -> None:
    assert schema.SCHEMA_PATH.read_text() == schema.schema_text(), "run `make types`"
    assert schema.TYPES_PATH.read_text() == schema.types_text(), "run `make types`"
    assert schema.main(["--check"]) == 0


def test_check_reports_a_stale_file(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = tmp_path / "protocol.ts"
    stale.write_text(schema.types_text().replace("seq: number", "seq: string"))
    monkeypatch.setattr(schema, "TYPES_PATH", stale)
    assert schema.main(["--check"]) == 1
    assert schema.main([]) == 0
    assert stale.read_text() == schema.types_text()


def test_every_server_frame_type_is_in_the_schema_union() -> None:
    union = schema.schema()["$defs"]["ServerFrame"]
    tags = set(union["discriminator"]["mapping"])
    assert tags == {
        "welcome", "chat", "queue", "offer", "assigned", "revoked", "ended", "status",
        "msg", "ack", "typing", "read", "resync", "history", "queues", "ok", "pong",
        "error", "live", "availability", "notice", "notice_end", "invite", "invite_answer",
    }


def _ts(defs: dict[str, Any]) -> str:
    return typescript({"$defs": defs})


def test_typescript_forms() -> None:
    out = _ts({
        "Thing": {
            "type": "object",
            "description": "A thing.\nTwo lines, ``code``.",
            "properties": {
                "type": {"enum": ["thing"]},
                "n": {"type": "integer"},
                "x": {"type": "number"},
                "ok": {"type": "boolean"},
                "maybe": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                "list": {"type": "array", "items": {"anyOf": [{"type": "integer"},
                                                              {"type": "null"}]}},
                "map": {"type": "object", "additionalProperties": {"$ref": "#/$defs/Other"}},
                "any": {"type": "object"},
                "from": {"type": "string"},
                "odd-key": {"type": "string"},
            },
            "required": ["type", "n"],
        },
        "Kinds": {"enum": ["a", "b"]},
    })
    assert "/**\n * A thing.\n * Two lines, `code`.\n */\nexport interface Thing {" in out
    assert '  type: "thing";\n  n: number;\n  x?: number;\n  ok?: boolean;\n' in out
    assert "  maybe?: string | null;\n" in out
    assert "  list?: (number | null)[];\n" in out
    assert "  map?: Record<string, Other>;\n  any?: Record<string, unknown>;\n" in out
    assert '  from?: string;\n  "odd-key"?: string;\n' in out
    assert 'export type Kinds = "a" | "b";' in out


def test_typescript_refuses_what_it_cannot_express() -> None:
    with pytest.raises(ValueError, match="no TypeScript form"):
        _ts({"Bad": {"type": "tuple-ish"}})


def test_server_frames_are_strict() -> None:
    pong = {"type": "pong", "ts": 1}
    assert decode_server(msgspec.msgpack.encode(pong)) is not None
    for bad in ({**pong, "extra": 1}, {"type": "pong"}, {"type": "nope"}, {**pong, "ts": "1"}):
        with pytest.raises(msgspec.ValidationError):
            decode_server(msgspec.msgpack.encode(bad))


def test_structs_encode_like_the_maps_they_describe() -> None:
    """A struct leaves an UNSET field out and spells ``sender`` as ``from``: what the
    server sends today as plain maps."""
    frame = msgspec.msgpack.decode(msgspec.msgpack.encode({
        "type": "msg", "chat": "c1", "seq": 3, "cid": "x", "text": "hi", "kind": "message",
        "internal": False, "ts": 5, "from": {"role": "visitor", "id": "v1", "name": ""},
    }), type=ServerFrame)
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(frame))["from"]["id"] == "v1"
    queue = msgspec.msgpack.decode(
        msgspec.msgpack.encode({"type": "queue", "chat": "c1", "position": 2,
                                "available": False}), type=ServerFrame)
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(queue)) == {
        "type": "queue", "chat": "c1", "position": 2, "available": False,
    }


def test_publication_envelope() -> None:
    frame = {"type": "typing", "chat": "c1", "on": True}
    assert envelope.publication(frame) == b"A" + msgspec.msgpack.encode(frame)
    assert envelope.publication(frame, agents_only=True)[:1] == b"G"


def test_control_message_round_trip() -> None:
    data = envelope.control({"type": "ended", "chat": "c1", "by": "system"},
                            {"unfollow": "c1", "status": "away"})
    ctl, frame = envelope.decode_control(data)
    assert ctl == envelope.Control(unfollow="c1", status="away")
    assert frame is not None and msgspec.msgpack.decode(frame)["type"] == "ended"
    ctl, frame = envelope.decode_control(envelope.control(None, {"revoke_below": 3}))
    assert ctl.revoke_below == 3 and frame is None
    with pytest.raises(msgspec.ValidationError):
        envelope.decode_control(envelope.control(None, {"folow": "c1"}))


def test_schema_is_json() -> None:
    assert json.loads(schema.SCHEMA_PATH.read_text())["$defs"]["ChatView"]["required"]
