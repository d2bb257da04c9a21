"""Benchmark: N sessions playing a prompt at once from one process.

The PBX side (sessions + one MediaClock + Players) runs pinned to core 0; the
receivers run in a separate process pinned to core 1 and timestamp every
packet in the kernel (SO_TIMESTAMPNS), so their own lag does not distort the
measured inter-packet intervals. Printed: CPU% of one core used by the PBX
process (process_time / wall), interval error percentiles over all streams,
RSS above idle. Run: .venv/bin/python bench/bench_media_play.py [N] [seconds]
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import resource
import selectors
import socket
import struct
import sys
import time
from typing import Any

N_RX_SOCKETS = 50
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)


def _pin(core: int) -> None:
    try:
        os.sched_setaffinity(0, {core % os.cpu_count()})  # type: ignore[operator]
    except (AttributeError, OSError):
        pass


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def receiver(conn: Any, seconds: float, warmup: float) -> None:
    """Collect kernel arrival times per SSRC; report interval errors."""
    _pin(1)
    import numpy as np

    socks = []
    sel = selectors.DefaultSelector()
    for _ in range(N_RX_SOCKETS):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
        s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        s.bind(("127.0.0.1", 0))
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        socks.append(s)
    conn.send([s.getsockname()[1] for s in socks])
    last: dict[int, tuple[float, int]] = {}
    intervals: list[float] = []
    lost = 0
    packets = 0
    t_start = None
    t_end = None
    tsfmt = struct.Struct("@qq")
    hdr = struct.Struct("!BBHII")
    while True:
        for key, _ in sel.select(0.5):
            s = key.fileobj
            while True:
                try:
                    data, anc, _, _ = s.recvmsg(2048, 64)  # type: ignore[union-attr]
                except BlockingIOError:
                    break
                sec, nsec = tsfmt.unpack(anc[0][2][:16]) if anc else (time.time_ns(), 0)
                t = sec + nsec * 1e-9 if anc else sec * 1e-9
                _, _, seq, _, ssrc = hdr.unpack_from(data)
                if t_start is None:
                    t_start = t + warmup
                    t_end = t_start + seconds
                if t < t_start:
                    last[ssrc] = (t, seq)
                    continue
                packets += 1
                prev = last.get(ssrc)
                if prev is not None:
                    gap = (seq - prev[1]) & 0xFFFF
                    if gap == 1:
                        intervals.append(t - prev[0])
                    else:
                        lost += gap - 1
                last[ssrc] = (t, seq)
        if t_end is not None and time.time() > t_end + 0.5:
            break
        if conn.poll():
            break
    a = np.abs(np.array(intervals) - 0.020) * 1000
    conn.send({
        "streams": len(last), "packets": packets, "lost": lost,
        "p50": float(np.percentile(a, 50)) if len(a) else -1,
        "p99": float(np.percentile(a, 99)) if len(a) else -1,
        "max": float(a.max()) if len(a) else -1,
        "within2": float((a <= 2.0).mean() * 100) if len(a) else -1,
    })


class _Probe:
    """A ticker recording how late (vs the tick's due time) it ran."""

    def __init__(self, loop: asyncio.AbstractEventLoop, clock: Any) -> None:
        self.loop = loop
        self.clock = clock
        self.late: list[float] = []

    def tick(self, n: int) -> None:
        self.late.append(self.loop.time() - self.clock.tick_time(n))


def sender(conn: Any, n: int, seconds: float, warmup: float, use_uvloop: bool,
           rx_ports: list[int], gcmode: str) -> None:
    """The PBX side: n sessions, one clock, one Player each."""
    _pin(0)
    import numpy as np

    from pbx.media.clock import MediaClock
    from pbx.media.codecs import PCMU, ulaw_encode
    from pbx.media.player import Player
    from pbx.media.ports import PortAllocator
    from pbx.media.session import MediaSession

    if use_uvloop:
        import uvloop
        loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    # The prompt: generated speech-band noise, long enough to outlast the run.
    secs = int(warmup + seconds + 5)
    rng = np.random.default_rng(1)
    pcm = (rng.standard_normal(8000 * secs) * 3000).astype("<i2").tobytes()
    prompt = ulaw_encode(pcm)
    idle_rss = _rss_mb()
    import gc

    async def main() -> dict[str, float]:
        clock = MediaClock(loop)
        alloc = PortAllocator(20000, 20000 + 4 * n + 100)
        sessions = []
        for i in range(n):
            s = await MediaSession.open(loop, alloc, "127.0.0.1", clock)
            s.set_remote(("127.0.0.1", rx_ports[i % len(rx_ports)]), PCMU)
            sessions.append(s)
        probe_first = _Probe(loop, clock)
        clock.add(probe_first)
        futs = [Player(s).play([prompt]) for s in sessions]
        probe_last = _Probe(loop, clock)
        clock.add(probe_last)
        if gcmode == "freeze":
            # Everything allocated at start-up is moved out of the collector's
            # reach: collections stay short and do not stall a tick.
            gc.collect()
            gc.freeze()
        elif gcmode == "off":
            gc.disable()
        await asyncio.sleep(warmup)
        rss = _rss_mb()
        c0, w0 = time.process_time(), time.perf_counter()
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        await asyncio.sleep(seconds)
        c1, w1 = time.process_time(), time.perf_counter()
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        frames = sum(1 for f in futs if not f.done())
        late = np.array(probe_first.late[int(warmup / 0.02):]) * 1000
        dur = (np.array(probe_last.late[int(warmup / 0.02):]) * 1000 - late)
        for s in sessions:
            s.close()
        return {"cpu": (c1 - c0) / (w1 - w0) * 100, "rss": max(rss, _rss_mb()) - idle_rss,
                "usr": (ru1.ru_utime - ru0.ru_utime) / (w1 - w0) * 100,
                "sys": (ru1.ru_stime - ru0.ru_stime) / (w1 - w0) * 100,
                "playing": frames, "late_p99": float(np.percentile(late, 99)),
                "late_p50": float(np.percentile(late, 50)),
                "dur_p50": float(np.percentile(dur, 50)),
                "dur_p99": float(np.percentile(dur, 99)),
                "skipped": clock.skipped, "late_ms": clock.late_max * 1000}

    conn.send(loop.run_until_complete(main()))


def run(n: int, seconds: float, use_uvloop: bool, gcmode: str) -> None:
    ctx = mp.get_context("spawn")
    warmup = 2.0
    rx_parent, rx_child = ctx.Pipe()
    rx = ctx.Process(target=receiver, args=(rx_child, seconds, warmup))
    rx.start()
    ports = rx_parent.recv()
    tx_parent, tx_child = ctx.Pipe()
    tx = ctx.Process(target=sender, args=(tx_child, n, seconds, warmup, use_uvloop, ports,
                                                 gcmode))
    tx.start()
    snd = tx_parent.recv()
    tx.join()
    rx_parent.send("stop")
    got = rx_parent.recv()
    rx.join()
    name = ("uvloop " if use_uvloop else "asyncio") + f" gc={gcmode}"
    print(f"{name} N={n}: PBX CPU {snd['cpu']:.1f}% of a core (usr {snd['usr']:.1f}% "
          f"sys {snd['sys']:.1f}%), RSS +{snd['rss']:.1f} MB, clock skipped {snd['skipped']} "
          f"ticks (worst late {snd['late_ms']:.1f} ms), tick start late p50/p99 "
          f"{snd['late_p50']:.2f}/{snd['late_p99']:.2f} ms, tick duration p50/p99 "
          f"{snd['dur_p50']:.2f}/{snd['dur_p99']:.2f} ms; receiver: {got['streams']} streams, "
          f"{got['packets']} pkts, lost {got['lost']}, |interval-20ms| p50 {got['p50']:.2f} ms "
          f"p99 {got['p99']:.2f} ms max {got['max']:.1f} ms, {got['within2']:.2f}% within 2 ms")


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
    gcmodes = sys.argv[3].split(",") if len(sys.argv) > 3 else ["freeze"]
    for gcmode in gcmodes:
        for uv in (True, False):
            run(n, seconds, uv, gcmode)
