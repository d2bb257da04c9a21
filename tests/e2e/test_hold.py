"""Hold and resume with real phones, from either side, three times in a row.

A pjsua2 phone and a baresip phone talk through the PBX; each plays a tone of
its own (pjsua2 500 Hz, baresip 1300 Hz). Each holds and resumes the call three
times (re-INVITE sendonly, then sendrecv). As Asterisk does by default, the
PBX answers the hold and plays music on hold to the other party instead of
passing the hold on (no re-INVITE reaches it); the resume stops the music.
Audio is checked by content in what pjsua2 records (continuous, silence
included): the other phone's tone stops for each hold and is back after each
resume; while the other phone holds, pjsua2 hears the music-on-hold file (a
sweep: matched window by window against the file), and while it holds itself
it hears nothing. baresip's own recording stops at its first re-INVITE (its
sndfile dump is not re-opened), so the pjsua2-to-pjsua2 test checks the other
direction.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pbx.media.wav import read_wav, write_wav
from tests.e2e.baresip import Baresip
from tests.e2e.harness import PbxProcess, free_port, make_config
from tests.e2e.media import chirp, runs, tone, tone_present, windows_found

# The phone runs in its own process; a missing pjsua2-python wheel fails the run here.
importlib.import_module("pjsua2")

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
callerid="Bob" <6002>
"""

DIALPLAN = """\
[internal]
exten => _600X,1,Dial(SIP/${EXTEN},20)
 same => n,Hangup()
"""

PJ_TONE, BARESIP_TONE = 500.0, 1300.0
HOLD, GAP = 1.5, 2.0  # seconds on hold; seconds talking between holds
FIRST = 2.0  # the first hold, after the call is confirmed
PJ_HOLDS = [FIRST + i * (HOLD + GAP) for i in range(3)]
BARESIP_HOLDS = [PJ_HOLDS[-1] + HOLD + GAP + i * (HOLD + GAP) for i in range(3)]
CALL_SECONDS = BARESIP_HOLDS[-1] + HOLD + 3.0


# The default music-on-hold class of the test: a 3 s sweep (every 200 ms of it unlike
# the others, and unlike either phone's tone), looped.
MOH = chirp(3.0, 250.0, 3300.0, amplitude=9000.0)


@pytest.fixture
def pbx(tmp_path: Path):
    proc = make_config(tmp_path, sip_conf=SIP_CONF, extensions=DIALPLAN)
    (tmp_path / "moh").mkdir()
    write_wav(tmp_path / "moh" / "sweep.wav", MOH)
    (tmp_path / "musiconhold.conf").write_text("[default]\nmode=files\ndirectory=moh\n")
    proc.start(*(["--sip-trace"] if os.environ.get("PBX_SIP_TRACE") else []))
    try:
        yield proc
    finally:
        proc.stop()


def pjsua2_phone(pbx: PbxProcess, tmp: Path, user: str, *args: str) -> subprocess.Popen:
    """A pjsua2 phone process registered as ``user`` (password: user + "pass")."""
    return subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("pjsua2_phone.py")),
         "--user", user, "--password", f"{user}pass",
         "--registrar", f"{pbx.host}:{pbx.sip_port}", "--port", str(free_port()),
         "--rtp-port", str(free_port()), "--timeout", str(CALL_SECONDS + 25), *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


OWN, OTHERS = "own", "other's"


def check_heard(recording: Path, freq: float, holds: list[str]) -> None:
    """The other phone's tone, interrupted by every hold (`holds`: whose each one
    is, in time order), back after each; during the other phone's holds the music
    on hold plays, during this phone's own holds nothing does."""
    pcm = read_wav(recording)
    flags = tone_present(pcm, freq)
    pattern = runs(flags)
    start = 0  # window index where each run starts
    spans = []
    for present, n in pattern:
        spans.append((present, start, n))
        start += n
    while spans and not spans[0][0]:  # before the call is answered
        spans.pop(0)
    while spans and not spans[-1][0]:  # after the hangup
        spans.pop()
    gaps = [(s, n) for present, s, n in spans if not present]
    talk = [n for present, _, n in spans if present]
    assert len(gaps) == len(holds), pattern
    # Each hold is a real gap, and the talk between holds is there whole (GAP s).
    assert all(n >= int((HOLD - 0.5) / 0.2) for _, n in gaps), pattern
    assert all(n >= int((GAP - 0.6) / 0.2) for n in talk[1:-1]), pattern
    assert talk[-1] >= int(2.0 / 0.2), pattern  # the tone is back after the last one
    music = MOH * 3  # looped: a window may straddle the file's end
    window = int(0.2 * 8000) * 2  # bytes in a 200 ms window of tone_present
    for i, ((s, n), whose) in enumerate(zip(gaps, holds, strict=True)):
        heard = pcm[(s + 1) * window:(s + n - 1) * window]  # inside the gap
        found = windows_found(music, heard, seconds=0.2, threshold=0.8)
        if whose == OWN:
            assert found == 0.0, (i, found, pattern)  # holding: silence
        else:
            assert found >= 0.6, (i, found, pattern)  # held: the music-on-hold file


