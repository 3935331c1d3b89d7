"""Strict decoding of client frames in chatserver.protocol.

Payloads are built with ``msgspec.msgpack`` (the project's own msgpack codec) or by hand,
byte by byte, for the malformed cases no encoder would produce.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any, get_args

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatserver import protocol as p
from chatserver.protocol import (
    ErrorCode,
    ProtocolError,
    decode_agent,
    decode_visitor,
    encode,
    error_frame,
    peek_rid,
)

Ext = msgspec.msgpack.Ext
Decoder = Callable[[bytes], Any]


def pack(obj: Any) -> bytes:
    return msgspec.msgpack.encode(obj)


def fixstr(text: bytes) -> bytes:
    assert len(text) < 32
    return bytes([0xA0 | len(text)]) + text


def raw_map(*pairs: tuple[bytes, bytes]) -> bytes:
    """A msgpack map from already-encoded keys and values."""
    assert len(pairs) < 16
    return bytes([0x80 | len(pairs)]) + b"".join(k + v for k, v in pairs)


def bad_frame(decoder: Decoder, data: bytes) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        decoder(data)
    exc = info.value
    assert exc.code is ErrorCode.BAD_FRAME
    assert isinstance(exc.message, str) and exc.message
    assert str(exc) == exc.message
    assert exc.extra == {}
    return exc


# ---- valid frames -----------------------------------------------------------------------------

# (frame, class) for every frame type; a minimal and a full form of each.
COMMON: list[tuple[dict[str, Any], type[Any]]] = [
    ({"type": "ping"}, p.Ping),
    ({"type": "ping", "rid": "r1"}, p.Ping),
    ({"type": "ping", "rid": None}, p.Ping),
    ({"type": "msg", "chat": "c1", "cid": "k1", "text": "hello"}, p.Send),
    (
        {"type": "msg", "chat": "c1", "cid": "k1", "text": "", "internal": True, "rid": "x"},
        p.Send,
    ),
    ({"type": "typing", "chat": "c1"}, p.Typing),
    ({"type": "typing", "chat": "c1", "on": False}, p.Typing),
    ({"type": "read", "chat": "c1", "seq": 0}, p.Read),
    ({"type": "read", "chat": "c1", "seq": 2**53}, p.Read),
    ({"type": "resume", "chat": "c1", "after": 17}, p.Resume),
    ({"type": "history", "chat": "c1"}, p.History),
    ({"type": "history", "chat": "c1", "before": 9, "limit": 1000}, p.History),
    ({"type": "history", "chat": "c1", "before": None, "limit": 1}, p.History),
]
VISITOR_ONLY: list[tuple[dict[str, Any], type[Any]]] = [
    ({"type": "start"}, p.Start),
    (
        {
            "type": "start",
            "topic": "billing",
            "name": "Ann",
            "email": "ann@example.com",
            "page": "https://example.com/p",
            "referrer": None,
            "locale": "en-GB",
            "fields": {"plan": "pro", "k" * 64: "v" * 256},
            "rid": "r",
        },
        p.Start,
    ),
    ({"type": "start", "fields": {f"f{i}": "x" for i in range(20)}}, p.Start),
    ({"type": "leave", "chat": "c1"}, p.Leave),
    ({"type": "rate", "chat": "c1", "rating": 5}, p.Rate),
    ({"type": "rate", "chat": "c1", "rating": 1, "comment": "c" * 2000}, p.Rate),
    ({"type": "transcript", "chat": "c1", "email": "a@b.cd"}, p.Transcript),
    ({"type": "offline", "email": "a@example.com", "text": "call me"}, p.Offline),
    ({"type": "offline", "email": "a@b.c", "text": "t", "name": "N", "topic": "sales",
      "page": "https://example.com", "locale": "ar"}, p.Offline),
]
AGENT_ONLY: list[tuple[dict[str, Any], type[Any]]] = [
    ({"type": "status", "status": "online"}, p.Status),
    ({"type": "status", "status": "away"}, p.Status),
    ({"type": "status", "status": "offline"}, p.Status),
    ({"type": "accept", "chat": "c1"}, p.Accept),
    ({"type": "decline", "chat": "c1"}, p.Decline),
    ({"type": "transfer", "chat": "c1", "agent": "a2"}, p.Transfer),
    ({"type": "transfer", "chat": "c1", "topic": "sales", "note": "n" * 4000}, p.Transfer),
    ({"type": "close", "chat": "c1"}, p.Close),
    ({"type": "close", "chat": "c1", "outcome": "spam", "tags": ["t"] * 50}, p.Close),
    ({"type": "tags", "chat": "c1", "tags": ["refund", "vip"]}, p.Tags),
    ({"type": "tags", "chat": "c1", "tags": []}, p.Tags),
    ({"type": "watch", "chat": "c1"}, p.Watch),
    ({"type": "unwatch", "chat": "c1"}, p.Unwatch),
    ({"type": "whisper", "chat": "c1", "cid": "k", "text": "psst"}, p.Whisper),
    ({"type": "queues"}, p.Queues),
    ({"type": "join", "chat": "c1"}, p.Join),
]
VISITOR_VALID = COMMON + VISITOR_ONLY
AGENT_VALID = COMMON + AGENT_ONLY
ALL_VALID: list[tuple[dict[str, Any], type[Any], Decoder]] = [
    (f, c, decode_visitor) for f, c in VISITOR_VALID
] + [(f, c, decode_agent) for f, c in AGENT_VALID]
VISITOR_TAGS = {f["type"] for f, _ in VISITOR_VALID}
AGENT_TAGS = {f["type"] for f, _ in AGENT_VALID}


def frame_id(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("type"))
    if isinstance(value, type):
        return value.__name__
    return getattr(value, "__name__", "")


def test_tag_sets_match_unions() -> None:
    def tags(union: Any) -> set[str]:
        return {cls.__struct_config__.tag for cls in union.__args__}

    assert tags(p.VisitorFrame) == VISITOR_TAGS
    assert tags(p.AgentFrame) == AGENT_TAGS
    assert {"start", "leave", "rate", "transcript", "offline"} == VISITOR_TAGS - AGENT_TAGS


@pytest.mark.parametrize(("frame", "cls", "decoder"), ALL_VALID, ids=frame_id)
def test_valid_frames_decode(frame: dict[str, Any], cls: type[Any], decoder: Decoder) -> None:
    got = decoder(pack(frame))
    assert type(got) is cls
    for key, value in frame.items():
        if key != "type":
            assert getattr(got, key) == value
    # The typed frame encodes back to an equivalent map.
    again = decoder(pack(got))
    assert again == got
    assert msgspec.msgpack.decode(pack(got))["type"] == frame["type"]


def test_defaults() -> None:
    send = decode_visitor(pack({"type": "msg", "chat": "c", "cid": "k", "text": "t"}))
    assert isinstance(send, p.Send)
    assert send.rid is None and send.internal is False
    hist = decode_agent(pack({"type": "history", "chat": "c"}))
    assert isinstance(hist, p.History)
    assert hist.before is None and hist.limit == 100
    start = decode_visitor(pack({"type": "start"}))
    assert isinstance(start, p.Start)
    assert start.fields == {} and start.topic is None
    close = decode_agent(pack({"type": "close", "chat": "c"}))
    assert isinstance(close, p.Close)
    assert close.outcome == "resolved" and close.tags == []
    # Mutable defaults are not shared between frames.
    close.tags.append("x")
    close2 = decode_agent(pack({"type": "close", "chat": "c"}))
    assert isinstance(close2, p.Close)
    assert close2.tags == []


def test_field_order_and_unicode() -> None:
    frame = {"text": "héllo 👋 \u0000", "cid": "k", "chat": "ç1", "type": "msg"}
    got = decode_visitor(pack(frame))
    assert isinstance(got, p.Send)
    assert got.text == "héllo 👋 \u0000" and got.chat == "ç1"


def test_unknown_fields_are_ignored() -> None:
    # docs/protocol.md section 3: "Fields not listed for a frame type are ignored", whatever
    # they hold (only excessive nesting inside them is refused, see MALFORMED).
    extra: Any = {"a": [1, {"b": b"\x00"}], 2: None, "e": Ext(3, b"x"), "f": 1.5}
    got = decode_agent(pack({"type": "accept", "chat": "c1", "future": extra}))
    assert got == p.Accept(chat="c1")


# ---- refused frames ----------------------------------------------------------------------------

WRONG_FOR_STR: list[Any] = [0, -1, 2**64 - 1, 1.5, [], ["x"], {}, {"a": "b"}, True, False]
WRONG_FOR_STR += [None, b"", b"text", bytearray(b"x"), Ext(1, b"x"), Ext(-1, b"\x00" * 4)]


def string_fields() -> list[tuple[dict[str, Any], str, Decoder, bool]]:
    """(valid frame, field, decoder, nullable) for every string-typed field."""
    cases: list[tuple[dict[str, Any], str, Decoder, bool]] = []
    base_by_tag: dict[tuple[str, Decoder], dict[str, Any]] = {}
    for frame, _cls, decoder in ALL_VALID:
        base_by_tag.setdefault((frame["type"], decoder), frame)
    for (tag, decoder), frame in base_by_tag.items():
        cls = next(c for f, c, d in ALL_VALID if f["type"] == tag and d is decoder)
        for info in msgspec.structs.fields(cls):
            hint = repr(info.type)
            if not ("str" in hint or "Literal" in hint) or "dict" in hint or "list" in hint:
                continue
            nullable = type(None) in get_args(info.type)
            cases.append((frame, info.name, decoder, nullable))
    return cases


STRING_FIELDS = string_fields()


def test_string_fields_found() -> None:
    names = {(f["type"], name) for f, name, _, _ in STRING_FIELDS}
    for expected in [
        ("ping", "rid"),
        ("msg", "chat"),
        ("msg", "cid"),
        ("msg", "text"),
        ("start", "topic"),
        ("start", "locale"),
        ("status", "status"),
        ("transfer", "note"),
        ("close", "outcome"),
        ("whisper", "text"),
    ]:
        assert expected in names


@pytest.mark.parametrize(
    ("frame", "field", "decoder", "nullable"),
    STRING_FIELDS,
    ids=[f"{f['type']}.{n}.{d.__name__}" for f, n, d, _ in STRING_FIELDS],
)
def test_wrong_type_for_string_field(
    frame: dict[str, Any], field: str, decoder: Decoder, nullable: bool
) -> None:
    for wrong in WRONG_FOR_STR:
        data = pack({**frame, field: wrong})
        if wrong is None and nullable:
            got = decoder(data)
            assert getattr(got, field) is None
            continue
        exc = bad_frame(decoder, data)
        assert field in exc.message


WRONG_FOR_OTHER: list[tuple[dict[str, Any], str, list[Any]]] = [
    (
        {"type": "read", "chat": "c"},
        "seq",
        ["1", 1.0, True, None, [], {}, b"1", Ext(0, b""), -1, 2**53 + 1, 2**64 - 1],
    ),
    ({"type": "history", "chat": "c"}, "limit", [0, 1001, -1, "5", 5.0, True, None]),
    ({"type": "history", "chat": "c"}, "before", [-1, "1", 1.5, False]),
    (
        {"type": "msg", "chat": "c", "cid": "k", "text": "t"},
        "internal",
        [0, 1, "true", None, [], b"\x01"],
    ),
    ({"type": "typing", "chat": "c"}, "on", [1, "yes", None]),
    ({"type": "start"}, "fields", [[], "x", None, 3, [["a", "b"]]]),
    ({"type": "close", "chat": "c"}, "tags", [{}, "t", None, ("t", 1)]),
    ({"type": "tags", "chat": "c"}, "tags", [{}, "t", None, ("t", 1), [""], ["x" * 65]]),
]


@pytest.mark.parametrize(
    ("frame", "field", "wrong"),
    [(frame, field, value) for frame, field, wrongs in WRONG_FOR_OTHER for value in wrongs],
    ids=repr,
)
def test_wrong_type_for_other_fields(frame: dict[str, Any], field: str, wrong: Any) -> None:
    decoders = [d for d in (decode_visitor, decode_agent) if frame["type"] in _tags_of(d)]
    for decoder in decoders:
        exc = bad_frame(decoder, pack({**frame, field: wrong}))
        assert field in exc.message


def _tags_of(decoder: Decoder) -> set[str]:
    return VISITOR_TAGS if decoder is decode_visitor else AGENT_TAGS


@pytest.mark.parametrize(
    ("frame", "decoder"),
    [
        ({"type": "msg", "chat": "", "cid": "k", "text": "t"}, decode_visitor),
        ({"type": "msg", "chat": "c" * 65, "cid": "k", "text": "t"}, decode_visitor),
        ({"type": "msg", "chat": "c", "cid": "", "text": "t"}, decode_agent),
        ({"type": "msg", "chat": "c", "cid": "k", "text": "t" * 100_001}, decode_visitor),
        ({"type": "ping", "rid": "r" * 65}, decode_agent),
        ({"type": "start", "topic": "t" * 257}, decode_visitor),
        ({"type": "start", "page": "p" * 2049}, decode_visitor),
        ({"type": "start", "locale": "l" * 36}, decode_visitor),
        ({"type": "start", "fields": {f"f{i}": "x" for i in range(21)}}, decode_visitor),
        ({"type": "start", "fields": {"": "x"}}, decode_visitor),
        ({"type": "start", "fields": {"k" * 65: "x"}}, decode_visitor),
        ({"type": "start", "fields": {"k": "v" * 257}}, decode_visitor),
        ({"type": "start", "fields": {"k": 1}}, decode_visitor),
        ({"type": "status", "status": "busy"}, decode_agent),
        ({"type": "status", "status": "Online"}, decode_agent),
        ({"type": "transfer", "chat": "c", "note": "n" * 4001}, decode_agent),
        ({"type": "close", "chat": "c", "tags": ["t"] * 51}, decode_agent),
        ({"type": "close", "chat": "c", "tags": [""]}, decode_agent),
        ({"type": "close", "chat": "c", "tags": [1]}, decode_agent),
        ({"type": "whisper", "chat": "c", "cid": "k"}, decode_agent),
    ],
    ids=lambda v: v.get("type") if isinstance(v, dict) else v.__name__,
)
def test_constraint_violations(frame: dict[str, Any], decoder: Decoder) -> None:
    bad_frame(decoder, pack(frame))


def test_boundary_lengths_accepted() -> None:
    frame = {"type": "msg", "chat": "c" * 64, "cid": "k" * 64, "text": "t" * 100_000}
    assert isinstance(decode_visitor(pack({**frame, "rid": "r" * 64})), p.Send)
    assert isinstance(decode_visitor(pack({"type": "start", "locale": "l" * 35})), p.Start)


@pytest.mark.parametrize(("frame", "cls"), [(f, c) for f, c in COMMON if "chat" in f], ids=frame_id)
def test_missing_required_field(frame: dict[str, Any], cls: type[Any]) -> None:
    without = {k: v for k, v in frame.items() if k != "chat"}
    for decoder in (decode_visitor, decode_agent):
        exc = bad_frame(decoder, pack(without))
        assert "chat" in exc.message


@pytest.mark.parametrize(
    "frame",
    [
        {},
        {"rid": "r"},
        {"type": "nope"},
        {"type": ""},
        {"type": "PING"},
        {"type": "ping "},
        {"type": "error"},
        {"type": "welcome"},
        {"type": 1},
        {"type": None},
        {"type": b"ping"},
        {"type": ["ping"]},
        {"type": Ext(1, b"ping")},
    ],
    ids=repr,
)
def test_unknown_or_missing_type(frame: dict[str, Any]) -> None:
    for decoder in (decode_visitor, decode_agent):
        bad_frame(decoder, pack(frame))


@pytest.mark.parametrize(("frame", "cls"), AGENT_ONLY, ids=frame_id)
def test_agent_frames_refused_from_visitors(frame: dict[str, Any], cls: type[Any]) -> None:
    # docs/protocol.md section 3: "Invalid value ... at `$.type`"
    assert "`$.type`" in bad_frame(decode_visitor, pack(frame)).message


@pytest.mark.parametrize(("frame", "cls"), VISITOR_ONLY, ids=frame_id)
def test_visitor_frames_refused_from_agents(frame: dict[str, Any], cls: type[Any]) -> None:
    assert "`$.type`" in bad_frame(decode_agent, pack(frame)).message


TYPE_PING = (fixstr(b"type"), fixstr(b"ping"))

MALFORMED: dict[str, bytes] = {
    "empty": b"",
    "nil": b"\xc0",
    "true": b"\xc3",
    "int": b"\x07",
    "negative int": b"\xff",
    "float": pack(1.5),
    "str": pack("ping"),
    "bin": pack(b"\x81\xa4type\xa4ping"),
    "ext": pack(Ext(1, b"\x81\xa4type\xa4ping")),
    "top-level array": pack(["ping"]),
    "top-level array of map": pack([{"type": "ping"}]),
    "reserved opcode c1": b"\xc1",
    "map then c1": b"\x81\xa4type\xc1",
    "trailing nil": pack({"type": "ping"}) + b"\xc0",
    "trailing map": pack({"type": "ping"}) * 2,
    "trailing garbage": pack({"type": "ping"}) + b"\xff\xff",
    "truncated map": b"\x82\xa4type\xa4ping",
    "truncated str": b"\x81\xa4type\xa4pin",
    "str32 huge": b"\xdb\xff\xff\xff\xff",
    "map32 huge": b"\xdf\xff\xff\xff\xff",
    "array32 huge": b"\xdd\xff\xff\xff\xff",
    "bin32 huge": b"\xc6\xff\xff\xff\xff",
    "ext32 huge": b"\xc9\xff\xff\xff\xff\x01",
    "map16 huge": b"\xde\xff\xff",
    "huge str in rid": raw_map(TYPE_PING, (fixstr(b"rid"), b"\xdb\xff\xff\xff\xff")),
    "huge map in unknown": raw_map(TYPE_PING, (fixstr(b"x"), b"\xdf\xff\xff\xff\xff")),
    "huge array in unknown": raw_map(TYPE_PING, (fixstr(b"x"), b"\xdd\xff\xff\xff\xff")),
    "huge bin in unknown": raw_map(TYPE_PING, (fixstr(b"x"), b"\xc6\xff\xff\xff\xff")),
    "huge ext in unknown": raw_map(TYPE_PING, (fixstr(b"x"), b"\xc9\xff\xff\xff\xff\x01")),
    "non-string key int": raw_map(TYPE_PING, (b"\x01", b"\x02")),
    "non-string key nil": raw_map((b"\xc0", fixstr(b"ping")), TYPE_PING),
    "non-string key bin": raw_map(TYPE_PING, (b"\xc4\x03rid", fixstr(b"r"))),
    "non-string key bin type": raw_map((b"\xc4\x04type", fixstr(b"ping"))),
    "non-string key array": raw_map(TYPE_PING, (b"\x91\x01", b"\x02")),
    "non-string key map": raw_map(TYPE_PING, (b"\x81\x01\x02", b"\x02")),
    "non-string key ext": raw_map(TYPE_PING, (b"\xd4\x01\x00", b"\x02")),
    "non-string key in fields": pack({"type": "start", "fields": {1: "a"}}),
    "bin key in fields": raw_map(
        (fixstr(b"type"), fixstr(b"start")),
        (fixstr(b"fields"), raw_map((b"\xc4\x01k", fixstr(b"v")))),
    ),
    "ext as type": raw_map((fixstr(b"type"), b"\xd6\x01ping")),
    "timestamp as rid": raw_map(TYPE_PING, (fixstr(b"rid"), b"\xd6\xff\x00\x00\x00\x00")),
    "ext as field value": pack({"type": "start", "fields": {"k": Ext(5, b"v")}}),
    "bad utf-8 type": raw_map((fixstr(b"type"), fixstr(b"\xff\xfe"))),
    "bad utf-8 rid": raw_map(TYPE_PING, (fixstr(b"rid"), fixstr(b"\xc3\x28"))),
    "bad utf-8 rid str8": raw_map(TYPE_PING, (fixstr(b"rid"), b"\xd9\x02\xed\xa0")),
    "surrogate in rid": raw_map(TYPE_PING, (fixstr(b"rid"), fixstr(b"\xed\xa0\x80"))),
    "overlong utf-8 rid": raw_map(TYPE_PING, (fixstr(b"rid"), fixstr(b"\xc0\xaf"))),
    "bad utf-8 key": raw_map((fixstr(b"\xff"), fixstr(b"x"))),
    "bad utf-8 in fields key": raw_map(
        (fixstr(b"type"), fixstr(b"start")),
        (fixstr(b"fields"), raw_map((fixstr(b"\xff"), fixstr(b"v")))),
    ),
    "bad utf-8 in fields value": raw_map(
        (fixstr(b"type"), fixstr(b"start")),
        (fixstr(b"fields"), raw_map((fixstr(b"k"), fixstr(b"\x80")))),
    ),
    "bad utf-8 in tags": raw_map(
        (fixstr(b"type"), fixstr(b"close")),
        (fixstr(b"chat"), fixstr(b"c")),
        (fixstr(b"tags"), b"\x91" + fixstr(b"\xfe")),
    ),
    "bad utf-8 in text": raw_map(
        (fixstr(b"type"), fixstr(b"msg")),
        (fixstr(b"chat"), fixstr(b"c")),
        (fixstr(b"cid"), fixstr(b"k")),
        (fixstr(b"text"), b"\xda\x00\x03ab\xff"),
    ),
    "deep arrays in unknown field": raw_map(TYPE_PING, (fixstr(b"x"), b"\x91" * 100_000 + b"\xc0")),
    "deep maps in unknown field": raw_map(
        TYPE_PING, (fixstr(b"x"), b"\x81\xa1k" * 100_000 + b"\xc0")
    ),
    "deep arrays in fields": raw_map(
        (fixstr(b"type"), fixstr(b"start")),
        (fixstr(b"fields"), raw_map((fixstr(b"k"), b"\x91" * 100_000 + b"\xc0"))),
    ),
    "deep arrays top-level": b"\x91" * 100_000 + b"\xc0",
    "deep maps top-level": b"\x81\xa1k" * 100_000 + b"\xc0",
    "duplicate type": raw_map(TYPE_PING, (fixstr(b"type"), fixstr(b"nope"))),
}


@pytest.mark.parametrize("data", list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_input_is_bad_frame(data: bytes) -> None:
    for decoder in (decode_visitor, decode_agent):
        bad_frame(decoder, data)
    rid = peek_rid(data)
    assert rid is None


@pytest.mark.parametrize(("frame", "cls", "decoder"), ALL_VALID, ids=frame_id)
def test_every_truncation_is_bad_frame(
    frame: dict[str, Any], cls: type[Any], decoder: Decoder
) -> None:
    data = pack(frame)
    for n in range(len(data)):
        bad_frame(decoder, data[:n])
    for tail in (b"\x00", b"\xc0", b"\x90", data):
        bad_frame(decoder, data + tail)


def test_str_with_declared_length_beyond_data() -> None:
    for header in (b"\xd9\xff", b"\xda\xff\xff", b"\xdb\x7f\xff\xff\xff"):
        data = raw_map(TYPE_PING, (fixstr(b"rid"), header + b"abc"))
        for decoder in (decode_visitor, decode_agent):
            bad_frame(decoder, data)


def test_deep_nesting_message() -> None:
    data = raw_map(TYPE_PING, (fixstr(b"x"), b"\x91" * 100_000 + b"\xc0"))
    assert "nested" in bad_frame(decode_visitor, data).message


def test_moderate_nesting_in_unknown_field_is_fine() -> None:
    data = raw_map(TYPE_PING, (fixstr(b"x"), b"\x91" * 50 + b"\xc0"))
    assert decode_visitor(data) == p.Ping()


def test_bad_utf8_message() -> None:
    data = raw_map(TYPE_PING, (fixstr(b"rid"), fixstr(b"\xff")))
    assert "UTF-8" in bad_frame(decode_agent, data).message


# ---- peek_rid, error_frame, encode -------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (pack({"type": "ping", "rid": "r1"}), "r1"),
        (pack({"type": "nope", "rid": "r2"}), "r2"),
        (pack({"rid": "r3", "chat": 5}), "r3"),
        (pack({"type": "msg", "rid": "r" * 64, "chat": ""}), "r" * 64),
        (pack({"type": "ping", "rid": "r" * 65}), None),
        (pack({"type": "ping", "rid": 5}), None),
        (pack({"type": "ping", "rid": b"r"}), None),
        (pack({"type": "ping", "rid": None}), None),
        (pack({"type": "ping", "rid": ["r"]}), None),
        (pack({"type": "ping"}), None),
        (pack({1: "x", "rid": "r"}), None),
        (pack(["rid", "r"]), None),
        (pack("rid"), None),
        (b"", None),
        (b"\xc1", None),
        (pack({"rid": "r"}) + b"\x00", None),
        (pack({"rid": "r"})[:-1], None),
        (raw_map((fixstr(b"rid"), fixstr(b"\xff"))), None),
        (raw_map((fixstr(b"rid"), fixstr(b"r")), (fixstr(b"x"), b"\x91" * 100_000)), None),
        (raw_map((fixstr(b"rid"), fixstr(b"ok")), (fixstr(b"x"), b"\x91" * 10 + b"\x01")), "ok"),
    ],
)
def test_peek_rid(data: bytes, expected: str | None) -> None:
    assert peek_rid(data) == expected


def test_error_frame() -> None:
    exc = ProtocolError(ErrorCode.NOT_FOUND, "no such chat")
    assert error_frame(exc) == {"type": "error", "code": "not_found", "message": "no such chat"}
    assert error_frame(exc, "r1") == {
        "type": "error",
        "code": "not_found",
        "message": "no such chat",
        "rid": "r1",
    }
    assert error_frame(exc, "")["rid"] == ""
    extra = ProtocolError(ErrorCode.AGENT_UNAVAILABLE, "gone", chat="c1", retry_s=3)
    frame = error_frame(extra, "r")
    assert frame == {
        "type": "error",
        "code": "agent_unavailable",
        "message": "gone",
        "rid": "r",
        "chat": "c1",
        "retry_s": 3,
    }
    assert isinstance(frame["code"], str) and not isinstance(frame["code"], ErrorCode)
    assert msgspec.msgpack.decode(encode(frame)) == frame


def test_error_frame_from_bad_frame() -> None:
    try:
        decode_visitor(b"\xc1")
    except ProtocolError as exc:
        frame = error_frame(exc, peek_rid(b"\xc1"))
    else:  # pragma: no cover
        pytest.fail("decoded garbage")
    assert frame["type"] == "error" and frame["code"] == "bad_frame"
    assert "rid" not in frame


def test_protocol_error_attributes() -> None:
    exc = ProtocolError(ErrorCode.FORBIDDEN, "supervisors only", chat="c")
    assert isinstance(exc, Exception)
    assert exc.code is ErrorCode.FORBIDDEN
    assert exc.message == str(exc) == "supervisors only"
    assert exc.extra == {"chat": "c"}


def test_encode() -> None:
    frame: dict[str, Any] = {
        "type": "msg",
        "chat": "c1",
        "seq": 2**53,
        "text": "héllo",
        "at": 1.5,
        "flags": [True, False, None],
        "meta": {"k": "v"},
        "code": ErrorCode.BAD_FRAME,
    }
    data = encode(frame)
    assert isinstance(data, bytes)
    assert msgspec.msgpack.decode(data) == {**frame, "code": "bad_frame"}
    assert encode({"type": "ping"}) == b"\x81\xa4type\xa4ping"


def test_encode_round_trips_client_frames() -> None:
    for frame, cls, decoder in ALL_VALID:
        got = decoder(encode(frame))
        assert type(got) is cls


def test_enums() -> None:
    assert {c.value for c in ErrorCode} >= {"bad_frame", "too_large", "rate_limited"}
    assert all(c.value == c.name.lower() for c in ErrorCode)
    assert int(p.CloseCode.NORMAL) == 1000
    assert all(1000 <= c <= 4999 for c in p.CloseCode)
    assert p.PROTOCOL_VERSION == 1


# ---- fuzzing ---------------------------------------------------------------------------------


def check_decoders(data: bytes) -> None:
    """The only exception either decoder may raise is ProtocolError(BAD_FRAME)."""
    for decoder, tags in ((decode_visitor, VISITOR_TAGS), (decode_agent, AGENT_TAGS)):
        try:
            got = decoder(data)
        except ProtocolError as exc:
            assert exc.code is ErrorCode.BAD_FRAME
            assert exc.message
            continue
        tag = type(got).__struct_config__.tag
        assert tag in tags
        assert decoder(pack(got)) == got
    rid = peek_rid(data)
    assert rid is None or (isinstance(rid, str) and len(rid) <= 64)


FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.binary(max_size=200))
def test_fuzz_arbitrary_bytes(data: bytes) -> None:
    check_decoders(data)


@FUZZ
@given(
    st.sampled_from([pack(f) for f, _c, _d in ALL_VALID]),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=4),
    st.integers(0, 10_000),
)
def test_fuzz_mutated_frames(base: bytes, edits: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(base)
    for pos, byte in edits:
        if pos % 3 == 0 and data:
            data[pos % len(data)] = byte
        elif pos % 3 == 1:
            data.insert(pos % (len(data) + 1), byte)
        elif data:
            del data[pos % len(data)]
    check_decoders(bytes(data))
    check_decoders(bytes(data[: cut % (len(data) + 1)]))


scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats()
    | st.text(max_size=70)
    | st.binary(max_size=20)
    | st.builds(Ext, st.integers(-128, 127), st.binary(max_size=12))
)
keys = st.text(max_size=10) | st.integers(-5, 5) | st.binary(max_size=3) | st.none()
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=12,
)

FIELD_NAMES = sorted(
    {info.name for _f, cls, _d in ALL_VALID for info in msgspec.structs.fields(cls)}
)
TAGS = [*sorted(VISITOR_TAGS | AGENT_TAGS), "nope", ""]
plausible = (
    st.sampled_from(["c1", "", "x" * 64, "x" * 65, "online", "away", "billing"])
    | st.integers(-2, 2**53 + 1)
    | st.booleans()
    | st.none()
    | st.lists(st.text(max_size=3), max_size=3)
    | st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=3)
    | values
)
frame_like = st.builds(
    lambda tag, body: {"type": tag, **body} if tag is not None else body,
    st.sampled_from(TAGS) | st.none(),
    st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=5), plausible, max_size=6),
)


@FUZZ
@given(values)
def test_fuzz_arbitrary_structures(value: Any) -> None:
    check_decoders(pack(value))


@FUZZ
@given(frame_like)
def test_fuzz_frame_like_maps(frame: dict[Any, Any]) -> None:
    data = pack(frame)
    check_decoders(data)
    if isinstance(frame.get("rid"), str) and len(frame["rid"]) <= 64:
        assert peek_rid(data) == frame["rid"]


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(ALL_VALID), st.text(max_size=64))
def test_fuzz_valid_frames_with_any_rid(
    case: tuple[dict[str, Any], type[Any], Decoder], rid: str
) -> None:
    frame, cls, decoder = case
    got = decoder(pack({**frame, "rid": rid}))
    assert type(got) is cls and got.rid == rid
    assert peek_rid(pack({**frame, "rid": rid})) == rid


def test_header_helpers() -> None:
    # Sanity check of the hand-built encodings used above.
    assert raw_map(TYPE_PING) == pack({"type": "ping"})
    assert b"\xda" + struct.pack(">H", 3) == b"\xda\x00\x03"
