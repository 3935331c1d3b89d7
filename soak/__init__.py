"""The fault soak: the whole product (hubs, a worker, Valkey with its append-only file,
PostgreSQL) under a steady load of visitors and agents while a fault injector kills,
restarts, pauses and cuts its parts; at the end an audit checks the invariants.

Run it with ``python -m soak`` (``make soak``); see ``docs/soak.md``.
"""
