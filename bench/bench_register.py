"""In-process REGISTER + digest cost: CPU per registration inside the PBX, no sockets.

Builds a real :class:`pbx.server.Pbx` from a generated config dir (N users,
password "pw"+user, like bench/sipp), starts it (store, transports on free
loopback ports) and feeds the transports' entry point (the security guard, then
the SIP core) directly with what SIPp's ``uac_register.xml`` sends: REGISTER ->
401 -> REGISTER with Authorization -> 200. The 200 goes out once the binding is
committed (group commit): the bench idles 2 ms every ``--burst``
registrations (default 50) so the store's flusher can run, and counts the 200s
as they come. "on_message" time is the PBX's work for the two requests;
the whole-process figure adds the commits, the 200s sent from the commit
callback, and the client's digest. Responses are captured instead of sent, so
the figures exclude the sendto syscall (about 5-10 us per datagram). The source
address is trusted in the generated pbx.yaml (a bench is a flood by design).

    .venv/bin/python bench/bench_register.py [registrations] [users] [--profile [tottime|cumtime]]
                                             [--gc-freeze] [--burst=N]

Prints registrations per CPU second and the in-process figures of memory
(tracemalloc is off: RSS from /proc/self/status).
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import socket
import sys
import tempfile
import time
from pathlib import Path

from pbx.config import load_config
from pbx.server import Pbx
from pbx.sip.address import Address

ETC = Path(__file__).resolve().parent / "etc"


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_config_dir(users: int, root: Path) -> Path:
    """bench/etc with ``users`` digest users and free loopback ports."""
    conf = root / "etc"
    conf.mkdir()
    for name in ("extensions.conf",):
        (conf / name).write_text((ETC / name).read_text())
    sip_port, http_port = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM)
    (conf / "pbx.yaml").write_text(
        f'sip:\n  listen: ["udp:127.0.0.1:{sip_port}"]\n  realm: pbx\n  user_agent: PBX-bench\n'
        f"rtp:\n  ports: [40000, 40100]\nstorage:\n  dir: var\n"
        f"http:\n  listen: 127.0.0.1:{http_port}\n"
        "security:\n  trusted: [127.0.0.0/8]\n")
    lines = ["[general]", "context=bench", "allowguest=yes", "minexpiry=60", "maxexpiry=3600",
             "", "[benchuser](!)", "type=friend", "host=dynamic", "context=bench", ""]
    for i in range(users):
        u = f"bench{i:05d}"
        lines += [f"[{u}](benchuser)", f"secret=pw{u}", ""]
    (conf / "sip.conf").write_text("\n".join(lines))
    return conf


def register_bytes(user: str, i: int, cseq: int, auth: str | None) -> bytes:
    branch = f"z9hG4bK-{i}-{cseq}"
    lines = [
        "REGISTER sip:127.0.0.1:5060 SIP/2.0",
        f"Via: SIP/2.0/UDP 127.0.0.1:5072;branch={branch}",
        f"From: <sip:{user}@127.0.0.1:5060>;tag=4242SIPpTag00{i}",
        f"To: <sip:{user}@127.0.0.1:5060>",
        f"Call-ID: {i}-4242@127.0.0.1",
        f"CSeq: {cseq} REGISTER",
        f"Contact: <sip:{user}@127.0.0.1:5072>",
    ]
    if auth:
        lines.append(auth)
    lines += ["Expires: 3600", "Max-Forwards: 70", "User-Agent: sipp-bench", "Content-Length: 0"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def digest(user: str, nonce: str, realm: str, algorithm: str) -> str:
    h = hashlib.sha256 if algorithm == "SHA-256" else hashlib.md5
    uri = "sip:127.0.0.1:5060"
    ha1 = h(f"{user}:{realm}:pw{user}".encode()).hexdigest()
    ha2 = h(f"REGISTER:{uri}".encode()).hexdigest()
    cnonce = "6b8b4567"
    resp = h(f"{ha1}:{nonce}:00000001:{cnonce}:auth:{ha2}".encode()).hexdigest()
    return (f'Authorization: Digest username="{user}",realm="{realm}",nonce="{nonce}",'
            f'uri="{uri}",response="{resp}",algorithm={algorithm},cnonce="{cnonce}",'
            f"qop=auth,nc=00000001")


def rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def run(total: int, users: int, profile: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(make_config_dir(users, Path(tmp)))
        pbx = Pbx(config)
        await pbx.start()
        core = pbx.core
        challenges: list[bytes] = []
        oks: list[float] = []

        def capture(data: bytes, host: str, port: int, on_error: object = None) -> None:
            if data.startswith(b"SIP/2.0 401"):
                challenges.append(data)
            elif data.startswith(b"SIP/2.0 200"):
                oks.append(time.perf_counter())

        for t in core.transports.values():
            t.send = capture  # no syscall
        src = Address("udp", "127.0.0.1", 5072)
        local = core.local_address("udp")
        on_message = pbx.security.guard.on_message
        burst = next((int(a.split("=", 1)[1]) for a in sys.argv if a.startswith("--burst=")), 50)
        gc.collect()
        if "--gc-freeze" in sys.argv:  # what server.py could do after start-up
            gc.freeze()
            gc.set_threshold(20000, 20, 20)
        rss0 = rss_kb()
        prof = None
        if profile:
            import cProfile

            prof = cProfile.Profile()
        cpu = main_cpu = 0.0
        p0 = time.process_time()
        commits0 = pbx.store.commits
        wall = time.perf_counter()
        sent_at: list[float] = []
        for i in range(total):
            user = f"bench{i % users:05d}"
            first = register_bytes(user, i, 1, None)
            if prof:
                prof.enable()
            t0 = time.process_time()
            m0 = time.thread_time()
            on_message(first, src, local)
            cpu += time.process_time() - t0
            main_cpu += time.thread_time() - m0
            if prof:
                prof.disable()
            text = challenges.pop().decode()
            start = text.index('nonce="') + 7
            nonce = text[start:text.index('"', start)]
            algorithm = "SHA-256" if "algorithm=SHA-256" in text else "MD5"
            second = register_bytes(user, i, 2, digest(user, nonce, "pbx", algorithm))
            if prof:
                prof.enable()
            t0 = time.process_time()
            m0 = time.thread_time()
            on_message(second, src, local)
            sent_at.append(time.perf_counter())
            cpu += time.process_time() - t0
            main_cpu += time.thread_time() - m0
            if prof:
                prof.disable()
            if i % burst == burst - 1:
                # Idle a moment, as a server between bursts: the store commits in its
                # thread meanwhile and the 200s go out (sleeping costs no CPU).
                await asyncio.sleep(0.002)
        deadline = time.monotonic() + 30
        while len(oks) < total and time.monotonic() < deadline:
            await asyncio.sleep(0.001)
        ok = len(oks)
        waits = sorted(o - s for o, s in zip(oks, sent_at, strict=False))
        wall = time.perf_counter() - wall
        await pbx.store.flush()
        total_cpu = time.process_time() - p0
        rss1 = rss_kb()
        print(f"{ok}/{total} registrations OK, {users} users, bindings {len(pbx.location)}, "
              f"live transactions {len(core.layer)}")
        print(f"PBX CPU per registration (2 requests in, 2 responses out): "
              f"{cpu / total * 1e6:.0f} us -> {total / cpu:,.0f} registrations per CPU second "
              f"(excl. sendto)")
        print(f"  of which the event-loop thread in on_message: {main_cpu / total * 1e6:.0f} us;"
              f" whole process incl. client side and store flushes: "
              f"{total_cpu / total * 1e6:.0f} us")
        if waits:
            median, p99 = waits[len(waits) // 2], waits[len(waits) * 99 // 100]
            print(f"200 OK after the authenticated REGISTER: median {median * 1e3:.2f} ms, "
                  f"p99 {p99 * 1e3:.2f} ms; {pbx.store.commits - commits0} commits for "
                  f"{total} registrations (bursts of {burst}); whole process "
                  f"{total / total_cpu:,.0f} registrations per CPU second")
        print(f"RSS {rss0 / 1024:.1f} MB before, {rss1 / 1024:.1f} MB after "
              f"({(rss1 - rss0) / total:.2f} kB per registration; wall {wall:.1f} s)")
        if prof:
            import pstats

            order = sys.argv[-1] if sys.argv[-1] in ("cumtime", "tottime") else "tottime"
            pstats.Stats(prof).sort_stats(order).print_stats(45)
        await pbx.stop()


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    total = int(args[0]) if args else 20000
    users = int(args[1]) if len(args) > 1 else 10000
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    runner(run(total, users, "--profile" in sys.argv))


if __name__ == "__main__":
    main()
