"""Call queues end to end: the real PBX on loopback, SIPp callers whose media is the
test's own RTP socket, members that are real phones (pjsua2) or SIPp UASes.

- ringall: both members ring, the first to answer talks to the caller (audio both
  ways checked by content), the other is cancelled; queue_log in Asterisk's format;
- rrmemory: across successive calls the members are rung in turn;
- announcements: a waiting caller hears Asterisk's own queue prompts (correlation
  with Debian's asterisk-core-sounds-en-wav) and leaves on the Queue() timeout;
- music on hold: a waiting caller hears the queue's musicclass, or Queue()'s m(class),
  by correlation with the class's file;
- a member reached through a Local channel (Local/1102@from-queue/n): audio both ways;
- dynamic members: `pbx queue add/pause`, AddQueueMember, kept across a restart.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pbx.media.prompts import DEBIAN_SOUNDS
from pbx.media.wav import read_wav, write_wav
from tests.e2e.harness import PbxProcess, free_port, make_config
from tests.e2e.media import (
    RtpEndpoint,
    chirp,
    correlation,
    g711_roundtrip,
    tone,
    tone_present,
    windows_found,
)
from tests.e2e.test_calls import Sipp, _wait_bound, caller, wait_log

pytestmark = pytest.mark.e2e

SIP_CONF = """\
[general]
context=default
allowguest=no

[office](!)
type=friend
host=dynamic
context=internal

[6001](office)
secret=6001pass
callerid="Alice" <6001>

[6002](office)
secret=6002pass

[1101](office)
secret=1101pass
[1102](office)
secret=1102pass
[1103](office)
secret=1103pass
"""

DIALPLAN = """\
[general]
autofallthrough=yes

[default]

[internal]
exten => 500,1,Answer()
 same => n,Queue(sales,,,,{timeout})
 same => n,Log(NOTICE,QUEUESTATUS=${{QUEUESTATUS}} ABANDONED=${{ABANDONED}})
 same => n,Hangup()
exten => 501,1,Answer()
 same => n,Queue(support)
 same => n,Hangup()
exten => 502,1,Answer()
 same => n,Queue(lobby,,,,12)
 same => n,Log(NOTICE,QUEUESTATUS=${{QUEUESTATUS}} WAITING=${{QUEUE_WAITING_COUNT(lobby)}})
 same => n,Hangup()
exten => 503,1,Answer()
 same => n,Queue(hold,,,,4)
 same => n,Hangup()
exten => 504,1,Answer()
 same => n,Queue(hold,m(jazz),,,4)
 same => n,Hangup()
exten => 505,1,Answer()
 same => n,Queue(viaLocal)
 same => n,Hangup()
exten => *45,1,Answer()
 same => n,AddQueueMember(support)
 same => n,Log(NOTICE,AQMSTATUS=${{AQMSTATUS}} MEMBERS=${{QUEUE_MEMBER_LIST(support)}})
 same => n,Hangup()

; queue members reached through Local channels, as Asterisk setups write them
[from-queue]
exten => _11XX,1,Dial(SIP/${{EXTEN}},20)
"""

QUEUES = """\
[general]
persistentmembers=yes

[sales]
strategy=ringall
timeout=20
member => PJSIP/1101,0,Maria
member => PJSIP/1102

[support]
strategy=rrmemory
ringinuse=no
timeout=10
retry=1
member => SIP/1101
member => SIP/1102
member => SIP/1103

; nobody answers here: callers hear their position, the hold time, the periodic prompt
[lobby]
strategy=ringall
announce-frequency=20
min-announce-frequency=5
periodic-announce-frequency=7
member => SIP/1103

; nobody answers either: callers hear the queue's music (or Queue()'s m(class))
[hold]
strategy=ringall
musicclass=office
member => SIP/1103

[viaLocal]
strategy=ringall
member => Local/1102@from-queue/n,0,Bob
"""

PHONE = Path(__file__).with_name("pjsua2_phone.py")
MEMBER_TONE = 1000.0


def office_music() -> bytes:
    """The office class's file: a 3 s rising sweep, whose every 200 ms is unlike the others."""
    return chirp(3.0, 250.0, 3300.0, amplitude=9000.0)


