"""Who rings first: the metric of each member per strategy (app_queue.c calc_metric).

Lower rings first. A member's penalty adds 1,000,000 per point (penalty levels are
tried in order) unless the queue has `penaltymemberslimit` members or fewer. ringall
rings every member of the best metric at once; the others ring the best one only.

- ringall: everyone equal (penalty aside)
- linear: members in their order, from where this caller left off (`linpos`)
- rrmemory / rrordered: members in their order, from where the queue left off (`rrpos`)
- leastrecent: the member whose last queue call ended longest ago (never: first)
- fewestcalls: the member with fewest completed calls
- random: any, at random (within the penalty level)
- wrandom: random with the penalty as a weight, no penalty levels
"""

from __future__ import annotations

import random
from dataclasses import dataclass

PENALTY_STEP = 1_000_000
INT_MAX = 2**31 - 1


@dataclass(slots=True)
class MetricInput:
    """What calc_metric reads of one member."""

    penalty: int
    queuepos: int  # the member's place in the queue (rrmemory)
    calls: int
    lastcall: float | None  # when its last queue call ended (None: never)


@dataclass(slots=True)
class RoundRobin:
    """Where round robin left off: the queue's (rrmemory) or the caller's (linear)."""

    pos: int = 0
    wrapped: bool = False

    def store_next(self, best_metric: int | None) -> None:
        """store_next_rr / store_next_lin after a ring attempt: continue at the best
        member not yet tried, else start over (wrapped) or move one on."""
        if best_metric is not None:
            self.pos = best_metric % 1000
        elif self.wrapped:
            self.pos = 0
        else:
            self.pos += 1
        self.wrapped = False


def penalty_applies(member_count: int, penaltymemberslimit: int) -> bool:
    """Penalties count unless the queue has that few members (penaltymemberslimit)."""
    return member_count > penaltymemberslimit


def calc_metric(strategy: str, m: MetricInput, pos: int, *, usepenalty: bool, now: float,
                rr: RoundRobin, lin: RoundRobin, rng: random.Random,
                max_penalty: int = INT_MAX, min_penalty: int = INT_MAX) -> int | None:
    """The member's metric, or None when its penalty is outside the caller's
    QUEUE_MIN_PENALTY..QUEUE_MAX_PENALTY (it is not rung at all). `pos` is the
    member's index in the queue's member order (linear)."""
    penalty = m.penalty
    if usepenalty and ((max_penalty != INT_MAX and penalty > max_penalty)
                       or (min_penalty != INT_MAX and penalty < min_penalty)):
        return None
    level = penalty * PENALTY_STEP if usepenalty else 0
    if strategy == "ringall":
        return level
    if strategy == "linear":
        return _round_robin(pos, lin) + level
    if strategy in ("rrmemory", "rrordered"):
        return _round_robin(m.queuepos, rr) + level
    if strategy == "random":
        return rng.randrange(1000) + level
    if strategy == "wrandom":
        return rng.randrange((1 + penalty) * 1000)
    if strategy == "fewestcalls":
        return m.calls + level
    if strategy == "leastrecent":
        metric = 0 if m.lastcall is None else 1_000_000 - int(now - m.lastcall)
        return metric + level
    raise ValueError(f"unknown strategy {strategy!r}")


def _round_robin(pos: int, rr: RoundRobin) -> int:
    if pos < rr.pos:
        return 1000 + pos
    if pos > rr.pos:
        rr.wrapped = True  # there is another member after the current one
    return pos
