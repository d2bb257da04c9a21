"""Hold and resume with real phones, from either side, three times in a row.

A pjsua2 phone and a baresip phone talk through the PBX; each plays a tone of
its own (pjsua2 500 Hz, baresip 1300 Hz). Each holds and resumes the call three
times (re-INVITE sendonly, then sendrecv); the PBX reflects every hold to the
other leg with a re-INVITE of its own, whose 200 it must ACK with that
re-INVITE's CSeq (a strict phone otherwise retransmits its 200 and hangs up, or
refuses the next re-INVITE). Audio is checked by content in what pjsua2 records
(continuous, silence included): the other phone's tone stops for each hold and
is back after each resume. baresip's own recording stops at its first
re-INVITE (its sndfile dump is not re-opened), so the pjsua2-to-pjsua2 test
checks the other direction.
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
from tests.e2e.media import runs, tone, tone_present

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


@pytest.fixture
def pbx(tmp_path: Path):
    proc = make_config(tmp_path, sip_conf=SIP_CONF, extensions=DIALPLAN)
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


def check_heard(recording: Path, freq: float, holds: int) -> None:
    """The other phone's tone, interrupted by ``holds`` holds, back after each."""
    pattern = runs(tone_present(read_wav(recording), freq))
    while pattern and not pattern[0][0]:  # before the call is answered
        pattern.pop(0)
    while pattern and not pattern[-1][0]:  # after the hangup
        pattern.pop()
    gaps = [n for present, n in pattern if not present]
    talk = [n for present, n in pattern if present]
    assert len(gaps) == holds, pattern
    # Each hold is a real gap, and the talk between holds is there whole (GAP s).
    assert all(n >= int((HOLD - 0.5) / 0.2) for n in gaps), pattern
    assert all(n >= int((GAP - 0.6) / 0.2) for n in talk[1:-1]), pattern
    assert talk[-1] >= int(2.0 / 0.2), pattern  # the tone is back after the last one


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
    # pjsua2 saw the PBX hold and resume it three times (baresip's holds, reflected).
    assert sum(x == "MEDIA status=3 dir=2" for x in lines) == 3, lines
    assert "no ACK" not in pbx.log()
    check_heard(tmp_path / "pj-heard.wav", BARESIP_TONE, holds=6)


def test_two_pjsua2_phones_hold_both_ways_and_keep_audio_both_ways(pbx: PbxProcess,
                                                                   tmp_path: Path) -> None:
    """Each of two pjsua2 phones holds three times; each hears the other's tone
    come back after each of its own holds. pjsua2 keeps sending while it holds
    (sendonly: its side of the call goes on, as music would), so each phone's
    recording has exactly three gaps: its own holds, not the other's."""
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
        assert sum(x == "MEDIA status=3 dir=2" for x in lines) == 3, lines
    check_heard(tmp_path / "a-heard.wav", BARESIP_TONE, holds=3)
    check_heard(tmp_path / "b-heard.wav", PJ_TONE, holds=3)
