"""The delivery cursor: one per chat a connection follows, deciding what of that chat's
messages the connection sends, so that each arrives once and in order.  Sans-I/O: it is
fed sequence numbers (live publications, chat log entries) and answers what to do; the
connection (``hub/connection.py``) reads the log, sends the frames and subscribes.

Live messages (``live``):

- seq <= delivered: a duplicate, dropped (``Live.DUPLICATE``);
- seq == delivered + 1: sent at once (``Live.SEND``), or only moved past when the
  connection wrote it (``Live.SKIP``: its ``ack`` carried the seq);
- seq  > delivered + 1: something was missed (pub/sub is best effort, or the connection
  joined while messages were in flight): the message is held and the connection must
  catch up from the chat log (``Live.CATCH_UP``);
- while a catch-up runs, every live message is held (``Live.HOLD``) and released in order
  when it ends.

A catch-up is a loop of rounds.  Each round reads the log after ``delivered`` page by page
(``page_read`` says whether the log had been trimmed past the cursor, ``entry`` whether to
send each entry), then ``release`` sends the held live messages that follow on; when one
is still missing a new round begins.  ``finish`` ends the catch-up (also when it failed):
the messages held meanwhile are delivered the live way, which may start another.

A catch-up the client asked for (a new follow, ``resume``) *replays*: it includes the
connection's own messages.  One started by a gap skips them like live delivery does.
"""

from __future__ import annotations

from enum import Enum


class Live(Enum):
    """What to do with one live message."""

    SEND = "send"
    """Send its frame: it is the next one."""
    SKIP = "skip"
    """The next one, but written by this connection: moved past, not sent."""
    DUPLICATE = "duplicate"
    """Delivered already: drop it."""
    HOLD = "hold"
    """Held until the catch-up under way ends."""
    CATCH_UP = "catch_up"
    """Held; messages before it are missing: start a catch-up from the log."""


Held = tuple[int, bytes, bool]
"""A live message held back: (seq, frame, sent by this connection)."""


class Cursor:
    # one per followed chat and connection, tens of thousands at once: no instance dict
    __slots__ = ("catching_up", "delivered", "pending", "replay", "told")

    def __init__(self, delivered: int, *, catching_up: bool = False, replay: bool = False) -> None:
        self.delivered = delivered
        """The highest seq the connection has (sent, or moved past)."""
        self.catching_up = catching_up
        self.pending: list[Held] = []
        """Live messages held back while catching up."""
        self.replay = replay
        """The catch-up under way replays what the client asked for: its own messages
        too.  Otherwise (a gap in live delivery) they are skipped: it had their ``ack``."""
        self.told = False
        """This round of the catch-up has told the client of a trimmed log already."""

    # ---- starting ------------------------------------------------------------------------
    @classmethod
    def following(cls, after: int) -> Cursor:
        """A chat newly followed from ``after``: the caller catches up (replaying)."""
        return cls(after, catching_up=True, replay=True)

    def refollow(self, after: int, reset: bool) -> bool:
        """The chat is followed again.  Nothing changes unless ``reset`` (a client's
        ``resume``), which delivers again from ``after``.  Returns True when the caller
        must start a catch-up (none runs yet); one under way just goes back to ``after``."""
        if not reset:
            return False
        self.replay = True
        if self.catching_up:
            self.delivered = min(self.delivered, after)
            return False
        self.delivered = after
        self.catching_up = True
        return True

    def begin(self) -> bool:
        """Check the log for anything missed (after a reconnect to Redis).  True when the
        caller must run a catch-up; False when one is under way already."""
        if self.catching_up:
            return False
        self.catching_up = True
        return True

    # ---- live delivery -------------------------------------------------------------------
    def live(self, seq: int, frame: bytes, own: bool) -> Live:
        """A message published live; ``own``: written by this connection."""
        if self.catching_up:
            self.pending.append((seq, frame, own))
            return Live.HOLD
        delivered = self.delivered
        if seq <= delivered:
            return Live.DUPLICATE
        if seq == delivered + 1:
            self.delivered = seq
            return Live.SKIP if own else Live.SEND
        self.catching_up = True
        self.pending.append((seq, frame, own))
        return Live.CATCH_UP

    # ---- catching up ---------------------------------------------------------------------
    def page_read(self, gap: bool) -> bool:
        """A page of the log after ``delivered`` was read; ``gap``: the log no longer
        holds the message right after it.  True when the client must be told (a
        ``resync`` from ``delivered``): once per round."""
        if gap and not self.told:
            self.told = True
            return True
        return False

    def entry(self, seq: int, own: bool, hidden: bool) -> bool:
        """One entry of the page read: True to send it.  ``own``: written by this
        connection; ``hidden``: an internal note the connection may not see."""
        if seq <= self.delivered:
            return False
        self.delivered = seq
        if hidden:
            return False
        return self.replay or not own

    def release(self) -> tuple[list[bytes], bool]:
        """The log is read to its end: the held messages that follow on, to send in
        order, and whether one is still missing (then read the log again: a new round)."""
        held = sorted(self.pending)
        self.pending = []
        self.told = False
        frames: list[bytes] = []
        for seq, frame, own in held:
            if seq <= self.delivered:
                continue
            if seq != self.delivered + 1:
                return frames, True  # the rest is in the log: the next round reads it
            self.delivered = seq
            if not own:
                frames.append(frame)
        return frames, False

    def finish(self) -> tuple[list[bytes], bool]:
        """The catch-up ended (or failed).  Messages held since the last ``release`` go
        the live way: the frames to send, and whether a new catch-up must start."""
        self.catching_up = False
        self.replay = False
        self.told = False
        if not self.pending:
            return [], False
        held, self.pending = sorted(self.pending), []
        frames: list[bytes] = []
        again = False
        for seq, frame, own in held:
            verdict = self.live(seq, frame, own)
            if verdict is Live.SEND:
                frames.append(frame)
            elif verdict is Live.CATCH_UP:
                again = True
        return frames, again
