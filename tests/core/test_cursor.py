"""The delivery cursor (``core/cursor.py``): every message exactly once and in order,
whatever the network does to live publications (loses, repeats, reorders them) and however
they interleave with catch-up reads of the chat log and with the client's ``resume``.

The driver below plays the connection (``hub/connection.py``): ``CatchUp`` is its
``_catch_up`` loop, as a generator that yields where the real one awaits (the log read,
the wait for the socket to take a frame), so that hypothesis can run live deliveries in
between.  The chat log is the oracle.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from chatserver.core.cursor import Cursor, Live


@dataclass(frozen=True)
class Msg:
    seq: int
    own: bool  # written by the connection under test
    internal: bool  # an agents-only note

    @property
    def frame(self) -> bytes:
        return b"m%d" % self.seq


@dataclass
class World:
    """One chat, one connection following it."""

    internal_ok: bool  # the connection sees internal notes (an agent)
    page: int
    log: list[Msg] = field(default_factory=list)
    wire: list[Msg] = field(default_factory=list)  # publications in flight
    out: list[int] = field(default_factory=list)  # seqs of the frames sent
    resyncs: int = 0
    tasks: list[Iterator[None]] = field(default_factory=list)
    cursor: Cursor | None = None

    def send(self, frame: bytes) -> None:
        self.out.append(int(frame[1:]))

    def read_after(self, after: int) -> list[Msg]:
        return [m for m in self.log if m.seq > after][: self.page]

    def catch_up(self) -> Iterator[None]:
        """``Connection._catch_up``, step by step."""
        cursor = self.cursor
        assert cursor is not None
        try:
            while True:
                entries = self.read_after(cursor.delivered)
                yield  # the read's await
                if cursor.page_read(False):
                    self.resyncs += 1
                for m in entries:
                    hidden = m.internal and not self.internal_ok
                    if cursor.entry(m.seq, m.own, hidden):
                        self.send(m.frame)
                        yield  # waiting for room in the send backlog
                if len(entries) >= self.page:
                    continue
                frames, missing = cursor.release()
                for frame in frames:
                    self.send(frame)
                if not missing:
                    break
        finally:
            frames, again = cursor.finish()
            for frame in frames:
                self.send(frame)
            if again:
                self.tasks.append(self.catch_up())

    def on_publish(self, m: Msg) -> None:
        """``Connection.on_publish``: a visitor's connection never sees internal notes."""
        assert self.cursor is not None
        if m.internal and not self.internal_ok:
            return
        verdict = self.cursor.live(m.seq, m.frame, m.own)
        if verdict is Live.SEND:
            self.send(m.frame)
        elif verdict is Live.CATCH_UP:
            self.tasks.append(self.catch_up())

    def step(self, i: int) -> None:
        task = self.tasks[i % len(self.tasks)]
        try:
            next(task)
        except StopIteration:
            self.tasks.remove(task)

    def settle(self) -> None:
        while self.tasks:
            self.step(0)


@settings(max_examples=300, deadline=None)
@given(
    internal_ok=st.booleans(),
    page=st.integers(1, 4),
    before=st.lists(st.tuples(st.booleans(), st.booleans()), max_size=6),
    after_frac=st.floats(0, 1),
    data=st.data(),
)
def test_any_interleaving_delivers_every_message_once_in_order(
    internal_ok: bool,
    page: int,
    before: list[tuple[bool, bool]],
    after_frac: float,
    data: st.DataObject,
) -> None:
    w = World(internal_ok=internal_ok, page=page)
    for own, internal in before:
        w.log.append(Msg(len(w.log) + 1, own, internal))
    start = int(after_frac * len(w.log))  # the client had these already
    w.cursor = Cursor.following(start)
    w.tasks.append(w.catch_up())
    # own messages published while no replay runs: the connection had their ack, they
    # must never be sent (unless a later ``resume`` asks for them again)
    acked: set[int] = set()

    actions = st.sampled_from(
        ["publish", "deliver", "lose", "dup", "step", "settle", "resume"]
    )
    for _ in range(data.draw(st.integers(0, 30))):
        action = data.draw(actions)
        if action == "publish":
            own, internal = data.draw(st.booleans()), data.draw(st.booleans())
            m = Msg(len(w.log) + 1, own, internal)
            w.log.append(m)
            w.wire.append(m)
            if own and not w.cursor.replay:
                acked.add(m.seq)
        elif action in ("deliver", "lose", "dup") and w.wire:
            i = data.draw(st.integers(0, len(w.wire) - 1))  # any order
            m = w.wire[i] if action == "dup" else w.wire.pop(i)
            if action != "lose":
                w.on_publish(m)
        elif action == "step" and w.tasks:
            w.step(data.draw(st.integers(0, len(w.tasks) - 1)))
        elif action == "settle":
            w.settle()
        elif action == "resume":
            # the client resumes from the last message it has: a replay from there
            have = w.out[-1] if w.out else start
            if w.cursor.refollow(have, reset=True):
                w.tasks.append(w.catch_up())
            acked = {seq for seq in acked if seq <= have}
        assert len(w.tasks) <= 1, "one catch-up at a time per cursor"
        assert w.out == sorted(set(w.out)), "in order, once"
        assert not acked & set(w.out), "an own message sent: it had its ack"

    # whatever is still in flight arrives; then a check of the log (a reconnect to Redis,
    # ``catch_up_all``) finds what was lost after the last message that arrived
    w.settle()
    for m in w.wire:
        w.on_publish(m)
    w.settle()
    if w.cursor.begin():
        w.tasks.append(w.catch_up())
    w.settle()

    assert w.out == sorted(set(w.out)), "in order, exactly once"
    sent = set(w.out)
    assert not acked & sent, "an own message sent: it had its ack"
    for m in w.log:
        visible = internal_ok or not m.internal
        if m.seq <= start or not visible:
            assert m.seq not in sent
        elif not m.own:
            assert m.seq in sent, f"message {m.seq} never delivered"
    assert not w.cursor.catching_up and not w.cursor.pending
    assert w.cursor.delivered == len(w.log)
    assert w.resyncs == 0  # the log was never trimmed


