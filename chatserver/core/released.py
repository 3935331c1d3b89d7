"""Agents released from a chat they were writing in: the repair of the second step.

Taking an active chat from its agent (requeued: the agent went offline, was disabled, or
sent it to a queue; transferred to another agent) is two steps in two slots: the routing
script (``{rt}``), then the agent's participation is removed from the chat's log
(``{c:<chat>}``), so that the message script no longer lets them write in it.  A process
that dies in between leaves the old agent a participant of a chat that is no longer
theirs.  So the routing script also notes ``<chat>|<agent>`` in a sorted set
(``Keys.released``), due ``RELEASE_SWEEP_AFTER_MS`` later; the timers then check each
due note against the chat as it is now and remove the participation unless the agent
holds the chat again (``hub/jobs.py``).  The check is idempotent: after the normal second
step it removes nothing.
"""

from __future__ import annotations

from chatserver.core.lifecycle import HOLDS_AGENT, ChatState

RELEASE_SWEEP_AFTER_MS = 5_000
"""How long after the release the sweeper checks (the normal second step comes within a
round trip; the sweeper only mends what a dead process left)."""

SEPARATOR = "|"


def member(chat_id: str, agent_id: str) -> str:
    """The note of a release (chat ids never hold the separator)."""
    return f"{chat_id}{SEPARATOR}{agent_id}"


def parse(note: str) -> tuple[str, str]:
    """(chat id, agent id) of a note."""
    chat_id, _, agent_id = note.partition(SEPARATOR)
    return chat_id, agent_id


def drop_participation(agent_id: str, holder: str, state: ChatState | None) -> bool:
    """Whether a released agent's participation goes: unless they hold the chat again
    (it came back to them meanwhile).  A chat that is gone or ended: yes (harmless)."""
    return not (state in HOLDS_AGENT and holder == agent_id)
