"""Calls end to end: SIPp callers and callees (and baresip phones) through the
real PBX on loopback. SIPp signals; the test's own UDP sockets are the media,
so audio is checked by content (correlation with what the other side sent).
Every call's CDR row is checked against what happened.
"""

from __future__ import annotations

import csv
import io
import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.harness import PEERS, PbxProcess, free_port, make_config
from tests.e2e.media import (
    SOUNDS,
    RtpEndpoint,
    chirp,
    correlation,
    dtmf_events,
    g711_roundtrip,
    prompt_pcm,
)
from tests.e2e.sipp import (
    call_scenario,
    media_address,
    register,
    run_sipp,
    sipp_errors,
    uas_scenario,
)

SIP_CONF = PEERS + """
[6003](office)
secret=6003pass
callerid="Carol" <6003>
"""

DIALPLAN = """\
[general]
autofallthrough=yes

[default]

[internal]
exten => 999,1,Answer()
 same => n,Playback(tt-weasels)
 same => n,Hangup()
; the echo test, with a short prompt first
exten => 600,1,Answer()
 same => n,Playback(beep)
 same => n,Echo()
 same => n,Hangup()
; the office phones; falling off the end answers the caller per DIALSTATUS
exten => _600X,1,Dial(SIP/${EXTEN},10)
 same => n,Log(NOTICE,DIALSTATUS=${DIALSTATUS})
; no answer: a short ring
exten => 7002,1,Dial(SIP/6002,3)
 same => n,Log(NOTICE,DIALSTATUS=${DIALSTATUS})
"""

CALLER = ("6001", "6001pass")
CODECS = {0: "PCMU", 8: "PCMA"}


@pytest.fixture
def pbx(tmp_path: Path) -> Iterator[PbxProcess]:
    """The PBX with the call test dialplan (overrides conftest's `pbx`)."""
    # The repo's prompts, not /usr/share/asterisk's: the test knows what is played.
    proc = make_config(tmp_path, sip_conf=SIP_CONF, extensions=DIALPLAN,
                       extra_yaml=f"sounds: {{path: [{SOUNDS.parent}]}}\n")
    # The music on hold the repository ships, whatever the machine has installed.
    (tmp_path / "musiconhold.conf").write_text(
        f"[default]\nmode=files\ndirectory={SOUNDS.parent / 'moh'}\n")
    proc.start(*(["--sip-trace"] if os.environ.get("PBX_SIP_TRACE") else []))
    try:
        yield proc
    finally:
        proc.stop()


# --- helpers ------------------------------------------------------------------
@dataclass
class Sipp:
    """One SIPp run in the background, with its media log and message trace."""

    proc: subprocess.Popen
    tag: str
    tmp: Path
    port: int = 0

    @property
    def media_log(self) -> Path:
        return self.tmp / f"{self.tag}-media.log"

    @property
    def messages(self) -> str:
        path = self.tmp / f"{self.tag}-messages.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def media(self, timeout: float = 10.0) -> tuple[str, int]:
        """The PBX's RTP address from the SDP this SIPp received."""
        addr = media_address(self.media_log, timeout)
        assert addr is not None, f"{self.tag}: no SDP from the PBX\n{self.messages[-3000:]}"
        assert addr[0] == "127.0.0.1", addr  # the PBX stays on loopback
        return addr

    def finish(self, pbx: PbxProcess, timeout: float = 40.0) -> None:
        """Wait for SIPp to end; its scenario (and every check in it) must pass."""
        try:
            _, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
            pytest.fail(f"{self.tag}: SIPp did not finish\n{self.messages[-3000:]}")
        assert self.proc.returncode == 0, (
            f"{self.tag}: SIPp failed ({self.proc.returncode}): {err[-1500:] if err else ''}\n"
            f"{sipp_errors(self.tmp)}\n--- messages\n{self.messages[-4000:]}\n"
            f"--- pbx log\n{pbx.log()[-4000:]}")


def _sipp_extra(tmp: Path, tag: str) -> list[str]:
    return ["-trace_logs", "-log_file", str(tmp / f"{tag}-media.log"),
            "-trace_msg", "-message_file", str(tmp / f"{tag}-messages.log")]


