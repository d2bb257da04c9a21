"""Transfer and parking with real phones (pjsua2 and baresip) through the real PBX.

Each phone plays a tone of its own and (pjsua2) records everything it hears,
silence included, so what each party heard is checked by content: who talked
to whom, before and after the transfer. Alice (6001, 400 Hz) calls Bob (6002,
700 Hz) and transfers him to Carol (6003, 1100 Hz): blind (REFER, pjsua2's
xfer and baresip's `transfer`), attended (REFER with Replaces, pjsua2's
xferReplaces, also while Carol still rings) and by DTMF (features.conf's #1
and *2 with Dial's t/T). Parking: a transfer to 700 parks Bob, Alice hears the
space ("seven zero one", by correlation with the prompts the PBX plays), Dave
(6004, 1500 Hz) dials 701 and talks to Bob; a call left parked rings Alice
back.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pbx.media.prompts import PromptLibrary, default_path
from pbx.media.wav import read_wav, write_wav
from tests.e2e.baresip import Baresip
from tests.e2e.harness import REPO, PbxProcess, free_port, make_config
from tests.e2e.media import (
    best_lag,
    chirp,
    g711_roundtrip,
    runs,
    tone,
    tone_present,
    windows_found,
)

# The phones run in their own processes; a missing pjsua2-python wheel fails the run here.
importlib.import_module("pjsua2")

PHONE = Path(__file__).with_name("pjsua2_phone.py")

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
[6003](office)
secret=6003pass
callerid="Carol" <6003>
[6004](office)
secret=6004pass
callerid="Dave" <6004>
"""

DIALPLAN = """\
[internal]
include => parkedcalls
exten => _600X,1,Dial(SIP/${EXTEN},20,tT)
 same => n,Hangup()
"""

FEATURES = """\
[featuremap]
blindxfer => #1
atxfer => *2
disconnect => *0
"""

PARKING = """\
[default]
parkext => 700
parkpos => 701-720
context => parkedcalls
parkinghints = yes
parkingtime => {parkingtime}
comebacktoorigin = yes
comebackdialtime = 10
parkedmusicclass = parked
"""

# The lot's music-on-hold class (musiconhold.conf [parked]): a 3 s sweep, every
# 200 ms of it unlike the others and unlike the phones' tones.
PARKED_MUSIC = chirp(3.0, 250.0, 3300.0, amplitude=9000.0)

TONES = {"6001": 400.0, "6002": 700.0, "6003": 1100.0, "6004": 1500.0}


@pytest.fixture
def pbx(tmp_path: Path, request: pytest.FixtureRequest):
    parkingtime = getattr(request, "param", 45)
    proc = make_config(tmp_path, sip_conf=SIP_CONF, extensions=DIALPLAN)
    (tmp_path / "features.conf").write_text(FEATURES)
    (tmp_path / "res_parking.conf").write_text(PARKING.format(parkingtime=parkingtime))
    (tmp_path / "parked-music").mkdir()
    write_wav(tmp_path / "parked-music" / "sweep.wav", PARKED_MUSIC)
    (tmp_path / "musiconhold.conf").write_text("[parked]\nmode=files\ndirectory=parked-music\n")
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


class Phone:
    """A pjsua2 phone process; its output lines go to a file the test can poll."""

    def __init__(self, pbx: PbxProcess, tmp: Path, user: str, *args: str,
                 timeout: float = 60.0) -> None:
        self.user = user
        self.out = tmp / f"{user}-{time.monotonic_ns()}.out"
        self.heard = tmp / f"{user}-heard.wav"
        wav = tmp / f"{user}-tone.wav"
        if not wav.exists():
            write_wav(wav, tone(TONES[user], timeout + 10))
        self._file = open(self.out, "w")  # noqa: SIM115 - closed in wait()
        self.proc = subprocess.Popen(
            [sys.executable, str(PHONE), "--user", user, "--password", f"{user}pass",
             "--registrar", f"{pbx.host}:{pbx.sip_port}", "--port", str(free_port()),
             "--rtp-port", str(free_port()), "--timeout", str(timeout),
             "--play", str(wav), "--record", str(self.heard), *args],
            stdout=self._file, stderr=subprocess.STDOUT, text=True)
        self.pbx = pbx

    def lines(self) -> list[str]:
        return self.out.read_text().splitlines()

    def wait_for(self, text: str, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines()):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"{self.user}: no '{text}' in {timeout}s:\n"
                             + "\n".join(self.lines()) + f"\n--- pbx\n{self.pbx.log()[-5000:]}")

    def wait(self, timeout: float = 60.0) -> list[str]:
        try:
            self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self._file.close()
        lines = self.lines()
        assert self.proc.returncode == 0, (f"{self.user} exited {self.proc.returncode}:\n"
                                           + "\n".join(lines)
                                           + f"\n--- pbx\n{self.pbx.log()[-6000:]}")
        return lines

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()


