"""Benchmark: a queue of N waiting callers with M members ringing in rrmemory.

The real PBX (`pbx run`, uvloop) is pinned to core 0; SIPp on core 1 plays both
sides: N callers (guests) call the queue and stay; M members (static `host=` peers,
all at one SIPp UAS) ring until the queue gives up on them (180, then CANCEL: 487).
Each ringing member is cancelled after `timeout` seconds and rung again for another
caller after `retry` (autofill=yes, ringinuse=no: every free member rings for
someone); every waiting caller hears music on hold (the default class: one shared
stream, one RTP packet per 20 ms each), position announcements every 30 s and a periodic one
every 45 s. With --caller-rtp the callers send RTP too (SIPp echoes what it hears).

Printed: PBX CPU (% of one core) over the window once all callers wait, RSS, how
many members were ringing (sampled before and after), ring attempts and the
queue_log lines written in the window; then the engine alone on a fake clock
(time per decision). Everything stays on 127.0.0.1.

    .venv/bin/python bench/bench_queue.py [--callers 200] [--members 20] [--window 20]
        [--timeout 15] [--retry 1] [--caller-rtp]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

UAC = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="queue caller">
  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:caller[call_number]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:sipp@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rtd="true"/>
  <send>
    <![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:caller[call_number]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: <sip:sipp@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <pause/>
  <send retrans="500">
    <![CDATA[
      BYE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:caller[call_number]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Contact: <sip:sipp@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200" crlf="true"/>
</scenario>
"""

# A member phone that rings until the queue gives up on it: 180, then CANCEL -> 200 and
# 487 (with the INVITE's CSeq), ACK.
UAS = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="ringing member">
  <recv request="INVITE" crlf="true">
    <action>
      <ereg regexp=".*" search_in="hdr" header="CSeq:" assign_to="inv_cseq"/>
    </action>
  </recv>
  <send>
    <![CDATA[
      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port]>
      Content-Length: 0
    ]]>
  </send>
  <recv request="CANCEL"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
  <send>
    <![CDATA[
      SIP/2.0 487 Request Terminated
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      CSeq:[$inv_cseq]
      Content-Length: 0
    ]]>
  </send>
  <recv request="ACK"/>