def caller(pbx: PbxProcess, tmp: Path, exten: str, ending: str, rtp: RtpEndpoint, *,
           pt: int = 0, pause_ms: int = 0, hold: bool = False, tag: str = "caller",
           timeout_s: int = 30) -> Sipp:
    """6001 calls `exten` (with digest auth); its media is `rtp`."""
    proc = run_sipp(call_scenario(ending, log_media=True, hold=hold), pbx.host, pbx.sip_port,
                    tmp=tmp, service=exten, user=CALLER[0], password=CALLER[1],
                    keys={"rtpport": str(rtp.port), "codec_pt": str(pt),
                          "codec_name": CODECS[pt]},
                    pause_ms=pause_ms, timeout_s=timeout_s, extra=_sipp_extra(tmp, tag),
                    background=True)
    return Sipp(proc, tag, tmp)  # type: ignore[arg-type]


def callee(pbx: PbxProcess, tmp: Path, rtp: RtpEndpoint | None, *, peer: str = "6002",
           secret: str = "6002pass", pt: int = 0, dtmf_pt: int = 101, tag: str = "callee",
           timeout_s: int = 30, **scenario: object) -> Sipp:
    """A SIPp UAS registered as `peer` (REGISTER sent from its own port)."""
    port = free_port(both=False)
    status = register(pbx.host, pbx.sip_port, port, peer, secret)
    assert status == 200, f"REGISTER {peer} got {status}"
    proc = run_sipp(uas_scenario(**scenario), pbx.host, pbx.sip_port,  # type: ignore[arg-type]
                    tmp=tmp, keys={"rtpport": str(rtp.port if rtp else 9),
                                   "codec_pt": str(pt), "codec_name": CODECS[pt],
                                   "dtmf_pt": str(dtmf_pt)},
                    timeout_s=timeout_s, extra=[*_sipp_extra(tmp, tag), "-p", str(port)],
                    background=True)
    _wait_bound(port)
    return Sipp(proc, tag, tmp, port)  # type: ignore[arg-type]


