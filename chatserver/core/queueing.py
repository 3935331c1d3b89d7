"""Queue order and waiting-time estimates.

A queue is a Redis sorted set; the score puts higher priority first, then chats re-queued
"to the front" (their agent left, or they were declined), then the oldest first::

    score = (MAX_PRIORITY - priority) * BAND + (0 if front else HALF) + enqueued_ms

``enqueued_ms`` is below HALF for about 300 years after the Unix epoch, and the largest
score stays below 2**53, so scores are exact in a double.
"""

from __future__ import annotations

import math

MIN_PRIORITY = 0
MAX_PRIORITY = 9
HALF = 10**13
BAND = 2 * HALF


def queue_score(priority: int, enqueued_ms: int, front: bool = False) -> int:
    if not MIN_PRIORITY <= priority <= MAX_PRIORITY:
        raise ValueError(f"priority must be {MIN_PRIORITY}-{MAX_PRIORITY}, not {priority}")
    if not 0 <= enqueued_ms < HALF:
        raise ValueError("enqueued_ms out of range")
    return (MAX_PRIORITY - priority) * BAND + (0 if front else HALF) + enqueued_ms


def estimate_wait_s(position: int, serving_agents: int, avg_handle_s: float) -> int:
    """Rough wait for the chat at 1-based ``position``.

    Each serving agent frees a slot about once per average handle time, so the chat waits
    roughly ``ceil(position / agents) * avg_handle``.  With nobody serving, the estimate is
    one handle time per place (an agent is expected to come).  Returns whole seconds.
    """
    if position <= 0:
        return 0
    handle = max(avg_handle_s, 1.0)
    rounds = math.ceil(position / max(serving_agents, 1))
    return round(rounds * handle)


HANDLE_TIME_WEIGHT = 0.2
"""The weight of one chat in its topic's average handle time (``close_chat.lua`` applies
``update_average`` with it in the same step that ends the chat)."""


def update_average(previous: float, sample: float, weight: float = HANDLE_TIME_WEIGHT) -> float:
    """Exponential moving average used for the per-topic handle time."""
    if previous <= 0:
        return sample
    return previous + weight * (sample - previous)


def enqueued_ms(score: float) -> int:
    """The ``enqueued_ms`` a queue score was made from (see ``queue_score``)."""
    return int(score) % BAND % HALF