def jazz_music() -> bytes:
    """The jazz class's file: a falling sweep (nothing like the office's)."""
    return chirp(2.0, 3300.0, 250.0, amplitude=9000.0)


def queue_pbx(tmp: Path, timeout: str = "60") -> PbxProcess:
    if not os.path.isdir(DEBIAN_SOUNDS):  # `make test` installs it: a failure, never a skip
        pytest.fail("asterisk-core-sounds-en-wav is not installed (make test installs it)",
                    pytrace=False)
    proc = make_config(tmp, sip_conf=SIP_CONF, extensions=DIALPLAN.format(timeout=timeout))
    (tmp / "queues.conf").write_text(QUEUES)
    for klass, music in (("office", office_music()), ("jazz", jazz_music())):
        (tmp / klass).mkdir()
        write_wav(tmp / klass / "music.wav", music)
    (tmp / "musiconhold.conf").write_text(
        "[office]\nmode=files\ndirectory=office\n\n[jazz]\nmode=files\ndirectory=jazz\n")
    return proc


@pytest.fixture
def pbx(tmp_path: Path) -> Iterator[PbxProcess]:
    proc = queue_pbx(tmp_path)
    proc.start(*(["--sip-trace"] if os.environ.get("PBX_SIP_TRACE") else []))
    try:
        yield proc
    finally:
        proc.stop()


