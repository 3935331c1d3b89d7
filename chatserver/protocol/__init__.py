"""The wire protocol: typed client and server frames, strict decoding, error and close
codes, and the pub/sub envelope between server processes.

- ``client_frames``: what clients send, decoded strictly (``decode_visitor``, ``decode_agent``);
- ``server_frames``: what the server sends (``ServerFrame``), ``encode``, ``error_frame``;
- ``views``: the objects inside server frames (the chat object, notices, live figures);
- ``codes``: error codes, close codes, ``ProtocolError``;
- ``envelope``: chat-channel envelopes and control messages (server to server);
- ``schema``: the JSON Schema of both unions and the TypeScript types generated from it
  (``clients/protocol.schema.json``, ``clients/protocol.ts``; ``make types``).

``docs/protocol.md`` is the reference for every frame.
"""

from chatserver.protocol.client_frames import (
    Accept,
    AgentFrame,
    ClientFrame,
    Close,
    CommonFrame,
    Decline,
    History,
    Join,
    Leave,
    Offline,
    Ping,
    Queues,
    Rate,
    Read,
    Resume,
    Send,
    Start,
    Status,
    Tags,
    Transcript,
    Transfer,
    Typing,
    Unwatch,
    VisitorFrame,
    Watch,
    Whisper,
    decode_agent,
    decode_visitor,
    peek_rid,
    resume_in_handshake,
)
from chatserver.protocol.codes import CloseCode, ErrorCode, ProtocolError
from chatserver.protocol.fields import PROTOCOL_VERSION, Id, Rid, Seq, Short, Tag, Text, Url
from chatserver.protocol.server_frames import ServerFrame, decode_server, encode, error_frame

__all__ = [
    "PROTOCOL_VERSION",
    "Accept",
    "AgentFrame",
    "ClientFrame",
    "Close",
    "CloseCode",
    "CommonFrame",
    "Decline",
    "ErrorCode",
    "History",
    "Id",
    "Join",
    "Leave",
    "Offline",
    "Ping",
    "ProtocolError",
    "Queues",
    "Rate",
    "Read",
    "Resume",
    "Rid",
    "Send",
    "Seq",
    "ServerFrame",
    "Short",
    "Start",
    "Status",
    "Tag",
    "Tags",
    "Text",
    "Transcript",
    "Transfer",
    "Typing",
    "Unwatch",
    "Url",
    "VisitorFrame",
    "Watch",
    "Whisper",
    "decode_agent",
    "decode_server",
    "decode_visitor",
    "encode",
    "error_frame",
    "peek_rid",
    "resume_in_handshake",
]