def _wait_bound(port: int, timeout: float = 5.0) -> None:
    """Wait until SIPp listens on `port` (binding it fails then)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return
        time.sleep(0.02)
    pytest.fail(f"SIPp did not bind port {port}")


def cdr_rows(pbx: PbxProcess, n: int = 1, timeout: float = 10.0) -> list[dict[str, str]]:
    """The CDR rows once there are at least `n` (rows are written at hangup)."""
    deadline = time.monotonic() + timeout
    rows: list[dict[str, str]] = []
    while time.monotonic() < deadline:
        out = pbx.cli("cdr", "--csv")
        assert out.returncode == 0, out.stderr
        rows = list(csv.DictReader(io.StringIO(out.stdout)))
        if len(rows) >= n:
            return rows
        time.sleep(0.2)
    pytest.fail(f"expected {n} CDR rows, got {rows}\n{pbx.log()[-3000:]}")


def check_cdr(row: dict[str, str], *, disposition: str, dst: str, callee: str = "",
              src: str = "6001") -> None:
    assert row["disposition"] == disposition, row
    assert row["src"] == src and row["dst"] == dst, row
    assert row["channel"].startswith(f"SIP/{src}-"), row
    if callee:
        assert row["dstchannel"].startswith(f"SIP/{callee}-"), row
    billsec = int(row["billsec"])
    if disposition == "ANSWERED":
        assert billsec > 0 and row["answer"], row
    else:
        assert billsec == 0, row


def wait_log(pbx: PbxProcess, pattern: str, timeout: float = 10.0) -> re.Match:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = re.search(pattern, pbx.log())
        if m:
            return m
        time.sleep(0.1)
    pytest.fail(f"{pattern!r} not in the PBX log:\n{pbx.log()[-4000:]}")


# --- the PBX's own applications -------------------------------------------------
def test_999_plays_the_prompt_and_hangs_up(pbx: PbxProcess, tmp_path: Path) -> None:
    """200 with SDP, tt-weasels arrives (by content, 20 ms pacing), PBX's BYE. (No
    100 Trying is needed: the call is answered within 200 ms, RFC 3261 17.2.1.)"""
    with RtpEndpoint() as rtp:
        call = caller(pbx, tmp_path, "999", "pbx_bye", rtp)
        call.finish(pbx)  # the scenario ends with the PBX's BYE, answered 200
        trace = call.messages
        ok = trace[trace.index("SIP/2.0 200 OK"):]
        assert "Content-Type: application/sdp" in ok and "m=audio" in ok
        assert "BYE sip:" in trace
        received = rtp.decoded(0)
        assert len(rtp.audio(0)) >= 80, len(rtp.audio(0))
        assert rtp.source() == call.media(), "RTP comes from the address in the SDP"
        reference = g711_roundtrip(prompt_pcm("tt-weasels"))
        assert correlation(received, reference) > 0.9
        assert 18.0 <= rtp.median_interval_ms(0) <= 22.0, rtp.median_interval_ms(0)
    check_cdr(cdr_rows(pbx)[-1], disposition="ANSWERED", dst="999")


def test_600_echoes_the_callers_audio(pbx: PbxProcess, tmp_path: Path) -> None:
    """What the caller sends to the PBX during Echo() comes back unchanged."""
    sweep = chirp(1.5)
    with RtpEndpoint() as rtp:
        call = caller(pbx, tmp_path, "600", "caller_bye", rtp, pause_ms=3500)
        dest = call.media()
        assert rtp.wait_packets(5, timeout=5), "no prompt before the echo"
        time.sleep(0.4)  # the 250 ms beep: echo starts after it
        start = time.monotonic()
        rtp.send_audio(dest, sweep, 0, background=False)
        call.finish(pbx)
        echoed = rtp.decoded(0, since=start)
        assert correlation(echoed, g711_roundtrip(sweep)) > 0.9
    check_cdr(cdr_rows(pbx)[-1], disposition="ANSWERED", dst="600")


# --- Dial ---------------------------------------------------------------------------
def _two_way_audio(a: RtpEndpoint, b: RtpEndpoint, a_dest: tuple, b_dest: tuple,
                   a_pt: int, b_pt: int) -> None:
    """Each side sends a different signal; each must hear the other's."""
    speech = prompt_pcm("tt-weasels")[: 2 * 12000]  # 1.5 s of 16-bit samples
    sweep = chirp(1.5)
    start = time.monotonic()
    ta = a.send_audio(a_dest, speech, a_pt)
    tb = b.send_audio(b_dest, sweep, b_pt)
    assert ta is not None and tb is not None
    ta.join(5)
    tb.join(5)
    assert b.wait_packets(60, timeout=3, pt=b_pt), (
        f"callee got {len(b.audio(b_pt))} packets",
        [(round(p.at - start, 3), p.seq) for p in b.audio(b_pt)][:50])
    assert a.wait_packets(60, timeout=3, pt=a_pt), f"caller got {len(a.audio(a_pt))} packets"
    time.sleep(0.1)
    heard_by_b = b.decoded(b_pt, since=start)
    heard_by_a = a.decoded(a_pt, since=start)
    # Both G.711 steps count: the caller's encoding and (transcoding) the callee's law.
    assert correlation(heard_by_b, g711_roundtrip(g711_roundtrip(speech, a_pt), b_pt)) > 0.9
    assert correlation(heard_by_a, g711_roundtrip(g711_roundtrip(sweep, b_pt), a_pt)) > 0.9


def test_dial_answered_caller_hangs_up(pbx: PbxProcess, tmp_path: Path) -> None:
    """6001 -> 6002: answered, audio both ways, caller's BYE reaches the callee."""
    with RtpEndpoint() as a, RtpEndpoint() as b:
        uas = callee(pbx, tmp_path, b, ring_ms=300, ending="wait_bye")
        call = caller(pbx, tmp_path, "6002", "caller_bye", a, pause_ms=3500)
        _two_way_audio(a, b, call.media(), uas.media(), 0, 0)
        call.finish(pbx)
        uas.finish(pbx)
    row = cdr_rows(pbx)[-1]
    check_cdr(row, disposition="ANSWERED", dst="6002", callee="6002")
    assert row["lastapp"] == "Dial", row  # the caller's hangup ended the dialplan in Dial


def test_dial_answered_callee_hangs_up(pbx: PbxProcess, tmp_path: Path) -> None:
    """The callee's BYE ends the call: the PBX sends BYE to the caller."""
    with RtpEndpoint() as a, RtpEndpoint() as b:
        uas = callee(pbx, tmp_path, b, ending="send_bye", bye_after_ms=1500)
        call = caller(pbx, tmp_path, "6002", "pbx_bye", a)
        uas.finish(pbx)
        call.finish(pbx)
    row = cdr_rows(pbx)[-1]
    check_cdr(row, disposition="ANSWERED", dst="6002", callee="6002")


