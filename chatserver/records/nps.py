"""Net Promoter Score: the answers to "how likely are you to recommend us?" (0-10).

- **promoters** answered 9 or 10, **passives** 7 or 8, **detractors** 0 to 6;
- **NPS** = % promoters - % detractors, over everybody who answered: a number from -100
  (all detractors) to +100 (all promoters); None without answers.

Pure; :func:`parse_score` is the one place that says what a valid answer is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

MIN_SCORE = 0
MAX_SCORE = 10
PROMOTER_MIN = 9
PASSIVE_MIN = 7

Group = Literal["promoter", "passive", "detractor"]


def parse_score(value: object) -> int:
    """An answer as an int 0-10; anything else (11, -1, "x", 7.5, True) raises ValueError
    saying what is wrong.  Whole numbers written as text ("7") are taken."""
    if isinstance(value, bool):
        raise ValueError(f"an NPS answer is a whole number 0-10, not {value!r}")
    if isinstance(value, str):
        text = value.strip()
        if not text.lstrip("-").isdigit() or len(text) > 3:
            raise ValueError(f"an NPS answer is a whole number 0-10, not {value[:20]!r}")
        value = int(text)
    if not isinstance(value, int):
        raise ValueError(f"an NPS answer is a whole number 0-10, not {value!r}")
    if not MIN_SCORE <= value <= MAX_SCORE:
        raise ValueError(f"an NPS answer is 0-10, not {value}")
    return value


def classify(score: int) -> Group:
    score = parse_score(score)
    if score >= PROMOTER_MIN:
        return "promoter"
    if score >= PASSIVE_MIN:
        return "passive"
    return "detractor"


@dataclass(frozen=True)
class NpsFigures:
    responses: int
    promoters: int
    passives: int
    detractors: int
    nps: float | None
    """% promoters - % detractors (-100 to 100); None without answers."""


def nps_figures(scores: Iterable[int]) -> NpsFigures:
    counts = {"promoter": 0, "passive": 0, "detractor": 0}
    for score in scores:
        counts[classify(score)] += 1
    total = sum(counts.values())
    return NpsFigures(
        responses=total,
        promoters=counts["promoter"],
        passives=counts["passive"],
        detractors=counts["detractor"],
        nps=100 * (counts["promoter"] - counts["detractor"]) / total if total else None,
    )