# ---- single rules ------------------------------------------------------------------------
def test_live_next_is_sent_duplicate_dropped_own_skipped() -> None:
    c = Cursor(3)
    assert c.live(3, b"x", False) is Live.DUPLICATE
    assert c.live(4, b"x", False) is Live.SEND and c.delivered == 4
    assert c.live(5, b"x", True) is Live.SKIP and c.delivered == 5
    assert c.live(5, b"x", False) is Live.DUPLICATE


def test_a_gap_holds_and_asks_for_one_catch_up() -> None:
    c = Cursor(1)
    assert c.live(3, b"m3", False) is Live.CATCH_UP
    assert c.live(4, b"m4", False) is Live.HOLD
    assert c.catching_up and c.begin() is False  # one catch-up at a time
    assert c.page_read(False) is False
    assert c.entry(2, False, False) is True
    assert c.release() == ([b"m3", b"m4"], False)
    assert c.finish() == ([], False)
    assert c.delivered == 4 and not c.catching_up


def test_release_stops_at_a_hole_for_the_next_round() -> None:
    c = Cursor(0, catching_up=True)
    c.live(2, b"m2", False)
    c.live(4, b"m4", False)
    c.entry(1, False, False)
    assert c.release() == ([b"m2"], True)  # 3 is missing: read the log again
    assert c.pending == [] and c.delivered == 2


def test_trimmed_log_is_told_once_per_round() -> None:
    c = Cursor(0, catching_up=True)
    assert c.page_read(True) is True
    assert c.page_read(True) is False
    c.release()
    assert c.page_read(True) is True


def test_replay_includes_own_messages_a_gap_does_not() -> None:
    c = Cursor.following(0)
    assert c.entry(1, True, False) is True  # a follow replays
    assert c.entry(2, False, True) is False and c.delivered == 2  # hidden: moved past
    c.finish()
    assert c.live(4, b"m4", False) is Live.CATCH_UP
    assert c.entry(3, True, False) is False  # a gap: it had the ack


def test_resume_during_catch_up_goes_back_without_a_second_one() -> None:
    c = Cursor(0)
    assert c.refollow(5, reset=False) is False and c.delivered == 0
    assert c.refollow(5, reset=True) is True and c.delivered == 5 and c.replay
    assert c.refollow(2, reset=True) is False and c.delivered == 2  # under way: back
    assert c.refollow(9, reset=True) is False and c.delivered == 2


def test_finish_delivers_held_messages_live_and_may_start_again() -> None:
    c = Cursor(0, catching_up=True, replay=True)
    c.live(1, b"m1", False)
    c.live(3, b"m3", False)
    c.live(4, b"m4", True)
    assert c.finish() == ([b"m1"], True)  # 2 missing: catch up again, 3 and 4 held
    assert c.catching_up and not c.replay and [s for s, _, _ in c.pending] == [3, 4]


def test_release_moves_past_own_held_messages_without_sending() -> None:
    c = Cursor(0)
    assert c.live(2, b"m2", False) is Live.CATCH_UP
    assert c.live(3, b"m3", True) is Live.HOLD  # published after the log was read
    assert c.entry(1, False, False) is True
    assert c.release() == ([b"m2"], False) and c.delivered == 3
