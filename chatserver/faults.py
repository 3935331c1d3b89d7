"""Test-only crash points, for the tests that kill a process between the two steps of an
action that spans two Redis slots (``docs/architecture.md``, "Actions that span two
slots").

``CHATSERVER_CRASH_AT=<point>`` in a process's environment makes it exit at once, with
``os._exit(CRASH_EXIT)`` (no cleanup, no socket closed, nothing flushed: as close to a
``SIGKILL`` at that line as Python allows), the first time it reaches ``<point>``.
Unset (always, outside these tests) a crash point is one comparison with an empty string.
It is not a setting on purpose: nothing in ``Settings`` or the docs of the configuration
invites anyone to set it, and it is read once, when this module is imported.

The points, each between the two steps it names (the first step done, the second not):
"""

from __future__ import annotations

import os

CRASH_EXIT = 70
"""The exit code of a process that stopped at its crash point."""

POINTS = frozenset(
    {
        # start: the chat's message log opened ({c:<chat>}), the chat not yet created
        # and queued ({rt})
        "start:log_opened",
        # end (close, leave, miss, timeout, visitor gone): the routing script done ({rt}:
        # capacity freed, outbox entry), the log not yet sealed ({c:<chat>})
        "end:routed",
        # offline message: the message stored and the log sealed ({c:<chat>}), the chat
        # and its outbox entry not yet written ({rt})
        "offline:logged",
        # accept: the routing script done ({rt}), the agent not yet a participant of the
        # log ({c:<chat>})
        "accept:routed",
        # transfer to an agent: the routing script done ({rt}), the old agent's
        # participation not yet removed nor the new agent's added ({c:<chat>})
        "transfer:routed",
    }
)

CRASH_AT = os.environ.get("CHATSERVER_CRASH_AT", "")
if CRASH_AT and CRASH_AT not in POINTS:
    raise RuntimeError(f"CHATSERVER_CRASH_AT={CRASH_AT!r}: no such crash point")


def crash_point(name: str) -> None:
    """Exit the process here if ``CHATSERVER_CRASH_AT`` names this point."""
    if name == CRASH_AT:
        os._exit(CRASH_EXIT)
