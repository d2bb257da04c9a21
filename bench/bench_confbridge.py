"""Benchmark: conferences on the mixer, engine alone (no SIP): R rooms of M members.

The PBX side (R*M MediaSessions, R Mixers on one MixEngine on one MediaClock, as
the ConferenceService runs them) runs pinned to core
0. The phones run in another process pinned to core 1: each of the R*M sockets
sends a 20 ms RTP packet every 20 ms to its session (every member talks at
once: the worst case, every frame is decoded and mixed) and receives the
mix, timestamped by the kernel (SO_TIMESTAMPNS), so the phones' own lag does
not distort the measured intervals. Printed: CPU% of one core used by the PBX
process (process_time / wall), how late the clock ticks ran, the mix's
inter-packet interval error over every stream (the playback timing measure of
the 999 test: p99 within 2 ms), packets lost, and input frames the mixer
dropped. Modes: `g711` (every member PCMU), `g722` (one G.722 member per room:
the rooms mix at 16 kHz and resample the four G.711 members both ways).

Run: .venv/bin/python bench/bench_confbridge.py [ROOMS] [MEMBERS] [seconds] [g711|g722]
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import selectors
import socket
import struct
import sys
import time
from typing import Any

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)


def _pin(core: int) -> None:
    try:
        os.sched_setaffinity(0, {core % os.cpu_count()})  # type: ignore[operator]
    except (AttributeError, OSError):
        pass


def phones(conn: Any, n: int, seconds: float, warmup: float, pts: list[int]) -> None:
    """n phones: send 20 ms packets in real time, record when the mix arrives."""
    _pin(1)
    import numpy as np

    from pbx.media.codecs import G722, ulaw_encode

    socks = []
    sel = selectors.DefaultSelector()
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        s.bind(("127.0.0.1", 0))
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        socks.append(s)
    conn.send([s.getsockname()[1] for s in socks])
    pbx_ports = conn.recv()
    rng = np.random.default_rng(7)
    speech8 = (rng.standard_normal(8000 * 2) * 3000).astype("<i2").tobytes()
    speech16 = (rng.standard_normal(16000 * 2) * 3000).astype("<i2").tobytes()
    streams = {0: ulaw_encode(speech8), 9: G722.encode(speech16)}
    hdr = struct.Struct("!BBHII")
    tsfmt = struct.Struct("@qq")
    seq = [0] * n
    last: dict[int, tuple[float, int]] = {}
    intervals: list[float] = []
    lost = received = 0
    start = time.monotonic()
    t_measure, t_end = start + warmup, start + warmup + seconds
    k = 0
    while True:
        now = time.monotonic()
        if now >= t_end:
            break
        due = start + k * 0.020
        if now >= due:
            for i, s in enumerate(socks):
                data = streams[pts[i]]
                off = (k * 160) % (len(data) - 160)
                pkt = hdr.pack(0x80, pts[i], seq[i], k * 160, 0x1000 + i) + data[off:off + 160]
                seq[i] = (seq[i] + 1) & 0xFFFF
                try:
                    s.sendto(pkt, ("127.0.0.1", pbx_ports[i]))
                except BlockingIOError:
                    pass
            k += 1
            continue
        for key, _ in sel.select(max(0.0, due - now)):
            s = key.fileobj
            while True:
                try:
                    data, anc, _, _ = s.recvmsg(2048, 64)  # type: ignore[union-attr]
                except BlockingIOError:
                    break
                if len(data) < 12 or 200 <= data[1] <= 204:
                    continue  # RTCP: a session's reports land on port+1, maybe another phone
                sec, nsec = tsfmt.unpack(anc[0][2][:16])
                t = sec + nsec * 1e-9
                _, _, rseq, _, ssrc = hdr.unpack_from(data)
                prev = last.get(ssrc)
                last[ssrc] = (t, rseq)
                if time.monotonic() < t_measure:
                    continue
                received += 1
                if prev is not None:
                    gap = (rseq - prev[1]) & 0xFFFF
                    if gap == 1:
                        intervals.append(t - prev[0])
                    elif gap < 0x8000:
                        lost += gap - 1
    a = np.abs(np.array(intervals) - 0.020) * 1000
    conn.send({
        "streams": len(last), "packets": received, "lost": lost,
        "p50": float(np.percentile(a, 50)) if len(a) else -1,
        "p99": float(np.percentile(a, 99)) if len(a) else -1,
        "max": float(a.max()) if len(a) else -1,
        "within2": float((a <= 2.0).mean() * 100) if len(a) else -1,
    })


class _Probe:
    """How late (vs the tick's due time) it ran. time.monotonic(), not loop.time():
    uvloop's loop time has 1 ms steps (the same CLOCK_MONOTONIC underneath)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, clock: Any) -> None:
        self.loop, self.clock = loop, clock
        self.late: list[float] = []

    def tick(self, n: int) -> None:
        self.late.append(time.monotonic() - self.clock.tick_time(n))


def pbx(conn: Any, rooms: int, members: int, seconds: float, warmup: float,
        phone_ports: list[int], pts: list[int]) -> None:
    """The PBX side: rooms x members sessions, a Mixer per room, one clock."""
    _pin(0)
    import gc

    import numpy as np
    import uvloop

    from pbx.conference.mixer import MixEngine, Mixer
    from pbx.media.clock import MediaClock
    from pbx.media.codecs import CODECS_BY_PT
    from pbx.media.ports import PortAllocator
    from pbx.media.session import MediaSession

    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)

    async def main() -> dict[str, float]:
        clock = MediaClock(loop)
        n = rooms * members
        alloc = PortAllocator(21000, 21000 + 4 * n + 200)
        sessions = []
        for i in range(n):
            s = await MediaSession.open(loop, alloc, "127.0.0.1", clock)
            s.set_remote(("127.0.0.1", phone_ports[i]), CODECS_BY_PT[pts[i]])
            sessions.append(s)
        conn.send([s.local_port for s in sessions])
        first = _Probe(loop, clock)
        clock.add(first)
        mixers = []
        engine = MixEngine(clock)  # as ConferenceService drives its rooms
        for r in range(rooms):
            m = Mixer(engine)
            for s in sessions[r * members:(r + 1) * members]:
                m.add(s)
            mixers.append(m)
        last = _Probe(loop, clock)
        clock.add(last)
        gc.collect()
        gc.freeze()  # as `pbx run` does after start-up
        await asyncio.sleep(warmup)
        c0, w0 = time.process_time(), time.perf_counter()
        await asyncio.sleep(seconds)
        c1, w1 = time.process_time(), time.perf_counter()
        skip = int(warmup / 0.02)
        late = np.array(first.late[skip:]) * 1000
        dur = np.array(last.late[skip:]) * 1000 - late
        dropped = sum(mm.dropped for m in mixers for mm in m.members) // 160
        got = sum(mm.received for m in mixers for mm in m.members)
        rates = sorted({m.rate for m in mixers})
        for m in mixers:
            m.close()
        for s in sessions:
            s.close()
        return {"cpu": (c1 - c0) / (w1 - w0) * 100, "late_p50": float(np.percentile(late, 50)),
                "late_p99": float(np.percentile(late, 99)),
                "dur_p50": float(np.percentile(dur, 50)),
                "dur_p99": float(np.percentile(dur, 99)), "skipped": clock.skipped,
                "dropped": dropped, "received": got, "rates": rates}

    conn.send(loop.run_until_complete(main()))