def heard(path: Path, freq: float) -> list[bool]:
    """Per 0.2 s: was ``freq`` what the phone heard?"""
    return tone_present(read_wav(path), freq)


def seconds_of(flags: list[bool]) -> float:
    return sum(flags) * 0.2


def first_index(flags: list[bool], min_run: int = 3) -> int | None:
    """Where ``flags`` first holds for ``min_run`` windows in a row."""
    for i in range(len(flags) - min_run + 1):
        if all(flags[i:i + min_run]):
            return i
    return None


def phones(pbx: PbxProcess, tmp: Path, users: dict[str, list[str]]) -> dict[str, Phone]:
    """Start the answering phones and wait until each has registered."""
    out = {user: Phone(pbx, tmp, user, *args) for user, args in users.items()}
    for p in out.values():
        p.wait_for("REG 200")
    return out


def check_transfer_audio(bob: Path, carol: Path, *, before: float = 1.0,
                         after: float = 2.0) -> None:
    """Bob heard Alice, then Carol; Carol heard Bob: both ways after the transfer."""
    b_alice, b_carol = heard(bob, TONES["6001"]), heard(bob, TONES["6003"])
    assert seconds_of(b_alice) >= before, runs(b_alice)
    assert seconds_of(b_carol) >= after, runs(b_carol)
    first_alice, first_carol = first_index(b_alice), first_index(b_carol)
    assert first_alice is not None and first_carol is not None and first_alice < first_carol
    c_bob = heard(carol, TONES["6002"])
    assert seconds_of(c_bob) >= after, runs(c_bob)
    assert not any(heard(carol, TONES["6001"])[first_index(c_bob) or 0:]), \
        "Carol still hears Alice after the transfer"


# --------------------------------------------------------------------------- blind


def test_pjsua2_blind_transfer(pbx: PbxProcess, tmp_path: Path) -> None:
    """Alice presses transfer (REFER to 6003) after 2 s; Bob rings Carol and they talk."""
    p = phones(pbx, tmp_path, {"6002": ["--answer"],
                               "6003": ["--answer", "--hangup-after", "4"]})
    alice = Phone(pbx, tmp_path, "6001", "--call", "6002", "--xfer", "6003",
                  "--xfer-after", "2", "--duration", "30")
    try:
        a_lines = alice.wait(40)
        p["6003"].wait(40)
        p["6002"].wait(40)
    finally:
        for ph in (alice, *p.values()):
            ph.kill()
    assert "REFER 6003" in a_lines and "XFER 200 final" in a_lines, a_lines
    assert "XFER 100 progress" in a_lines  # the NOTIFY with 100 Trying came first
    check_transfer_audio(p["6002"].heard, p["6003"].heard)
    log = pbx.log()
    assert "blind transfer of SIP/6002" in log


def test_baresip_blind_transfer(pbx: PbxProcess, tmp_path: Path) -> None:
    """baresip's `transfer` command: the same, with baresip as the transferer."""
    p = phones(pbx, tmp_path, {"6002": ["--answer"],
                               "6003": ["--answer", "--hangup-after", "4"]})
    write_wav(tmp_path / "alice.wav", tone(TONES["6001"], 60))
    alice = Baresip(tmp_path / "alice", "6001", "6001pass", pbx.host, pbx.sip_port,
                    tmp_path / "alice.wav")
    try:
        alice.wait_registered()
        alice.command("dial", f"sip:6002@{pbx.host}:{pbx.sip_port}")
        alice.wait_event("CALL_ESTABLISHED", timeout=15)
        time.sleep(2.0)
        alice.command("transfer", f"sip:6003@{pbx.host}:{pbx.sip_port}")
        alice.wait_event("CALL_CLOSED", timeout=15)
        p["6003"].wait(40)
        p["6002"].wait(40)
    finally:
        alice.stop()
        for ph in p.values():
            ph.kill()
    check_transfer_audio(p["6002"].heard, p["6003"].heard)


# ------------------------------------------------------------------------ attended


