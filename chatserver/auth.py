"""Credentials: signed visitor and agent tokens, password hashing.

Tokens are ``itsdangerous`` timed signatures (HMAC-SHA1 over the payload, constant-time
compare).  An agent token carries the agent's credential version; disabling the agent or
changing their password bumps the version and every older token stops working.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, URLSafeTimedSerializer

from chatserver.settings import Settings


@dataclass(frozen=True)
class AgentClaims:
    agent_id: str
    version: int


class Credentials:
    def __init__(self, settings: Settings) -> None:
        secret = settings.resolved_secret()
        self._visitor = URLSafeTimedSerializer(secret, salt="chatserver.visitor")
        self._agent = URLSafeTimedSerializer(secret, salt="chatserver.agent")
        self.file_key = hmac.new(secret.encode(), b"chatserver.files", hashlib.sha256).digest()
        """Signs attachment download URLs (``core/files.py``)."""
        self._visitor_ttl = int(settings.visitor_token_ttl_s)
        self._agent_ttl = int(settings.agent_token_ttl_s)
        self._hasher = PasswordHasher(
            time_cost=max(1, settings.password_time_cost),
            memory_cost=max(64, settings.password_memory_kib),
            parallelism=2,
        )

    # visitors ---------------------------------------------------------------------------
    def visitor_token(self, visitor_id: str) -> str:
        return self._visitor.dumps(visitor_id)

    def visitor_from_token(self, token: str) -> str | None:
        try:
            value = self._visitor.loads(token, max_age=self._visitor_ttl)
        except BadSignature:
            return None
        return value if isinstance(value, str) else None

    # agents -----------------------------------------------------------------------------
    def agent_token(self, agent_id: str, version: int) -> str:
        return self._agent.dumps([agent_id, version])

    def agent_from_token(self, token: str) -> AgentClaims | None:
        try:
            value = self._agent.loads(token, max_age=self._agent_ttl)
        except BadSignature:
            return None
        if (
            isinstance(value, list)
            and len(value) == 2
            and isinstance(value[0], str)
            and isinstance(value[1], int)
        ):
            return AgentClaims(value[0], value[1])
        return None

    # passwords --------------------------------------------------------------------------
    def hash_password(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify_password(self, hashed: str, password: str) -> bool:
        try:
            return self._hasher.verify(hashed, password)
        except (VerificationError, InvalidHashError):
            return False