def run(rooms: int, members: int, seconds: float, mode: str) -> None:
    n = rooms * members
    pts = [9 if (mode == "g722" and i % members == 0) else 0 for i in range(n)]
    ctx = mp.get_context("spawn")
    warmup = 2.0
    ph_parent, ph_child = ctx.Pipe()
    px_parent, px_child = ctx.Pipe()
    ph = ctx.Process(target=phones, args=(ph_child, n, seconds, warmup, pts))
    ph.start()
    phone_ports = ph_parent.recv()
    px = ctx.Process(target=pbx, args=(px_child, rooms, members, seconds, warmup,
                                       phone_ports, pts))
    px.start()
    ph_parent.send(px_parent.recv())
    res = px_parent.recv()
    got = ph_parent.recv()
    px.join()
    ph.join()
    print(f"{mode} {rooms} rooms x {members} members ({n} legs), mix {res['rates']} Hz: "
          f"PBX CPU {res['cpu']:.1f}% of a core; tick late p50/p99 {res['late_p50']:.2f}/"
          f"{res['late_p99']:.2f} ms, tick work p50/p99 {res['dur_p50']:.2f}/"
          f"{res['dur_p99']:.2f} ms, skipped {res['skipped']}; input dropped "
          f"{res['dropped']} frames of {res['received']}; phones: {got['streams']} streams, "
          f"{got['packets']} pkts, lost {got['lost']}, |interval-20ms| p50 {got['p50']:.2f} "
          f"ms p99 {got['p99']:.2f} ms max {got['max']:.1f} ms, {got['within2']:.2f}% "
          "within 2 ms")


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    rooms = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    members = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 10.0
    modes = sys.argv[4].split(",") if len(sys.argv) > 4 else ["g711", "g722"]
    for mode in modes:
        run(rooms, members, seconds, mode)
