"""A discrete-event simulation of the queue, through the product's own routing core.

Every routing step is :func:`chatserver.core.routing.plan` on the chats in queue order
(:func:`chatserver.core.queueing.queue_score`: priority, then chats re-queued to the front,
then the oldest), with the agents' free capacity and idle time, exactly as the hub does
after every change.  Around it the simulation plays what the hub's timers and people do:

- an offer is accepted, declined or lets lapse (at the observed rates) and while it is open
  it holds one unit of the agent's capacity; a declined or lapsed chat goes back to the
  front of its queue and is not offered to that agent again (``ChatView.declined``);
  with ``auto_accept`` chats are assigned straight away;
- the optional skills of a topic stop being needed ``relax_after_s`` after the chat came;
- a chat still queued ``queue_timeout_s`` after it came is missed;
- a visitor leaves (abandons) when their patience, drawn from the observed distribution
  (:class:`Patience`), runs out before an agent accepts;
- a handle time is drawn when the chat is accepted (:class:`HandleTimes`).

Time is in integer milliseconds (as in the product).  All randomness comes from the
``numpy.random.Generator`` passed in.  The result is one :class:`RecordRow` per chat, so the
figures come from :func:`chatserver.records.metrics.compute`, the same definitions the
reports use.

Simplifications (``docs/planning.md``): agents are online for the whole run and never go
away (a lapsed offer does not set them away), chats are not transferred, and nothing else
(typing, messages) is modelled.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np
import numpy.typing as npt
from scipy import stats

from chatserver.core.queueing import queue_score
from chatserver.core.routing import AgentView, ChatView, plan
from chatserver.records.metrics import RecordRow, Thresholds, compute


class Patience:
    """How long visitors wait before they leave, estimated from observations.

    ``left_after_s``: waits of visitors who left (abandoned) unanswered; ``waited_s``:
    waits that ended otherwise (answered, missed), which only say the patience was longer
    (right-censored).  The survival function is the Kaplan-Meier estimate
    (``scipy.stats.ecdf`` on ``scipy.stats.CensoredData``); draws take each observed
    departure time with the probability the estimate gives it
    (``numpy.random.Generator.choice``), and ``inf`` (never leaves) with the probability
    left beyond the last observed departure.  No observations at all: nobody leaves.
    """

    def __init__(self, left_after_s: Sequence[float] = (), waited_s: Sequence[float] = ()):
        left = np.asarray(left_after_s, dtype=float)
        waited = np.asarray(waited_s, dtype=float)
        self.observations = len(left) + len(waited)
        self._values: npt.NDArray[np.float64] | None = None
        self._p: npt.NDArray[np.float64] | None = None
        if len(left):
            sf = stats.ecdf(stats.CensoredData(uncensored=left, right=waited)).sf
            survival = np.asarray(sf.probabilities, dtype=float)
            # the mass of each time: the drop of the survival curve there
            mass = -np.diff(survival, prepend=1.0)
            self._values = np.append(np.asarray(sf.quantiles, dtype=float), math.inf)
            p = np.clip(np.append(mass, survival[-1]), 0.0, None)
            self._p = p / p.sum()

    @property
    def never_leaves(self) -> bool:
        return self._values is None

    def sample(self, rng: np.random.Generator, size: int) -> npt.NDArray[np.float64]:
        """``size`` patience values in seconds (``inf``: waits for ever)."""
        if self._values is None or self._p is None:
            return np.full(size, math.inf)
        return rng.choice(self._values, size=size, p=self._p)


@dataclass(frozen=True)
class HandleTimes:
    """Handle times: resampled from observed values (seconds) when there are any, else
    exponential with ``mean_s`` (the Erlang C assumption)."""

    mean_s: float
    samples_s: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if not self.mean_s > 0 or not math.isfinite(self.mean_s):
            raise ValueError("the mean handle time must be a finite number > 0")

    def sample(self, rng: np.random.Generator, size: int) -> npt.NDArray[np.float64]:
        if self.samples_s:
            return rng.choice(np.asarray(self.samples_s, dtype=float), size=size)
        return rng.exponential(self.mean_s, size=size)


@dataclass(frozen=True)
class Offers:
    """What agents do with offers, and the product's timers."""

    auto_accept: bool = False
    decline_rate: float = 0.0
    lapse_rate: float = 0.0
    answer_s: float = 3.0
    """How long an agent takes to accept or decline."""
    offer_timeout_s: float = 20.0
    relax_after_s: float = 60.0
    queue_timeout_s: float = 900.0

    def __post_init__(self) -> None:
        if not (
            self.decline_rate >= 0
            and self.lapse_rate >= 0
            and self.decline_rate + self.lapse_rate < 1
        ):
            raise ValueError("decline and lapse rates must be >= 0 and add up to less than 1")
        for name in ("answer_s", "offer_timeout_s", "relax_after_s", "queue_timeout_s"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0")


@dataclass(frozen=True)
class Topic:
    name: str
    handle: HandleTimes
    required: Mapping[str, int] = field(default_factory=dict)
    optional: Mapping[str, int] = field(default_factory=dict)
    priority: int = 5


@dataclass(frozen=True)
class Agent:
    id: str
    skills: Mapping[str, int]
    capacity: int


@dataclass(frozen=True)
class Arrival:
    at_ms: int
    topic: str


MAX_ARRIVALS = 200_000
"""One simulation run takes at most this many arrivals (a bound on time and memory)."""


def poisson_arrivals(
    rng: np.random.Generator, rates_per_s: Mapping[str, float], start_ms: int, end_ms: int
) -> list[Arrival]:
    """Poisson arrivals of each topic in ``[start_ms, end_ms)``, in time order."""
    span_s = (end_ms - start_ms) / 1000
    out: list[Arrival] = []
    for topic, rate in sorted(rates_per_s.items()):
        if rate < 0 or not math.isfinite(rate):
            raise ValueError(f"the arrival rate of {topic!r} must be a finite number >= 0")
        count = int(rng.poisson(rate * span_s))
        if count > MAX_ARRIVALS:
            raise ValueError(f"more than {MAX_ARRIVALS} arrivals in one run")
        times = np.sort(rng.uniform(start_ms, end_ms, size=count)).astype(np.int64)
        out.extend(Arrival(int(t), topic) for t in times)
    out.sort(key=lambda a: (a.at_ms, a.topic))
    return out


class _Ev(IntEnum):
    # at the same millisecond: ends free capacity before arrivals take it
    END = 0
    ACCEPT = 1
    DECLINE = 2
    LAPSE = 3
    ABANDON = 4
    MISS = 5
    RELAX = 6
    ARRIVE = 7


@dataclass
class _Chat:
    id: str
    topic: Topic
    created_ms: int
    state: str = "queued"
    agent: str = ""
    front: bool = False
    relaxed: bool = False
    declined: set[str] = field(default_factory=set)
    accepted_ms: int | None = None
    ended_ms: int = 0
    offer_no: int = 0
    holder: str = ""
    offers: list[tuple[int, str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class SimChat:
    """What happened to one simulated chat."""

    id: str
    topic: Topic
    created_ms: int
    end_state: str
    """closed, abandoned or missed."""
    accepted_ms: int | None
    ended_ms: int
    agent_id: str
    """The agent who accepted it ('' if nobody did)."""
    offers: tuple[tuple[int, str, str], ...]
    """(at, agent, result): accepted, declined, lapsed or withdrawn (the visitor left)."""

    def record(self) -> RecordRow:
        return RecordRow(
            chat_id=self.id,
            topic=self.topic.name,
            required_skills=dict(self.topic.required),
            end_state=self.end_state,
            outcome="",
            rating=None,
            created_at=self.created_ms,
            accepted_at=self.accepted_ms,
            first_agent_reply_at=None,
            ended_at=self.ended_ms,
            agent_id=self.agent_id,
        )


@dataclass
class _AgentState:
    spec: Agent
    load: int = 0
    idle_since_ms: int = 0


def simulate(
    arrivals: Sequence[Arrival],
    topics: Mapping[str, Topic],
    agents: Sequence[Agent],
    offers: Offers,
    patience: Patience | Mapping[str, Patience],
    rng: np.random.Generator,
) -> list[RecordRow]:
    """:func:`run`, one :class:`RecordRow` per chat (what the metrics read)."""
    return [c.record() for c in run(arrivals, topics, agents, offers, patience, rng)]


def run(
    arrivals: Sequence[Arrival],
    topics: Mapping[str, Topic],
    agents: Sequence[Agent],
    offers: Offers,
    patience: Patience | Mapping[str, Patience],
    rng: np.random.Generator,
) -> list[SimChat]:
    """Play ``arrivals`` against ``agents``; what happened to each chat, in arrival order
    (every chat ends: by the queue timeout at the latest)."""
    if len(arrivals) > MAX_ARRIVALS:
        raise ValueError(f"more than {MAX_ARRIVALS} arrivals in one run")
    unknown = {a.topic for a in arrivals} - set(topics)
    if unknown:
        raise ValueError(f"arrivals of unknown topics: {', '.join(sorted(unknown))}")
    team = {a.id: _AgentState(a) for a in agents}
    chats: dict[str, _Chat] = {}
    queued: set[str] = set()
    heap: list[tuple[int, int, int, str, int]] = []
    seq = 0

    def push(at: int, kind: _Ev, chat_id: str, offer_no: int = 0) -> None:
        nonlocal seq
        heapq.heappush(heap, (at, int(kind), seq, chat_id, offer_no))
        seq += 1

    by_topic: dict[str, list[int]] = {}
    for i, a in enumerate(arrivals):
        by_topic.setdefault(a.topic, []).append(i)
    patience_of = np.full(len(arrivals), math.inf)
    for name, idx in by_topic.items():
        p = patience[name] if isinstance(patience, Mapping) else patience
        patience_of[idx] = p.sample(rng, len(idx))
    for i, a in enumerate(arrivals):
        chat_id = f"c{i:07d}"
        chats[chat_id] = _Chat(chat_id, topics[a.topic], a.at_ms)
        push(a.at_ms, _Ev.ARRIVE, chat_id)
        if math.isfinite(patience_of[i]):
            push(a.at_ms + round(patience_of[i] * 1000), _Ev.ABANDON, chat_id)
        push(a.at_ms + round(offers.queue_timeout_s * 1000), _Ev.MISS, chat_id)
        if chats[chat_id].topic.optional:
            push(a.at_ms + round(offers.relax_after_s * 1000), _Ev.RELAX, chat_id)

    def resolve_offer(chat: _Chat, result: str) -> None:
        if chat.state == "offered" and chat.offers:
            at, agent, _ = chat.offers[-1]
            chat.offers[-1] = (at, agent, result)

    def release(chat: _Chat) -> None:
        if chat.agent:
            team[chat.agent].load -= 1
            chat.agent = ""

    def end(chat: _Chat, state: str, now: int) -> None:
        resolve_offer(chat, "withdrawn")
        release(chat)
        queued.discard(chat.id)
        chat.state, chat.ended_ms = state, now

    def route(now: int) -> None:
        if not queued or not any(a.load < a.spec.capacity for a in team.values()):
            return
        order = sorted(
            queued,
            key=lambda c: (
                queue_score(chats[c].topic.priority, chats[c].created_ms, chats[c].front),
                c,
            ),
        )
        views = [
            ChatView(
                c,
                chats[c].topic.required,
                chats[c].topic.optional,
                chats[c].relaxed,
                frozenset(chats[c].declined),
            )
            for c in order
        ]
        agent_views = [
            AgentView(a.spec.id, a.spec.skills, a.spec.capacity, a.load, a.idle_since_ms)
            for a in team.values()
        ]
        for step in plan(views, agent_views, now):
            chat, agent = chats[step.chat_id], team[step.agent_id]
            queued.discard(chat.id)
            agent.load += 1
            agent.idle_since_ms = now
            chat.agent = agent.spec.id
            if offers.auto_accept:
                accept(chat, now)
                continue
            chat.state = "offered"
            chat.offer_no += 1
            chat.offers.append((now, agent.spec.id, ""))
            u = rng.random()
            if u < offers.decline_rate:
                push(now + round(offers.answer_s * 1000), _Ev.DECLINE, chat.id, chat.offer_no)
            elif u < offers.decline_rate + offers.lapse_rate:
                push(now + round(offers.offer_timeout_s * 1000), _Ev.LAPSE, chat.id, chat.offer_no)
            else:
                push(now + round(offers.answer_s * 1000), _Ev.ACCEPT, chat.id, chat.offer_no)

    def accept(chat: _Chat, now: int) -> None:
        resolve_offer(chat, "accepted")
        chat.holder = chat.agent
        chat.state = "active"
        chat.accepted_ms = now
        handle_s = float(chat.topic.handle.sample(rng, 1)[0])
        push(now + max(1, round(handle_s * 1000)), _Ev.END, chat.id)

    while heap:
        now = heap[0][0]
        while heap and heap[0][0] == now:
            _, kind, _, chat_id, offer_no = heapq.heappop(heap)
            chat = chats[chat_id]
            ev = _Ev(kind)
            if ev is _Ev.ARRIVE:
                queued.add(chat_id)
            elif ev is _Ev.END and chat.state == "active":
                end(chat, "closed", now)
            elif ev is _Ev.ACCEPT and chat.state == "offered" and chat.offer_no == offer_no:
                accept(chat, now)
            elif (
                ev in (_Ev.DECLINE, _Ev.LAPSE)
                and chat.state == "offered"
                and chat.offer_no == offer_no
            ):
                chat.declined.add(chat.agent)
                resolve_offer(chat, "declined" if ev is _Ev.DECLINE else "lapsed")
                release(chat)
                chat.state, chat.front = "queued", True
                queued.add(chat_id)
            elif ev is _Ev.ABANDON and chat.state in ("queued", "offered"):
                end(chat, "abandoned", now)
            elif ev is _Ev.MISS and chat.state == "queued":
                end(chat, "missed", now)
            elif ev is _Ev.RELAX and chat.state in ("queued", "offered"):
                chat.relaxed = True
        route(now)

    return [
        SimChat(
            c.id,
            c.topic,
            c.created_ms,
            c.state,
            c.accepted_ms,
            c.ended_ms,
            c.holder,
            tuple(c.offers),
        )
        for c in chats.values()
    ]


@dataclass(frozen=True)
class SimResult:
    offered: int
    service_level: float | None
    abandon_rate: float | None
    mean_wait_s: float | None


def measure(
    records: Sequence[RecordRow], thresholds: Thresholds, start_ms: int, end_ms: int
) -> SimResult:
    """The figures of the chats that came in ``[start_ms, end_ms)`` (a warm-up before
    ``start_ms`` is left out), by the reports' own definitions."""
    m = compute(records, (), (), start_ms=start_ms, end_ms=end_ms, thresholds=thresholds)
    return SimResult(m.offered, m.service_level, m.abandon_rate, m.avg_speed_of_answer_s)