def test_pcmu_caller_to_pcma_callee_is_transcoded(pbx: PbxProcess, tmp_path: Path) -> None:
    """The caller offers PCMU only, the callee answers PCMA only: audio crosses."""
    with RtpEndpoint() as a, RtpEndpoint() as b:
        uas = callee(pbx, tmp_path, b, pt=8, ending="wait_bye")
        call = caller(pbx, tmp_path, "6002", "caller_bye", a, pt=0, pause_ms=3500)
        _two_way_audio(a, b, call.media(), uas.media(), 0, 8)
        call.finish(pbx)
        uas.finish(pbx)
    assert "m=audio" in uas.messages and re.search(r"a=rtpmap:8 PCMA", uas.messages)
    check_cdr(cdr_rows(pbx)[-1], disposition="ANSWERED", dst="6002", callee="6002")


def test_dtmf_is_relayed_with_the_callees_payload_type(pbx: PbxProcess,
                                                        tmp_path: Path) -> None:
    """RFC 4733 from the caller (PT 101) reaches the callee as its PT (96)."""
    with RtpEndpoint() as a, RtpEndpoint() as b:
        uas = callee(pbx, tmp_path, b, dtmf_pt=96, ending="wait_bye")
        call = caller(pbx, tmp_path, "6002", "caller_bye", a, pause_ms=3000)
        dest = call.media()
        uas.media()
        time.sleep(0.3)  # the bridge is up once the callee's ACK is in
        for digit in "1#":
            a.send_dtmf(dest, digit, pt=101)
            time.sleep(0.1)
        assert b.wait_for(lambda ps: dtmf_events(ps, 96) == "1#", timeout=3), (
            [(p.pt, p.payload.hex()) for p in b.packets][:20])
        assert not b.audio(101), "the caller's PT leaked through"
        call.finish(pbx)
        uas.finish(pbx)


def test_hold_gives_the_other_leg_music_on_hold(pbx: PbxProcess, tmp_path: Path) -> None:
    """Caller re-INVITEs sendonly -> answered recvonly; the callee gets no
    re-INVITE but hears the default music-on-hold class (by content) for the
    second of the hold, and nothing once the caller resumes (sendrecv)."""
    from pbx.media.wav import read_wav

    music = read_wav(SOUNDS.parent / "moh" / "pbx-fallback.wav")
    with RtpEndpoint() as a, RtpEndpoint() as b:
        uas = callee(pbx, tmp_path, b, ending="wait_bye")
        call = caller(pbx, tmp_path, "6002", "caller_bye", a, hold=True, pause_ms=1500)
        call.finish(pbx)  # its re-INVITE checks: recvonly, then sendrecv
        uas.finish(pbx)  # no re-INVITE came (the scenario would fail on one)
        heard = b.decoded(0)
        assert 0.6 <= len(heard) / 16000 <= 1.5, len(heard) / 16000  # about the hold's 1 s
        assert correlation(heard, g711_roundtrip(music * 2)) > 0.95
        last = b.audio(0)[-1].at
    assert uas.messages.count("INVITE sip:") == 1
    assert time.monotonic() - last > 1.0  # the music stopped at the resume
    check_cdr(cdr_rows(pbx)[-1], disposition="ANSWERED", dst="6002", callee="6002")


def test_no_answer_times_out_and_cancels(pbx: PbxProcess, tmp_path: Path) -> None:
    """Dial(SIP/6002,3) to a phone that only rings: NOANSWER, CANCEL to the callee."""
    with RtpEndpoint() as a:
        uas = callee(pbx, tmp_path, None, final=0)
        t0 = time.monotonic()
        call = caller(pbx, tmp_path, "7002", "reject:480", a)
        call.finish(pbx)
        assert 2.5 <= time.monotonic() - t0 <= 8, "Dial's 3 s timeout"
        uas.finish(pbx)  # it got the CANCEL, sent 487, got the ACK
    wait_log(pbx, r"DIALSTATUS=NOANSWER")
    check_cdr(cdr_rows(pbx)[-1], disposition="NO ANSWER", dst="7002", callee="6002")


def test_busy_callee(pbx: PbxProcess, tmp_path: Path) -> None:
    """The callee answers 486: DIALSTATUS BUSY, the caller gets 486."""
    with RtpEndpoint() as a:
        uas = callee(pbx, tmp_path, None, final=486)
        call = caller(pbx, tmp_path, "6002", "reject:486", a)
        call.finish(pbx)
        uas.finish(pbx)
    wait_log(pbx, r"DIALSTATUS=BUSY")
    check_cdr(cdr_rows(pbx)[-1], disposition="BUSY", dst="6002", callee="6002")