def pjsua2(pbx: PbxProcess, tmp: Path, user: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(PHONE), "--user", user, "--password", f"{user}pass",
         "--registrar", f"{pbx.host}:{pbx.sip_port}", "--port", str(free_port()),
         "--rtp-port", str(free_port() & ~1), "--timeout", "45", *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def queue_log(pbx: PbxProcess) -> list[list[str]]:
    out = pbx.cli("queue", "log")
    assert out.returncode == 0, out.stderr
    return [line.split("|") for line in out.stdout.splitlines()]


def wait_queue_log(pbx: PbxProcess, event: str, n: int = 1, timeout: float = 15.0) -> \
        list[list[str]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = queue_log(pbx)
        if sum(r[4] == event for r in rows) >= n:
            return rows
        time.sleep(0.2)
    pytest.fail(f"no {event} x{n} in queue_log:\n{queue_log(pbx)}\n{pbx.log()[-3000:]}")


def registered(pbx: PbxProcess, *peers: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = pbx.cli("peers").stdout
        if all(re.search(rf"^{p}\s+127\.0\.0\.1:\d+", out, re.M) for p in peers):
            return
        time.sleep(0.2)
    pytest.fail(f"{peers} did not register:\n{pbx.cli('peers').stdout}")


# --- ringall with real phones -------------------------------------------------------

def test_ringall_queue_answered_by_a_member_with_audio_both_ways(pbx: PbxProcess,
                                                                 tmp_path: Path) -> None:
    """Both members ring; 1101 (a pjsua2 phone) answers and plays a tone, 1102 only
    rings and is cancelled. The caller hears the member's tone; the member hears the
    caller's sweep; the queue_log has ENTERQUEUE, CONNECT, COMPLETECALLER."""
    write_wav(tmp_path / "member.wav", tone(MEMBER_TONE, 30))
    maria = pjsua2(pbx, tmp_path, "1101", "--answer", "--play", str(tmp_path / "member.wav"),
                   "--record", str(tmp_path / "maria-heard.wav"))
    ringer = pjsua2(pbx, tmp_path, "1102", "--ring")
    sweep = chirp(3.0)
    try:
        registered(pbx, "1101", "1102")
        with RtpEndpoint() as rtp:
            call = caller(pbx, tmp_path, "500", "caller_bye", rtp, pause_ms=6000)
            dest = call.media()
            wait_queue_log(pbx, "CONNECT")
            connected = time.monotonic()
            time.sleep(0.5)
            rtp.send_audio(dest, sweep + sweep, background=False)
            call.finish(pbx)
            heard = rtp.decoded(0, since=connected + 0.3)
        maria_out, _ = maria.communicate(timeout=20)
        ringer_out, _ = ringer.communicate(timeout=20)
    finally:
        for p in (maria, ringer):
            if p.poll() is None:
                p.kill()
    # The caller heard the member's tone once connected.
    present = tone_present(heard, MEMBER_TONE)
    assert sum(present) >= 0.8 * len(present) > 10, present
    # The member heard the caller's sweep.
    assert windows_found(read_wav(tmp_path / "maria-heard.wav"), g711_roundtrip(sweep)) >= 0.8
    # 1102 rang and was cancelled when 1101 answered.
    assert "CALL EARLY 180" in ringer_out and "CALL DISCONNECTED 487" in ringer_out, ringer_out
    assert "CALL CONFIRMED 200" in maria_out, maria_out
    rows = wait_queue_log(pbx, "COMPLETECALLER")
    events = [r[4] for r in rows if r[2] == "sales"]
    assert events == ["ENTERQUEUE", "CONNECT", "COMPLETECALLER"], rows
    enter, connect, complete = (r for r in rows if r[2] == "sales")
    assert enter[3] == "NONE" and enter[5:] == ["", "6001", "1"], enter
    assert connect[3] == "Maria" and enter[1] == connect[1] == complete[1], rows
    assert int(connect[5]) <= 3  # hold time: answered at once
    assert int(complete[6]) >= 5, complete  # talk time
    assert all(r[0].isdigit() and abs(int(r[0]) - time.time()) < 120 for r in rows)


# --- rrmemory with SIPp members -----------------------------------------------------

def test_rrmemory_rings_members_in_turn_across_calls(pbx: PbxProcess, tmp_path: Path) -> None:
    """Four calls in a row to an rrmemory queue of three SIPp members that answer:
    1101, 1102, 1103, then 1101 again. Each member's SIPp sees exactly its calls."""
    members: dict[str, Sipp] = {}
    counts = {"1101": 2, "1102": 1, "1103": 1}
    for peer, calls in counts.items():
        members[peer] = _member(pbx, tmp_path, peer, calls)
    for i in range(4):
        with RtpEndpoint() as rtp:
            call = caller(pbx, tmp_path, "501", "caller_bye", rtp, pause_ms=5000,
                          tag=f"caller{i}")
            call.finish(pbx)
        wait_queue_log(pbx, "COMPLETECALLER", n=i + 1)
    for sipp in members.values():
        sipp.finish(pbx, timeout=30)
    connects = [r[3] for r in queue_log(pbx) if r[2] == "support" and r[4] == "CONNECT"]
    assert connects == ["SIP/1101", "SIP/1102", "SIP/1103", "SIP/1101"], connects
    for peer, sipp in members.items():
        invites = sipp.messages.count("INVITE sip:")
        assert invites == counts[peer], (peer, sipp.messages[-2000:])


def _member(pbx: PbxProcess, tmp: Path, peer: str, calls: int) -> Sipp:
    """A SIPp UAS registered as `peer` that answers `calls` calls (ringing 0.3 s)."""
    from tests.e2e.sipp import register, run_sipp, uas_scenario

    port = free_port(both=False)
    assert register(pbx.host, pbx.sip_port, port, peer, f"{peer}pass") == 200
    proc = run_sipp(uas_scenario(ring_ms=300), pbx.host, pbx.sip_port, tmp=tmp,
                    keys={"rtpport": "9", "codec_pt": "0", "codec_name": "PCMU",
                          "dtmf_pt": "101"}, calls=calls, timeout_s=60,
                    extra=["-p", str(port), "-trace_msg", "-message_file",
                           str(tmp / f"m{peer}-messages.log")], background=True)
    _wait_bound(port)
    return Sipp(proc, f"m{peer}", tmp, port)  # type: ignore[arg-type]


# --- announcements --------------------------------------------------------------------

def _prompt(name: str) -> bytes:
    return g711_roundtrip(read_wav(os.path.join(DEBIAN_SOUNDS, f"{name}.wav")))


def test_waiting_callers_hear_position_and_periodic_announcements(pbx: PbxProcess,
                                                                  tmp_path: Path) -> None:
    """Nobody can answer in `lobby` (its member is not registered). The first caller
    hears "you are now first in line", the second "there are 2 calls waiting"; both
    hear the periodic announcement after 7 s; at the 12 s timeout they leave with
    QUEUESTATUS=TIMEOUT (EXITWITHTIMEOUT in the queue_log) once it has played."""
    with RtpEndpoint() as first_rtp, RtpEndpoint() as second_rtp:
        first = caller(pbx, tmp_path, "502", "pbx_bye", first_rtp, tag="first")
        first.media()
        wait_queue_log(pbx, "ENTERQUEUE")
        second = caller(pbx, tmp_path, "502", "pbx_bye", second_rtp, tag="second")
        first.finish(pbx)
        second.finish(pbx)
        heard_first, heard_second = first_rtp.decoded(0), second_rtp.decoded(0)
    assert windows_found(heard_first, _prompt("queue-youarenext")) >= 0.8
    assert windows_found(heard_second, _prompt("queue-thereare")) >= 0.8
    assert windows_found(heard_second, _prompt("queue-callswaiting")) >= 0.8
    assert windows_found(heard_second, _prompt("digits/2")) >= 0.6
    assert windows_found(heard_second, _prompt("queue-youarenext")) < 0.5
    for heard in (heard_first, heard_second):
        assert windows_found(heard, _prompt("queue-periodic-announce")) >= 0.8
        assert windows_found(heard, _prompt("queue-thankyou")) >= 0.8
    wait_log(pbx, r"QUEUESTATUS=TIMEOUT WAITING=")
    rows = [r for r in queue_log(pbx) if r[2] == "lobby"]
    assert [r[4] for r in rows].count("EXITWITHTIMEOUT") == 2, rows
    exit_first = next(r for r in rows if r[4] == "EXITWITHTIMEOUT")
    # The timeout is looked at once the announcement playing at 12 s is over (Asterisk).
    assert exit_first[5:7] == ["1", "1"] and 12 <= int(exit_first[7]) <= 17, exit_first


# --- music on hold -------------------------------------------------------------------

def test_waiting_callers_hear_the_queues_music_class(pbx: PbxProcess, tmp_path: Path) -> None:
    """Nobody can answer in `hold` (musicclass=office). A caller of Queue(hold) hears the
    office file, one of Queue(hold,m(jazz)) the jazz file (by correlation, and not the
    other's), paced at 20 ms, until the 4 s timeout ends both."""
    with RtpEndpoint() as office_rtp, RtpEndpoint() as jazz_rtp:
        office = caller(pbx, tmp_path, "503", "pbx_bye", office_rtp, tag="office")
        jazz = caller(pbx, tmp_path, "504", "pbx_bye", jazz_rtp, tag="jazz")
        office.finish(pbx)
        jazz.finish(pbx)
        heard_office, heard_jazz = office_rtp.decoded(0), jazz_rtp.decoded(0)
        interval = office_rtp.median_interval_ms(0)
    office_ref = g711_roundtrip(office_music() * 3)
    jazz_ref = g711_roundtrip(jazz_music() * 3)
    two_s = 2 * 8000 * 2
    assert correlation(heard_office[:two_s], office_ref) > 0.95
    assert correlation(heard_jazz[:two_s], jazz_ref) > 0.95
    assert correlation(heard_office[:two_s], jazz_ref) < 0.5
    assert correlation(heard_jazz[:two_s], office_ref) < 0.5
    assert 18.0 <= interval <= 22.0
    for heard in (heard_office, heard_jazz):
        assert 3.0 <= len(heard) / 16000 <= 6.0  # the music lasts until the timeout
    rows = [r for r in queue_log(pbx) if r[2] == "hold"]
    assert [r[4] for r in rows].count("EXITWITHTIMEOUT") == 2, rows


# --- a member behind a Local channel ---------------------------------------------------------

def test_a_member_reached_through_a_local_channel(pbx: PbxProcess, tmp_path: Path) -> None:
    """member => Local/1102@from-queue/n: the queue rings the Local channel, whose `;2`
    dials 1102's phone (a SIPp UAS); it answers and the two talk (each hears the
    other by content); CONNECT and COMPLETECALLER name the member."""
    from tests.e2e.test_calls import _two_way_audio, callee

    with RtpEndpoint() as a, RtpEndpoint() as b:
        member = callee(pbx, tmp_path, b, peer="1102", secret="1102pass", ring_ms=500,
                        ending="wait_bye", tag="member")
        call = caller(pbx, tmp_path, "505", "caller_bye", a, pause_ms=4000)
        b_dest = member.media()
        wait_queue_log(pbx, "CONNECT")
        _two_way_audio(a, b, call.media(), b_dest, 0, 0)
        call.finish(pbx)
        member.finish(pbx)
    rows = wait_queue_log(pbx, "COMPLETECALLER")
    events = [(r[3], r[4]) for r in rows if r[2] == "viaLocal"]
    assert events == [("NONE", "ENTERQUEUE"), ("Bob", "CONNECT"), ("Bob", "COMPLETECALLER")], rows


# --- dynamic members across a restart ------------------------------------------------------

def test_dynamic_members_from_the_cli_and_the_dialplan_survive_a_restart(
        tmp_path: Path) -> None:
    pbx = queue_pbx(tmp_path)
    pbx.start()
    try:
        out = pbx.cli("queue", "add", "support", "PJSIP/6002", "--penalty", "2",
                      "--name", "Bob")
        assert out.returncode == 0 and "Added interface 'PJSIP/6002'" in out.stdout, out
        again = pbx.cli("queue", "add", "support", "PJSIP/6002")
        assert again.returncode == 1 and "Already there" in again.stderr
        out = pbx.cli("queue", "pause", "PJSIP/6002", "--reason", "lunch")
        assert out.returncode == 0, out
        static = pbx.cli("queue", "remove", "support", "SIP/1101")
        assert static.returncode == 1 and "not dynamic" in static.stderr
        # AddQueueMember() from the dialplan: 6001 adds its own device.
        with RtpEndpoint() as rtp:
            call = caller(pbx, tmp_path, "*45", "pbx_bye", rtp)
            call.finish(pbx)
        wait_log(pbx, r"AQMSTATUS=ADDED MEMBERS=SIP/1101,SIP/1102,SIP/1103,PJSIP/6002,SIP/6001")
    finally:
        pbx.stop()
    pbx.start()
    try:
        show = pbx.cli("queue", "show", "support")
        assert show.returncode == 0, show
        text = show.stdout
        assert "support has 0 calls (max unlimited) in 'rrmemory' strategy" in text, text
        bob = next(line for line in text.splitlines() if "Bob" in line)
        assert "(PJSIP/6002) with penalty 2 (ringinuse disabled) (dynamic)" in bob, bob
        assert "(paused:lunch was" in bob, bob
        assert re.search(r"^\s+SIP/6001 \(ringinuse disabled\) \(dynamic\)", text, re.M), text
        db = pbx.cli("database", "show", "Queue")
        assert "/Queue/PersistentMembers/support" in db.stdout, db.stdout
        removed = pbx.cli("queue", "remove", "support", "SIP/6001")
        assert removed.returncode == 0, removed
    finally:
        pbx.stop()
    events = [(r[1], r[2], r[3], r[4], r[5:]) for r in queue_log(pbx)]
    assert ("CLI", "support", "PJSIP/6002", "ADDMEMBER", [""]) in events
    assert ("NONE", "NONE", "Bob", "PAUSEALL", ["lunch"]) in events
    assert ("NONE", "support", "Bob", "PAUSE", ["lunch"]) in events
    assert ("CLI", "support", "SIP/6001", "REMOVEMEMBER", [""]) in events
    adds = [e for e in events if e[3] == "ADDMEMBER" and e[2] == "SIP/6001"]
    assert len(adds) == 1 and adds[0][0] not in ("CLI", "NONE")  # the caller's uniqueid
    assert [e[3] for e in events].count("QUEUESTART") == 2