@pytest.mark.parametrize("ringing", [False, True], ids=["answered", "ringing"])
def test_pjsua2_attended_transfer(pbx: PbxProcess, tmp_path: Path, ringing: bool) -> None:
    """Alice holds Bob, calls Carol, then transfers Bob to her call with Carol (REFER
    with Replaces); with `ringing`, before Carol answers: Bob then waits for her."""
    carol_args = ["--answer", "--hangup-after", "4"]
    if ringing:
        carol_args += ["--answer-after", "3"]
    p = phones(pbx, tmp_path, {"6002": ["--answer"], "6003": carol_args})
    alice = Phone(pbx, tmp_path, "6001", "--call", "6002", "--call2", "6003",
                  "--call2-after", "2", "--xfer-replaces", "--xfer-after", "1.5",
                  *(["--xfer-ringing"] if ringing else []), "--duration", "30")
    try:
        a_lines = alice.wait(40)
        p["6003"].wait(40)
        p["6002"].wait(40)
    finally:
        for ph in (alice, *p.values()):
            ph.kill()
    assert "REFER replaces" in a_lines and "XFER 200 final" in a_lines, a_lines
    check_transfer_audio(p["6002"].heard, p["6003"].heard)
    assert "attended transfer by SIP/6001" in pbx.log()


# --------------------------------------------------------------------------- DTMF


def test_dtmf_blind_transfer_and_digits_passed_through(pbx: PbxProcess, tmp_path: Path) -> None:
    """Alice presses 5 (Bob's phone gets it: not a code), then #1 and 6003."""
    p = phones(pbx, tmp_path, {"6002": ["--answer"],
                               "6003": ["--answer", "--hangup-after", "4"]})
    alice = Phone(pbx, tmp_path, "6001", "--call", "6002", "--dtmf", "1.5:5,2.5:#1,4.5:6003",
                  "--duration", "30")
    try:
        alice.wait(40)
        p["6003"].wait(40)
        b_lines = p["6002"].wait(40)
    finally:
        for ph in (alice, *p.values()):
            ph.kill()
    dtmf = [x for x in b_lines if x.startswith("DTMF")]
    assert dtmf == ["DTMF 5"], b_lines  # the feature code and the target stay in the PBX
    check_transfer_audio(p["6002"].heard, p["6003"].heard)


def test_dtmf_attended_transfer(pbx: PbxProcess, tmp_path: Path) -> None:
    """*2 6003: Alice talks to Carol while Bob waits; *2 again joins Bob and Carol."""
    p = phones(pbx, tmp_path, {"6002": ["--answer"],
                               "6003": ["--answer", "--hangup-after", "7"]})
    alice = Phone(pbx, tmp_path, "6001", "--call", "6002",
                  "--dtmf", "2:*2,3.5:6003,8:*2", "--duration", "30")
    try:
        alice.wait(40)
        p["6003"].wait(40)
        p["6002"].wait(40)
    finally:
        for ph in (alice, *p.values()):
            ph.kill()
    # Carol heard Alice first (the consultation), then Bob.
    c_alice, c_bob = heard(p["6003"].heard, TONES["6001"]), heard(p["6003"].heard, TONES["6002"])
    assert seconds_of(c_alice) >= 1.0 and seconds_of(c_bob) >= 2.0, (runs(c_alice), runs(c_bob))
    assert first_index(c_alice) < first_index(c_bob)
    check_transfer_audio(p["6002"].heard, p["6003"].heard)


# ------------------------------------------------------------------------- parking


def _announcement_found(recording: Path, space: str) -> bool:
    """Alice's recording holds the digits of ``space`` as the PBX says them."""
    library = PromptLibrary(default_path(str(REPO)), "en")
    pcm = read_wav(recording)
    positions = []
    for d in space:
        ref = library.pcm(f"digits/{d}")
        assert ref is not None
        # The start of each word: the phone hangs up as soon as the transfer's
        # final NOTIFY comes, right after the last word, and its jitter buffer
        # keeps the very end of it.
        lag, score = best_lag(pcm, g711_roundtrip(ref[:6400]))
        if score < 0.8:
            return False
        positions.append(lag)
    return positions == sorted(positions)