def phone_lines(proc: subprocess.Popen, pbx: PbxProcess) -> list[str]:
    out, _ = proc.communicate(timeout=CALL_SECONDS + 30)
    assert proc.returncode == 0, f"pjsua2:\n{out}\n--- pbx\n{pbx.log()[-4000:]}"
    lines = out.splitlines()
    assert not [x for x in lines if x.startswith(("CALL", "HOLD", "UNHOLD")) and "rror" in x]
    return lines


def test_pjsua2_and_baresip_hold_each_other_three_times(pbx: PbxProcess,
                                                        tmp_path: Path) -> None:
    """pjsua2 calls baresip; pjsua2 holds and resumes three times, then baresip
    does. What pjsua2 hears (continuous, silence included) shows the six holds
    and baresip's tone back after each; the call lasts its whole length."""
    write_wav(tmp_path / "pj.wav", tone(PJ_TONE, CALL_SECONDS + 10))
    write_wav(tmp_path / "bs.wav", tone(BARESIP_TONE, CALL_SECONDS + 10))
    bob = Baresip(tmp_path / "bob", "6002", "6002pass", pbx.host, pbx.sip_port,
                  tmp_path / "bs.wav")
    alice = None
    try:
        bob.wait_registered()
        alice = pjsua2_phone(pbx, tmp_path, "6001", "--call", "6002",
                       "--play", str(tmp_path / "pj.wav"),
                       "--record", str(tmp_path / "pj-heard.wav"),
                       "--hold", ",".join(f"{t}:{HOLD}" for t in PJ_HOLDS),
                       "--duration", str(CALL_SECONDS))
        bob.wait_event("CALL_ESTABLISHED", timeout=15)
        established = time.monotonic()
        for t in BARESIP_HOLDS:
            time.sleep(max(0.0, established + t - time.monotonic()))
            bob.command("hold")
            time.sleep(HOLD)
            bob.command("resume")
        lines = phone_lines(alice, pbx)
        bob.wait_event("CALL_CLOSED", timeout=10)
    finally:
        if alice is not None and alice.poll() is None:
            alice.kill()
        bob.stop()
    assert sum(x.startswith("HOLD +") for x in lines) == 3, lines
    assert sum(x.startswith("UNHOLD +") for x in lines) == 3, lines
    # No hold was passed on to pjsua2 (music on hold instead of a re-INVITE).
    assert not [x for x in lines if x == "MEDIA status=3 dir=2"], lines
    assert "no ACK" not in pbx.log()
    assert pbx.log().count("music on hold, class default") == 6
    check_heard(tmp_path / "pj-heard.wav", BARESIP_TONE, [OWN] * 3 + [OTHERS] * 3)


def test_two_pjsua2_phones_hold_both_ways_and_keep_audio_both_ways(pbx: PbxProcess,
                                                                   tmp_path: Path) -> None:
    """Each of two pjsua2 phones holds three times; each hears the other's tone
    come back after each hold. pjsua2 keeps sending its tone while it holds
    (sendonly), but the PBX plays music on hold to the other phone instead, so
    each recording has six gaps: its own three holds (silence) and the other's
    three (the music-on-hold file)."""
    write_wav(tmp_path / "a.wav", tone(PJ_TONE, CALL_SECONDS + 10))
    write_wav(tmp_path / "b.wav", tone(BARESIP_TONE, CALL_SECONDS + 10))
    bob = pjsua2_phone(pbx, tmp_path, "6002", "--answer", "--play", str(tmp_path / "b.wav"),
                 "--record", str(tmp_path / "b-heard.wav"),
                 "--hold", ",".join(f"{t}:{HOLD}" for t in BARESIP_HOLDS))
    alice = None
    try:
        time.sleep(1.5)  # bob registers
        alice = pjsua2_phone(pbx, tmp_path, "6001", "--call", "6002",
                       "--play", str(tmp_path / "a.wav"),
                       "--record", str(tmp_path / "a-heard.wav"),
                       "--hold", ",".join(f"{t}:{HOLD}" for t in PJ_HOLDS),
                       "--duration", str(CALL_SECONDS))
        a_lines = phone_lines(alice, pbx)
        b_lines = phone_lines(bob, pbx)
    finally:
        for p in (alice, bob):
            if p is not None and p.poll() is None:
                p.kill()
    for lines in (a_lines, b_lines):
        assert sum(x.startswith("HOLD +") for x in lines) == 3, lines
        assert not [x for x in lines if x == "MEDIA status=3 dir=2"], lines
    # Alice (a) holds first, then Bob (b).
    check_heard(tmp_path / "a-heard.wav", BARESIP_TONE, [OWN] * 3 + [OTHERS] * 3)
    check_heard(tmp_path / "b-heard.wav", PJ_TONE, [OTHERS] * 3 + [OWN] * 3)
