"""TypeScript declarations from the protocol's JSON Schema (the subset msgspec emits).

Each object in ``$defs`` becomes an ``interface`` (a property not in ``required`` is
optional), every other definition a ``type``; ``enum`` becomes a union of literals,
``anyOf`` a union, ``additionalProperties`` a ``Record``.  Length and range constraints
have no TypeScript form and are left to the server, which checks them.  Small on purpose:
the schema is ours and uses a few constructs, so a generator that needs no Node.js lets a
plain pytest check that the committed types are fresh.
"""

from __future__ import annotations

import json
import re
from typing import Any

HEADER = """\
// The wire protocol's frames, generated from chatserver/protocol (its JSON Schema is
// clients/protocol.schema.json) by `make types`: do not edit.  docs/protocol.md describes
// every frame.
"""

FOOTER = """/** The server frame of one `type`, e.g. `FrameOf<"msg">`. */
export type FrameOf<T extends ServerFrame["type"]> = Extract<ServerFrame, { type: T }>;

/** The client frame of one `type`, e.g. `ClientFrameOf<"start">`. */
export type ClientFrameOf<T extends ClientFrame["type"]> = Extract<ClientFrame, { type: T }>;
"""

_IDENT = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")


def typescript(schema: dict[str, Any]) -> str:
    parts = [HEADER]
    for name, node in schema["$defs"].items():
        parts.append(_declaration(name, node))
    parts.append(FOOTER)
    return "\n".join(parts)


def _comment(node: dict[str, Any], indent: str = "") -> str:
    text = node.get("description")
    if not text:
        return ""
    text = text.replace("``", "`").replace("*/", "*\\/")
    lines = [line.strip() for line in text.strip().splitlines()]
    if len(lines) == 1:
        return f"{indent}/** {lines[0]} */\n"
    body = "".join(f"{indent} * {line}".rstrip() + "\n" for line in lines)
    return f"{indent}/**\n{body}{indent} */\n"


def _declaration(name: str, node: dict[str, Any]) -> str:
    doc = _comment(node)
    if node.get("type") == "object" and "properties" in node:
        return f"{doc}export interface {name} {_object(node, '')}\n"
    if len(node.get("anyOf", ())) > 3:
        members = "".join(f"\n  | {_member(n, '  ')}" for n in node["anyOf"])
        return f"{doc}export type {name} ={members};\n"
    return f"{doc}export type {name} = {_type(node, '')};\n"


def _object(node: dict[str, Any], indent: str) -> str:
    required = set(node.get("required", ()))
    inner = indent + "  "
    lines = []
    for prop, sub in node["properties"].items():
        key = prop if _IDENT.match(prop) else json.dumps(prop)
        optional = "" if prop in required else "?"
        lines.append(f"{_comment(sub, inner)}{inner}{key}{optional}: {_type(sub, inner)};")
    if node.get("additionalProperties") not in (None, False):
        lines.append(f"{inner}[key: string]: {_type(node['additionalProperties'], inner)};")
    return "{\n" + "\n".join(lines) + f"\n{indent}}}"


def _type(node: dict[str, Any], indent: str) -> str:
    if "$ref" in node:
        return str(node["$ref"]).rsplit("/", 1)[-1]
    if "enum" in node:
        return " | ".join(json.dumps(v) for v in node["enum"])
    if "const" in node:
        return json.dumps(node["const"])
    if "anyOf" in node:
        return " | ".join(_member(n, indent) for n in node["anyOf"])
    kind = node.get("type")
    if kind == "string":
        return "string"
    if kind in ("integer", "number"):
        return "number"
    if kind == "boolean":
        return "boolean"
    if kind == "null":
        return "null"
    if kind == "array":
        return f"{_member(node.get('items', {}), indent)}[]"
    if kind == "object":
        if "properties" in node:
            return _object(node, indent)
        values = node.get("additionalProperties")
        return f"Record<string, {_type(values, indent) if values else 'unknown'}>"
    if not node:
        return "unknown"
    raise ValueError(f"no TypeScript form for schema {node!r}")


def _member(node: dict[str, Any], indent: str) -> str:
    """A type inside a union or before ``[]``: parenthesized when it is a union itself."""
    text = _type(node, indent)
    return f"({text})" if " | " in text and not text.startswith("{") else text
