"""chatserver: a real-time live-chat hub with skill-and-load agent routing.

Layout (one concept per module):

- ``core/``      pure decision code: chat lifecycle, routing choice, queue order, limits.
                 No I/O, no clock; everything takes state and ``now`` and returns what to do.
- ``protocol/``  the wire format: typed client and server frames, strict msgpack decoding,
                 error and close codes, pub/sub envelopes, JSON Schema and TypeScript types.
- ``store/``     the Redis shell: key names, Lua scripts, the embedded Valkey server.
- ``hub/``       one process's live part: connections, pub/sub fan-out, the drainer and timers.
- ``web/``       the Starlette application: WebSocket endpoints and the REST API.
- ``client.py``  an asyncio client for visitors and agents (used by tests and benchmarks).
- ``cli.py``     the ``chatserver`` command: serve, worker, agents, topics, skills.
"""

__version__ = "0.1.0"