def test_caller_cancels_while_ringing(pbx: PbxProcess, tmp_path: Path) -> None:
    """The caller's CANCEL: 200 + 487 to it, CANCEL on to the ringing callee."""
    with RtpEndpoint() as a:
        uas = callee(pbx, tmp_path, None, final=0)
        call = caller(pbx, tmp_path, "6002", "cancel", a, pause_ms=1000)
        call.finish(pbx)
        uas.finish(pbx)
    check_cdr(cdr_rows(pbx)[-1], disposition="NO ANSWER", dst="6002", callee="6002")


def test_unregistered_target_is_unavailable_at_once(pbx: PbxProcess, tmp_path: Path) -> None:
    """Dial(SIP/6003) with no registration: CHANUNAVAIL, 503 to the caller, fast."""
    with RtpEndpoint() as a:
        t0 = time.monotonic()
        call = caller(pbx, tmp_path, "6003", "reject:503", a)
        call.finish(pbx)
        assert time.monotonic() - t0 < 3
    wait_log(pbx, r"DIALSTATUS=CHANUNAVAIL")
    check_cdr(cdr_rows(pbx)[-1], disposition="FAILED", dst="6003")


def test_two_devices_first_answer_wins(pbx: PbxProcess, tmp_path: Path) -> None:
    """Two registrations of 6002: both ring; the first to answer gets the call,
    the other gets CANCEL."""
    with RtpEndpoint() as a, RtpEndpoint() as b1, RtpEndpoint() as b2:
        ringer = callee(pbx, tmp_path, b2, final=0, tag="ringer")
        answerer = callee(pbx, tmp_path, b1, ring_ms=800, ending="wait_bye", tag="answerer")
        call = caller(pbx, tmp_path, "6002", "caller_bye", a, pause_ms=2500)
        ringer.media()  # both got the INVITE
        answerer.media()
        call.finish(pbx)
        answerer.finish(pbx)
        ringer.finish(pbx)
    check_cdr(cdr_rows(pbx)[-1], disposition="ANSWERED", dst="6002", callee="6002")


# --- real phones ---------------------------------------------------------------------
@pytest.mark.parametrize("who_hangs_up", ["caller", "callee"])
def test_baresip_phones_talk_through_the_pbx(pbx: PbxProcess, tmp_path: Path,
                                             who_hangs_up: str) -> None:
    """Two registered baresip phones: 6001 dials 6002, which answers by itself;
    each hears what the other's microphone (a WAV file) plays; one hangs up and
    the other's call ends too."""
    from pbx.media.wav import read_wav, write_wav
    from tests.e2e.baresip import Baresip
    from tests.e2e.media import windows_found

    speech, sweep = prompt_pcm("tt-weasels") * 2, chirp(3.0)
    write_wav(tmp_path / "alice.wav", speech)
    write_wav(tmp_path / "bob.wav", sweep)
    alice = Baresip(tmp_path / "alice", "6001", "6001pass", pbx.host, pbx.sip_port,
                    tmp_path / "alice.wav")
    bob = Baresip(tmp_path / "bob", "6002", "6002pass", pbx.host, pbx.sip_port,
                  tmp_path / "bob.wav")
    try:
        alice.wait_registered()
        bob.wait_registered()
        alice.command("dial", "6002")
        alice.wait_event("CALL_ESTABLISHED")
        bob.wait_event("CALL_ESTABLISHED")
        time.sleep(3.0)  # the 3 s microphone files play out
        (alice if who_hangs_up == "caller" else bob).command("hangup")
        alice.wait_event("CALL_CLOSED")
        bob.wait_event("CALL_CLOSED")
    finally:
        alice.stop()
        bob.stop()
    heard_by_bob, heard_by_alice = bob.received_wav(), alice.received_wav()
    assert heard_by_bob is not None and heard_by_alice is not None
    # Windows of 200 ms: the phones' jitter buffers may shift the stream slightly.
    assert windows_found(read_wav(heard_by_bob), speech[: 2 * 8000 * 2]) >= 0.8
    assert windows_found(read_wav(heard_by_alice), sweep) >= 0.8
    row = cdr_rows(pbx)[-1]
    check_cdr(row, disposition="ANSWERED", dst="6002", callee="6002")
    assert int(row["billsec"]) >= 2, row
