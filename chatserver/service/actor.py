"""Who performs an action, as the service layer sees them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Actor:
    role: str
    """``agent`` (agents and supervisors) or ``visitor``."""
    id: str
    name: str = ""
    supervisor: bool = False
    connection: str = ""
    """The connection the action came from ('' from REST or a timer)."""

    @property
    def participant(self) -> str:
        """As a chat's participant list names them: ``agent:<id>``, ``visitor:<id>``."""
        return f"{self.role}:{self.id}"

    @property
    def label(self) -> str:
        """Who acts, as recorded and shown (``ended_by``, the transfer trace):
        ``supervisor:<id>`` for a supervisor, else the participant."""
        return f"supervisor:{self.id}" if self.supervisor else self.participant
