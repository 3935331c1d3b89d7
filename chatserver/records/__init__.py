"""Interaction records: every finished chat written exactly once to SQL, searchable, with
the contact-center metrics computed from their raw event times.

- ``builder.py``  pure: a finished chat's Redis state -> an :class:`InteractionRecord`.
- ``schema.py``   the SQL tables (SQLAlchemy Core) and ``migrations/`` (Alembic).
- ``database.py`` engine, migrations at start-up, idempotent upsert.
- ``writer.py``   the outbox consumer: build, upsert, then acknowledge.
- ``queries.py``  search, fetch, export.
- ``metrics.py``  pure metric formulas over records (``docs/metrics.md``).
"""
