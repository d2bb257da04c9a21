"""The one 20 ms media clock shared by every channel.

One `loop.call_at` callback per tick for the whole process, scheduled at
absolute deadlines (start + n * interval) so the clock never drifts. Each tick
calls the sync `tick(n)` of every registered ticker: no task, no await, no
per-channel sleep loop. Slow work (RTP timeouts, RTCP) goes on the "slow"
list, called once a second.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

log = logging.getLogger(__name__)


class Ticker(Protocol):
    """Anything with a sync `tick(n)`; n is the clock's tick number."""

    def tick(self, n: int) -> None: ...


class MediaClock:
    """Periodic driver of all tickers, started by the first `add`."""

    # Up to this many missed ticks are run back to back (a receiver's jitter
    # buffer absorbs that); beyond, the clock skips ahead instead of bursting.
    MAX_CATCHUP = 3

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None,
                 interval: float = 0.020) -> None:
        self.loop = loop or asyncio.get_event_loop()
        self.interval = interval
        self.slow_every = max(1, round(1.0 / interval))
        self._tickers: dict[Ticker, None] = {}
        self._slow: dict[Ticker, None] = {}
        # Bound tick methods, rebuilt at the next tick after a change: rebuilding
        # on every add/remove made call set-up O(sessions).
        self._calls: tuple = ()
        self._slow_calls: tuple = ()
        self._dirty = False  # fast tickers changed
        self._slow_dirty = False
        self._handle: asyncio.TimerHandle | None = None
        self._start = 0.0
        self.n = 0  # number of the next tick
        self.skipped = 0  # ticks skipped because the loop was late
        self.late_max = 0.0  # worst lateness seen (s), for diagnostics
        self._in_run = False  # inside _run: start/stop decided at its end

    @property
    def running(self) -> bool:
        """True while ticks are scheduled."""
        return self._handle is not None

    def __len__(self) -> int:
        return len(self._tickers)

    def add(self, ticker: Ticker) -> None:
        """Call `ticker.tick(n)` every interval from the next tick on."""
        if ticker not in self._tickers:
            self._tickers[ticker] = None
            self._dirty = True
            self._ensure_running()

    def remove(self, ticker: Ticker) -> None:
        """Stop ticking `ticker` (safe from inside its own tick)."""
        if self._tickers.pop(ticker, 0) is None:
            self._dirty = True
            self._maybe_stop()

    def add_slow(self, ticker: Ticker) -> None:
        """Call `ticker.tick(n)` about once a second (timeouts, RTCP)."""
        if ticker not in self._slow:
            self._slow[ticker] = None
            self._slow_dirty = True
            self._ensure_running()

    def remove_slow(self, ticker: Ticker) -> None:
        """Stop the once-a-second calls for `ticker`."""
        if self._slow.pop(ticker, 0) is None:
            self._slow_dirty = True
            self._maybe_stop()

    def tick_time(self, n: int) -> float:
        """Loop time at which tick `n` is due."""
        return self._start + n * self.interval

    def _ensure_running(self) -> None:
        if self._handle is None and not self._in_run:
            self._start = self.loop.time()
            self.n = 0
            self._handle = self.loop.call_at(self._start, self._run)

    def _maybe_stop(self) -> None:
        if self._in_run:
            return
        if not self._tickers and not self._slow and self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def stop(self) -> None:
        """Stop ticking and forget every ticker."""
        self._tickers.clear()
        self._slow.clear()
        self._calls = self._slow_calls = ()
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _run(self) -> None:
        loop = self.loop
        interval = self.interval
        start = self._start
        n = self.n
        now = loop.time()
        late = now - (start + n * interval)
        if late > self.late_max:
            self.late_max = late
        behind = int(late / interval)
        if behind > self.MAX_CATCHUP:
            # The loop was blocked: jump to the present rather than send a burst.
            self.skipped += behind
            n += behind
            behind = 0
        self._in_run = True
        try:
            for _ in range(behind + 1):
                if self._dirty:
                    self._dirty = False
                    self._calls = tuple(t.tick for t in self._tickers)
                for call in self._calls:
                    try:
                        call(n)
                    except Exception:
                        log.exception("media ticker failed")
                if n % self.slow_every == 0:
                    if self._slow_dirty:
                        self._slow_dirty = False
                        self._slow_calls = tuple(t.tick for t in self._slow)
                    for call in self._slow_calls:
                        try:
                            call(n)
                        except Exception:
                            log.exception("media slow ticker failed")
                n += 1
        finally:
            self._in_run = False
        self.n = n
        if self._handle is None:  # stop() was called from a ticker
            return
        if not self._tickers and not self._slow:
            self._handle = None
        else:
            self._handle = loop.call_at(start + n * interval, self._run)