</scenario>
"""


def free_port() -> int:
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def udp_out() -> int:
    """UDP datagrams sent by this host so far (/proc/net/snmp): the RTP the PBX sends
    dominates it (SIPp's callers send none unless they echo)."""
    lines = [x.split() for x in Path("/proc/net/snmp").read_text().splitlines()
             if x.startswith("Udp:")]
    return int(lines[1][lines[0].index("OutDatagrams")])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def write_config(tmp: Path, args: argparse.Namespace, sip_port: int, http: int,
                 uas_port: int, uac_port: int) -> None:
    members = [f"m{i:02d}" for i in range(1, args.members + 1)]
    (tmp / "pbx.yaml").write_text(f"""\
sip:
  listen: ["udp:127.0.0.1:{sip_port}"]
  user_agent: PBX-bench
rtp: {{ports: [40000, 44000]}}
storage: {{dir: var}}
http: {{listen: "127.0.0.1:{http}"}}
security: {{trusted: [127.0.0.0/8]}}  # SIPp's hundreds of requests/s from one address
""")
    # The callers are a host= peer of their own (matched by port too): from 127.0.0.1 they
    # would otherwise be taken for the first member there (a host= peer matches its
    # address), whose device would then look in use.
    (tmp / "sip.conf").write_text(
        "[general]\ncontext=bench\nallowguest=no\n\n"
        f"[callers]\ntype=friend\nhost=127.0.0.1\nport={uac_port}\ncontext=bench\n\n"
        + "".join(f"[{m}]\ntype=peer\nhost=127.0.0.1\nport={uas_port}\ncontext=bench\n\n"
                  for m in members))
    (tmp / "extensions.conf").write_text(
        "[general]\nautofallthrough=yes\n[bench]\n"
        "exten => 7000,1,Answer()\n same => n,Queue(bench)\n same => n,Hangup()\n")
    (tmp / "queues.conf").write_text(
        f"[bench]\nstrategy=rrmemory\nautofill=yes\nringinuse=no\ntimeout={args.timeout}\n"
        f"retry={args.retry}\nannounce-frequency=30\nperiodic-announce-frequency=45\n"
        + "".join(f"member => SIP/{m}\n" for m in members))


def queues(http: int, tmp: Path) -> dict:
    """GET /queues with the management token `pbx run` wrote (OSError until then)."""
    token = (tmp / "var" / "mgmt.token").read_text().strip()
    request = urllib.request.Request(f"http://127.0.0.1:{http}/queues",
                                     headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.loads(resp.read())["queues"][0]


def ringing_members(q: dict) -> int:
    return sum(1 for m in q["members"] if m["status"] == "Ringing")


def queue_log_lines(tmp: Path, since: float) -> list[str]:
    out = subprocess.run([sys.executable, "-m", "pbx.cli", "queue", "log", "--since",
                          str(since), "--config-dir", str(tmp)], capture_output=True,
                         text=True, cwd=REPO, timeout=60)
    return out.stdout.splitlines()


def system(args: argparse.Namespace) -> None:
    sipp = shutil.which("sipp")
    if sipp is None:
        sys.exit("sipp is not installed (apt-get install sip-tester)")
    tmp = Path(tempfile.mkdtemp(prefix="bench-queue-"))
    sip_port, http, uas_port = free_port(), free_port(), free_port()
    uac_port, uac_mp, uas_mp = free_port(), free_port(), free_port()
    write_config(tmp, args, sip_port, http, uas_port, uac_port)
    (tmp / "uac.xml").write_text(UAC)
    (tmp / "uas.xml").write_text(UAS)
    procs: list[subprocess.Popen] = []
    try:
        verbose = ["-vv"] if args.keep else []  # --keep: a log worth keeping
        pbx = subprocess.Popen(["taskset", "-c", "0", sys.executable, "-m", "pbx.cli", "run",
                                "--config-dir", str(tmp), *verbose], cwd=REPO,
                               stdout=open(tmp / "pbx.log", "wb"),  # noqa: SIM115
                               stderr=subprocess.STDOUT)
        procs.append(pbx)
        deadline = time.monotonic() + 20
        while True:
            try:
                queues(http, tmp)
                break
            except OSError:
                if time.monotonic() > deadline or pbx.poll() is not None:
                    sys.exit(f"the PBX did not start:\n{(tmp / 'pbx.log').read_text()}")
                time.sleep(0.2)
        uas = subprocess.Popen(
            ["taskset", "-c", "1", sipp, "-sf", str(tmp / "uas.xml"), "-i", "127.0.0.1",
             "-p", str(uas_port), "-mp", str(uas_mp), "-m", "1000000", "-nostdin",
             "-timeout", f"{args.window + 300}s", "-bg"], cwd=tmp,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(uas)
        hold_ms = (args.window + 120) * 1000
        uac_cmd = ["taskset", "-c", "1", sipp, f"127.0.0.1:{sip_port}", "-sf",
                   str(tmp / "uac.xml"), "-s", "7000", "-i", "127.0.0.1", "-p", str(uac_port),
                   "-mp", str(uac_mp), "-m", str(args.callers), "-l", str(args.callers),
                   "-r", "50", "-d", str(hold_ms), "-nostdin",
                   "-timeout", f"{args.window + 300}s"]
        if args.caller_rtp:
            uac_cmd.append("-rtp_echo")
        uac = subprocess.Popen(uac_cmd, cwd=tmp, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        procs.append(uac)
        deadline = time.monotonic() + 60
        while queues(http, tmp)["calls"] < args.callers:
            if time.monotonic() > deadline:
                sys.exit(f"only {queues(http, tmp)['calls']} callers joined")
            time.sleep(0.5)
        time.sleep(max(5.0, args.timeout + args.retry))  # ring attempts in steady state
        before = queues(http, tmp)
        t0, c0, wall0, u0 = time.monotonic(), cpu_seconds(pbx.pid), time.time(), udp_out()
        time.sleep(args.window)
        t1, c1, u1 = time.monotonic(), cpu_seconds(pbx.pid), udp_out()
        after = queues(http, tmp)
        cpu = (c1 - c0) / (t1 - t0) * 100
        lines = queue_log_lines(tmp, wall0)
        rings = sum(1 for x in lines if "|RINGNOANSWER|" in x)
        print(f"{args.callers} callers waiting, {args.members} members, rrmemory, "
              f"timeout={args.timeout} retry={args.retry}, caller RTP "
              f"{'on' if args.caller_rtp else 'off'}")
        print(f"  PBX CPU over {args.window:.0f} s: {cpu:.1f}% of one core; "
              f"RSS {rss_mb(pbx.pid):.0f} MB; UDP sent on the host: "
              f"{(u1 - u0) / (t1 - t0):.0f} datagrams/s")
        print(f"  callers in line: {before['calls']} -> {after['calls']}; members ringing: "
              f"{ringing_members(before)} -> {ringing_members(after)}")
        print(f"  ring attempts given up (RINGNOANSWER) in the window: {rings} "
              f"({rings / args.window:.1f}/s); queue_log lines: {len(lines)}")
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGINT if p is not procs[0] else signal.SIGTERM)
        for p in reversed(procs):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"  files kept in {tmp}")


def engine_alone(args: argparse.Namespace) -> None:
    """The queue engine on a fake clock: callers join, members ring, time out, retry;
    some answer. Time per engine call."""
    sys.path.insert(0, str(REPO))
    from pbx.queue.config import QueuesConfig, QueueSpec
    from pbx.queue.devstate import FixedDeviceStates
    from pbx.queue.engine import Announce, JoinRequest, QueueEngine, Ring, StopRing
    from pbx.queue.members import MemberSpec
    from pbx.sip.timers import TimerHeap

    class Owner:
        def on_timer(self, kind: str, now: float) -> None:
            pass

    spec = QueueSpec("bench", strategy="rrmemory", ringinuse=False, autofill=True,
                     timeout=args.timeout, retry=args.retry, announce_frequency=30,
                     periodic_announce_frequency=45,
                     members=[MemberSpec(f"SIP/m{i:02d}") for i in range(args.members)])
    timers = TimerHeap()
    engine = QueueEngine(timers=timers, timer_owner=Owner(), devstate=FixedDeviceStates(),
                         rng=random.Random(1))
    engine.configure(QueuesConfig(queues={"bench": spec}), 0.0)
    ringing: set[tuple[int, str]] = set()
    calls = 0

    played: list[int] = []

    def run(actions: list) -> None:
        for a in actions:
            if isinstance(a, Ring):
                ringing.add((a.caller, a.interface))
            elif isinstance(a, StopRing):
                ringing.discard((a.caller, a.interface))
            elif isinstance(a, Announce):
                played.append(a.caller)  # the edge reports it played (at once here)

    now = 0.0
    started = time.perf_counter()
    for i in range(args.callers):
        run(engine.join("bench", JoinRequest(f"SIP/c{i}", f"u{i}"), now)[2])
        calls += 1
    rng = random.Random(2)
    end = 600.0
    while now < end:
        now += 0.1
        while (d := timers.next_deadline()) is not None and d <= now:
            h = timers.pop_one_due(d)
            if h is not None:
                run(engine.on_timer(h.kind, d))
                calls += 1
            while played:
                run(engine.announcement_done(played.pop(), d))
                calls += 1
        for caller, iface in list(ringing):
            if (caller, iface) not in ringing or rng.random() > 0.002:
                continue
            ringing.discard((caller, iface))
            _ok, actions = engine.member_answered(caller, iface, "m", now)
            run(actions)
            run(engine.bridged(caller, now))
            run(engine.call_ended(caller, now + 0.05, caller_hung_up=True))
            run(engine.join("bench", JoinRequest(f"SIP/n{calls}", f"n{calls}"), now)[2])
            calls += 4
    elapsed = time.perf_counter() - started
    print(f"engine alone: {calls} engine calls in {elapsed:.2f} s of CPU for {end:.0f} s of "
          f"queue time ({elapsed / end * 100:.2f}% of a core), "
          f"{elapsed / calls * 1e6:.0f} us per call")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--callers", type=int, default=200)
    ap.add_argument("--members", type=int, default=20)
    ap.add_argument("--window", type=float, default=20.0)
    ap.add_argument("--timeout", type=int, default=15)
    ap.add_argument("--retry", type=int, default=1)
    ap.add_argument("--caller-rtp", action="store_true", help="callers send RTP (echo)")
    ap.add_argument("--keep", action="store_true", help="keep the config dir and logs")
    ap.add_argument("--engine-only", action="store_true")
    args = ap.parse_args()
    if not args.engine_only:
        system(args)
    engine_alone(args)


if __name__ == "__main__":
    main()
