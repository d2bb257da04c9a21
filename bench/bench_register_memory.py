"""PBX memory with 10,000 bindings (target: under 100 MB RSS), measured on the real server.

Writes a temporary config dir (bench/etc with N digest users bench00000.., password
"pw"+user, free loopback ports), starts ``pbx run`` on it (pinned to core 0 when
``taskset`` exists), registers every user once with SIPp (``uac_register.xml``:
REGISTER -> 401 -> REGISTER with digest -> 200) at RATE per second from core 1, and
prints the PBX's VmRSS: idle, right after the last registration (every transaction
still lingering for timer J, 32 s) and, with --linger, once timer J has passed.

    .venv/bin/python bench/bench_register_memory.py [users=10000] [rate=2000] [--linger]

Needs sipp (Debian sip-tester). Traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ETC = ROOT / "bench" / "etc"
SCENARIO = ROOT / "bench" / "sipp" / "scenarios" / "uac_register.xml"


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(conf: Path, users: int, sip_port: int, http_port: int) -> None:
    conf.mkdir()
    shutil.copy(ETC / "extensions.conf", conf / "extensions.conf")
    (conf / "pbx.yaml").write_text(
        f'sip:\n  listen: ["udp:127.0.0.1:{sip_port}"]\n  realm: pbx\n  user_agent: PBX-bench\n'
        f"rtp:\n  ports: [10000, 30000]\nstorage:\n  dir: var\n"
        f"http:\n  listen: 127.0.0.1:{http_port}\n"
        "security:\n  trusted: [127.0.0.0/8]\n")  # SIPp floods from loopback by design
    lines = ["[general]", "context=bench", "allowguest=yes", "minexpiry=60", "maxexpiry=3600",
             "", "[benchuser](!)", "type=friend", "host=dynamic", "context=bench", ""]
    for i in range(users):
        user = f"bench{i:05d}"
        lines += [f"[{user}](benchuser)", f"secret=pw{user}", ""]
    (conf / "sip.conf").write_text("\n".join(lines))


def options_ok(port: int) -> bool:
    msg = (f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n"
           f"Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKprobe{time.monotonic_ns()}\r\n"
           "From: <sip:probe@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1>\r\n"
           "Call-ID: probe@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
           "Content-Length: 0\r\n\r\n").encode()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(0.3)
        s.sendto(msg, ("127.0.0.1", port))
        try:
            return s.recv(65535).startswith(b"SIP/2.0 200")
        except OSError:
            return False


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    users = int(args[0]) if args else 10000
    rate = int(args[1]) if len(args) > 1 else 2000
    taskset = shutil.which("taskset")
    with tempfile.TemporaryDirectory() as tmp:
        conf = Path(tmp) / "etc"
        sip_port = free_port(socket.SOCK_DGRAM)
        write_config(conf, users, sip_port, free_port(socket.SOCK_STREAM))
        csv = Path(tmp) / "users.csv"
        csv.write_text("SEQUENTIAL\n" + "".join(
            f"bench{i:05d};[authentication username=bench{i:05d} password=pwbench{i:05d}]\n"
            for i in range(users)))
        pbx_cmd = [str(ROOT / ".venv" / "bin" / "pbx"), "run", "--config-dir", str(conf)]
        if taskset:
            pbx_cmd = [taskset, "-c", "0", *pbx_cmd]
        log = open(Path(tmp) / "pbx.log", "w")  # noqa: SIM115 - closed below
        pbx = subprocess.Popen(pbx_cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            for _ in range(150):
                if options_ok(sip_port):
                    break
                if pbx.poll() is not None:
                    print((Path(tmp) / "pbx.log").read_text(), file=sys.stderr)
                    return 1
                time.sleep(0.2)
            time.sleep(1.0)
            idle = rss_kb(pbx.pid)
            cpu0, t0 = cpu_s(pbx.pid), time.monotonic()
            sipp = ["sipp", f"127.0.0.1:{sip_port}", "-nostdin", "-sf", str(SCENARIO),
                    "-inf", str(csv), "-r", str(rate), "-m", str(users), "-l", str(rate * 10),
                    "-p", str(free_port(socket.SOCK_DGRAM)), "-timeout", f"{users // rate + 60}s",
                    "-trace_stat", "-stf", str(Path(tmp) / "stat.csv"), "-fd", "1"]
            if taskset:
                sipp = [taskset, "-c", "1", *sipp]
            done = subprocess.run(sipp, capture_output=True, text=True, cwd=tmp)
            elapsed = time.monotonic() - t0
            cpu = cpu_s(pbx.pid) - cpu0
            after = rss_kb(pbx.pid)
            ok = failed = "?"
            stat = Path(tmp) / "stat.csv"
            if stat.exists():
                rows = [r.split(";") for r in stat.read_text().splitlines() if r]
                hdr, last = rows[0], rows[-1]
                ok = last[hdr.index("SuccessfulCall(C)")]
                failed = last[hdr.index("FailedCall(C)")]
            print(f"{users} users at {rate}/s: ok {ok}, failed {failed}, "
                  f"sipp exit {done.returncode}, {elapsed:.1f} s, "
                  f"PBX CPU {cpu:.1f} s ({cpu / elapsed * 100:.0f}% of a core)")
            print(f"PBX RSS: idle {idle / 1024:.1f} MB, after {users} registrations "
                  f"{after / 1024:.1f} MB (transactions still in timer J)")
            if "--linger" in sys.argv:
                time.sleep(36)
                print(f"PBX RSS 36 s later (timer J passed): {rss_kb(pbx.pid) / 1024:.1f} MB")
        finally:
            pbx.send_signal(signal.SIGTERM)
            try:
                pbx.wait(10)
            except subprocess.TimeoutExpired:
                pbx.kill()
            log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
