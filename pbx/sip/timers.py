"""A heap of timers kept as data (sans-I/O).

Nothing here reads a clock: callers pass absolute deadlines and ask which are
due at a given ``now``. The edge runs one loop callback at ``next_deadline()``
(for example ``loop.call_at``) instead of one asyncio timer per transaction.
Cancelled entries stay in the heap and are skipped when they reach the top
(lazy deletion), which keeps cancel O(1); the heap is compacted when dead
entries dominate so memory stays bounded.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

__all__ = ["TimerHandle", "TimerHeap"]


class TimerHandle:
    """One scheduled entry; ``cancel()`` it through the heap."""

    __slots__ = ("cancelled", "kind", "owner", "seq", "when")

    def __init__(self, when: float, seq: int, owner: Any, kind: str) -> None:
        self.when = when
        self.seq = seq
        self.owner = owner
        self.kind = kind
        self.cancelled = False

    def __repr__(self) -> str:
        state = " cancelled" if self.cancelled else ""
        return f"<TimerHandle {self.kind} at {self.when}{state}>"


class TimerHeap:
    """Min-heap of :class:`TimerHandle` with lazy deletion.

    Entries are ``(when, seq, handle)`` tuples so heap comparisons stay in C;
    ``seq`` breaks ties, so equal deadlines fire in scheduling order.
    """

    __slots__ = ("_dead", "_heap", "_seq", "on_earlier")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, TimerHandle]] = []
        self._seq = 0
        self._dead = 0
        # Called with the new deadline when a timer becomes the earliest: the
        # edge re-arms its one loop callback (machines schedule from anywhere).
        self.on_earlier: Callable[[float], None] | None = None

    def __len__(self) -> int:
        """Number of live (not cancelled) timers."""
        return len(self._heap) - self._dead

    def schedule(self, when: float, owner: Any, kind: str) -> TimerHandle:
        """Add a timer firing at absolute time ``when``."""
        seq = self._seq = self._seq + 1
        handle = TimerHandle(when, seq, owner, kind)
        heap = self._heap
        earlier = not heap or when < heap[0][0]
        heapq.heappush(heap, (when, seq, handle))
        if earlier and self.on_earlier is not None:
            self.on_earlier(when)
        return handle

    def cancel(self, handle: TimerHandle | None) -> None:
        """Cancel ``handle`` (no-op for None or an already cancelled/fired one)."""
        if handle is None or handle.cancelled:
            return
        handle.cancelled = True
        handle.owner = None  # drop the reference so a dead entry pins no transaction
        self._dead += 1
        # Compact when more than half the heap is dead and it is big enough to matter.
        if self._dead > 1024 and self._dead * 2 > len(self._heap):
            self._heap = [e for e in self._heap if not e[2].cancelled]
            heapq.heapify(self._heap)
            self._dead = 0

    def next_deadline(self) -> float | None:
        """Earliest live deadline, or None when nothing is scheduled."""
        heap = self._heap
        while heap and heap[0][2].cancelled:
            heapq.heappop(heap)
            self._dead -= 1
        return heap[0][0] if heap else None

    def pop_due(self, now: float) -> list[TimerHandle]:
        """Remove and return every live timer with ``when <= now``, earliest first."""
        heap = self._heap
        due: list[TimerHandle] = []
        while heap and heap[0][0] <= now:
            handle = heapq.heappop(heap)[2]
            if handle.cancelled:
                self._dead -= 1
                continue
            # Mark fired as cancelled so a later cancel() of the same handle is a no-op
            # without touching the dead counter.
            handle.cancelled = True
            due.append(handle)
        return due

    def pop_one_due(self, now: float) -> TimerHandle | None:
        """Remove and return the earliest live timer due at ``now``, or None."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            handle = heapq.heappop(heap)[2]
            if handle.cancelled:
                self._dead -= 1
                continue
            handle.cancelled = True
            return handle
        return None