def test_park_by_transfer_to_700_then_retrieve_by_dialing_the_space(
        pbx: PbxProcess, tmp_path: Path) -> None:
    p = phones(pbx, tmp_path, {"6002": ["--answer"]})
    alice = Phone(pbx, tmp_path, "6001", "--call", "6002", "--xfer", "700",
                  "--xfer-after", "2", "--duration", "30")
    try:
        a_lines = alice.wait(40)
        assert "XFER 200 final" in a_lines, a_lines
        assert "Parking 'SIP/6002" in pbx.log() and "at space 701" in pbx.log()
        time.sleep(3.0)  # Bob waits in the space, with the lot's music
        dave = Phone(pbx, tmp_path, "6004", "--call", "701", "--duration", "4")
        dave.wait(30)
        p["6002"].wait(30)
    finally:
        for ph in (alice, *p.values()):
            ph.kill()
    assert _announcement_found(alice.heard, "701"), "Alice did not hear 'seven zero one'"
    # Dave and Bob talk, both ways.
    assert seconds_of(heard(dave.heard, TONES["6002"])) >= 2.0
    assert seconds_of(heard(p["6002"].heard, TONES["6004"])) >= 2.0
    # Between Alice and Dave, Bob heard the lot's class (parkedmusicclass), by content.
    pcm = read_wav(p["6002"].heard)
    b_alice, b_dave = heard(p["6002"].heard, TONES["6001"]), heard(p["6002"].heard, TONES["6004"])
    last_alice = max(i for i, x in enumerate(b_alice) if x)
    first_dave = first_index(b_dave)
    assert first_dave is not None and first_dave - last_alice >= 10, (runs(b_alice), runs(b_dave))
    window = int(0.2 * 8000) * 2  # bytes in one 200 ms window of tone_present
    parked = pcm[(last_alice + 3) * window:(first_dave - 1) * window]
    found = windows_found(PARKED_MUSIC * 3, parked, seconds=0.2, threshold=0.8)
    assert found >= 0.6, (found, runs(b_alice), runs(b_dave))


@pytest.mark.parametrize("pbx", [3], indirect=True)
def test_parked_call_rings_the_parker_back_after_parkingtime(pbx: PbxProcess,
                                                              tmp_path: Path) -> None:
    p = phones(pbx, tmp_path, {"6002": ["--answer"]})
    alice = Phone(pbx, tmp_path, "6001", "--call", "6002", "--xfer", "700", "--xfer-after",
                  "1.5", "--answer", "--hangup-after", "3", "--expect-calls", "2",
                  "--duration", "30")
    try:
        a_lines = alice.wait(45)
        p["6002"].wait(30)
    finally:
        for ph in (alice, *p.values()):
            ph.kill()
    incoming = [x for x in a_lines if x.startswith("INCOMING")]
    assert len(incoming) == 1 and "6002" in incoming[0], a_lines
    assert "timed out" in pbx.log() or "back to SIP_6001" in pbx.log()
    # After the call came back, Alice and Bob talk again.
    a_bob = heard(alice.heard, TONES["6002"])
    assert len(runs(a_bob)) >= 3 and seconds_of(a_bob) >= 3.0, runs(a_bob)


def test_dtmf_attended_transfer_threeway(pbx: PbxProcess, tmp_path: Path) -> None:
    """*2 6003, then *3: all three talk (Bob hears Alice and Carol at once); Alice
    hangs up and Bob and Carol go on."""
    p = phones(pbx, tmp_path, {"6002": ["--answer"],
                               "6003": ["--answer", "--hangup-after", "12"]})
    alice = Phone(pbx, tmp_path, "6001", "--call", "6002",
                  "--dtmf", "2:*2,3.5:6003,7:*3", "--duration", "11")
    try:
        alice.wait(40)
        p["6003"].wait(40)
        p["6002"].wait(40)
    finally:
        for ph in (alice, *p.values()):
            ph.kill()
    pcm = read_wav(p["6002"].heard)
    # Mixed windows share their energy between two tones: a lower bar for each.
    with_alice = tone_present(pcm, TONES["6001"], threshold=0.2)
    with_carol = tone_present(pcm, TONES["6003"], threshold=0.2)
    both = [a and c for a, c in zip(with_alice, with_carol, strict=True)]
    assert seconds_of(both) >= 1.5, (runs(with_alice), runs(with_carol))
    # After the three-way part, Carol alone (Alice has left).
    last_both = max(i for i, x in enumerate(both) if x)
    carol_only = [c and not a for a, c in zip(with_alice[last_both:], with_carol[last_both:],
                                              strict=True)]
    assert seconds_of(carol_only) >= 2.0, runs(carol_only)
    c_pcm = read_wav(p["6003"].heard)
    assert seconds_of([a and b for a, b in zip(tone_present(c_pcm, TONES["6001"], threshold=0.2),
                                               tone_present(c_pcm, TONES["6002"], threshold=0.2),
                                               strict=True)]) >= 1.5
    assert "three-way call" in pbx.log()
