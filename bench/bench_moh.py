"""Benchmark: music on hold to N held callers from one class (issue 12).

The PBX side runs pinned to core 0: N media sessions, one MediaClock, and the
music-on-hold service playing one class (the repository's sounds/moh) to all
of them, so each 20 ms tick reads one frame, encodes it once per codec and
sends it N times. The receivers run in a separate process pinned to core 1
and timestamp every packet in the kernel (SO_TIMESTAMPNS), as the 999
playback benchmark (bench_media_play.py) does, so the interval figures are
the same measure: |inter-packet interval - 20 ms| over all streams.

Printed: CPU% of one core used by the PBX process (process_time / wall),
the interval error p50/p99, packets and losses, RSS above idle; with
`--codecs` the listeners are spread over PCMU, PCMA and G722.

Run: .venv/bin/python bench/bench_moh.py [N] [seconds] [--codecs] [--asyncio]
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import resource
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_media_play import _pin, _Probe, _rss_mb, receiver


def sender(conn: Any, n: int, seconds: float, warmup: float, use_uvloop: bool,
           rx_ports: list[int], mixed: bool) -> None:
    """The PBX side: n sessions hearing one music-on-hold class."""
    _pin(0)
    import gc

    import numpy as np

    from pbx.media.clock import MediaClock
    from pbx.media.codecs import G722, PCMA, PCMU
    from pbx.media.moh import MusicOnHold
    from pbx.media.ports import PortAllocator
    from pbx.media.session import MediaSession
    from pbx.moh_conf import load_moh_conf

    if use_uvloop:
        import uvloop
        loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    config = load_moh_conf(os.path.join(repo, "bench", "no-such-musiconhold.conf"), [],
                           search=[os.path.join(repo, "sounds")])
    codecs = [PCMU, PCMA, G722] if mixed else [PCMU]
    idle_rss = _rss_mb()

    async def main() -> dict[str, Any]:
        clock = MediaClock(loop)
        moh = MusicOnHold(clock, config)
        alloc = PortAllocator(20000, 20000 + 4 * n + 100)
        sessions = []
        for i in range(n):
            s = await MediaSession.open(loop, alloc, "127.0.0.1", clock)
            codec = codecs[i % len(codecs)]
            s.set_remote(("127.0.0.1", rx_ports[i % len(rx_ports)]), codec)
            sessions.append(s)
        probe_first = _Probe(loop, clock)
        clock.add(probe_first)
        listeners = [moh.start(s) for s in sessions]
        assert all(listeners), "music on hold did not start"
        probe_last = _Probe(loop, clock)
        clock.add(probe_last)
        gc.collect()
        gc.freeze()  # as `pbx run` does
        await asyncio.sleep(warmup)
        rss = _rss_mb()
        stream = moh.streams["default"]
        ticks0, sent0 = stream.ticks, stream.sent
        c0, w0 = time.process_time(), time.perf_counter()
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        await asyncio.sleep(seconds)
        c1, w1 = time.process_time(), time.perf_counter()
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        late = np.array(probe_first.late[int(warmup / 0.02):]) * 1000
        dur = np.array(probe_last.late[int(warmup / 0.02):]) * 1000 - late
        ticks, sent = stream.ticks - ticks0, stream.sent - sent0
        for s in sessions:
            s.close()
        return {"cpu": (c1 - c0) / (w1 - w0) * 100, "rss": max(rss, _rss_mb()) - idle_rss,
                "usr": (ru1.ru_utime - ru0.ru_utime) / (w1 - w0) * 100,
                "sys": (ru1.ru_stime - ru0.ru_stime) / (w1 - w0) * 100,
                "late_p50": float(np.percentile(late, 50)),
                "late_p99": float(np.percentile(late, 99)),
                "dur_p50": float(np.percentile(dur, 50)),
                "dur_p99": float(np.percentile(dur, 99)),
                "ticks": ticks, "sent": sent, "groups": len(codecs),
                "skipped": clock.skipped}

    conn.send(loop.run_until_complete(main()))


def run(n: int, seconds: float, use_uvloop: bool, mixed: bool) -> None:
    ctx = mp.get_context("spawn")
    warmup = 2.0
    rx_parent, rx_child = ctx.Pipe()
    rx = ctx.Process(target=receiver, args=(rx_child, seconds, warmup))
    rx.start()
    ports = rx_parent.recv()
    tx_parent, tx_child = ctx.Pipe()
    tx = ctx.Process(target=sender, args=(tx_child, n, seconds, warmup, use_uvloop, ports,
                                          mixed))
    tx.start()
    snd = tx_parent.recv()
    tx.join()
    rx_parent.send("stop")
    got = rx_parent.recv()
    rx.join()
    name = ("uvloop" if use_uvloop else "asyncio") + (" PCMU/PCMA/G722" if mixed else " PCMU")
    per_tick = snd["sent"] / max(1, snd["ticks"])
    print(f"{name} N={n}: PBX CPU {snd['cpu']:.1f}% of a core (usr {snd['usr']:.1f}% "
          f"sys {snd['sys']:.1f}%), RSS +{snd['rss']:.1f} MB; {snd['ticks']} ticks, "
          f"{per_tick:.0f} sends and {snd['groups']} encode(s) a tick, clock skipped "
          f"{snd['skipped']}; tick late p50/p99 {snd['late_p50']:.2f}/{snd['late_p99']:.2f} ms, "
          f"tick work p50/p99 {snd['dur_p50']:.2f}/{snd['dur_p99']:.2f} ms; receiver: "
          f"{got['streams']} streams, {got['packets']} pkts, lost {got['lost']}, "
          f"|interval-20ms| p50 {got['p50']:.2f} ms p99 {got['p99']:.2f} ms "
          f"max {got['max']:.1f} ms, {got['within2']:.2f}% within 2 ms")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(args[0]) if args else 500
    seconds = float(args[1]) if len(args) > 1 else 10.0
    run(n, seconds, "--asyncio" not in sys.argv, "--codecs" in sys.argv)
