"""The shared clock: absolute deadlines, no drift, start/stop with tickers."""

from __future__ import annotations

import asyncio
import statistics
import time

from pbx.media.clock import MediaClock


class _Rec:
    def __init__(self, loop: asyncio.AbstractEventLoop, stop_at: int, done: asyncio.Future) -> None:
        self.loop = loop
        self.times: list[tuple[int, float]] = []
        self.stop_at = stop_at
        self.done = done

    def tick(self, n: int) -> None:
        self.times.append((n, self.loop.time()))
        if len(self.times) >= self.stop_at and not self.done.done():
            self.done.set_result(None)


async def test_ticks_follow_absolute_schedule() -> None:
    loop = asyncio.get_running_loop()
    clock = MediaClock(loop)
    done = loop.create_future()
    rec = _Rec(loop, 51, done)
    clock.add(rec)
    assert clock.running
    await asyncio.wait_for(done, 5)
    clock.remove(rec)
    assert not clock.running
    start = clock.tick_time(0)
    errors = [t - (start + n * 0.020) for n, t in rec.times]
    # No drift: the 50th tick (1 s) is still on schedule.
    assert abs(errors[-1]) < 0.015, errors[-1]
    assert statistics.median(errors) < 0.005
    intervals = [b[1] - a[1] for a, b in zip(rec.times, rec.times[1:], strict=False)]
    assert 0.018 < statistics.median(intervals) < 0.022


async def test_late_loop_skips_instead_of_bursting() -> None:
    loop = asyncio.get_running_loop()
    clock = MediaClock(loop)
    done = loop.create_future()
    rec = _Rec(loop, 10**9, done)
    clock.add(rec)
    await asyncio.sleep(0.05)
    time.sleep(0.3)  # block the loop for 15 ticks
    await asyncio.sleep(0.05)
    clock.remove(rec)
    assert clock.skipped >= 10
    # At most MAX_CATCHUP + 1 ticks ran back to back after the block.
    times = [t for _, t in rec.times]
    burst = max(sum(1 for u in times if abs(u - t) < 0.002) for t in times)
    assert burst <= clock.MAX_CATCHUP + 1


async def test_ticker_can_remove_itself_and_slow_list() -> None:
    loop = asyncio.get_running_loop()
    clock = MediaClock(loop, interval=0.01)
    calls: list[int] = []
    slow: list[int] = []

    class Once:
        def tick(self, n: int) -> None:
            calls.append(n)
            clock.remove(self)

    class Slow:
        def tick(self, n: int) -> None:
            slow.append(n)

    s = Slow()
    clock.add_slow(s)
    clock.add(Once())
    await asyncio.sleep(0.25)
    assert len(calls) == 1
    assert slow and slow[0] == 0
    clock.remove_slow(s)
    assert not clock.running
