"""Wideband and pass-through codecs end to end: G.722 between baresip phones,
G.722 to PCMU through the bridge (audio checked both ways), the playback (999)
and echo (600) tests on a G.722 leg, a voicemail left from a G.722 leg stored
at 16 kHz, and Opus passed through untouched between two legs that number it
differently. Audio is always checked by content."""

from __future__ import annotations

import re
import shutil
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from pbx.media.codecs import G722
from pbx.media.resample import resample_pcm
from pbx.media.wav import read_wav, write_wav
from tests.e2e.harness import PbxProcess, make_config
from tests.e2e.media import (
    SOUNDS,
    RtpEndpoint,
    chirp,
    correlation,
    dtmf_events,
    g711_roundtrip,
    prompt_pcm,
    windows_found,
)
from tests.e2e.sipp import call_scenario, register, run_sipp, uas_scenario
from tests.e2e.test_calls import Sipp, _sipp_extra, _wait_bound, cdr_rows, check_cdr

SIP_CONF = """\
[general]
context=default
allowguest=no

[office](!)
type=friend
host=dynamic
context=internal
disallow=all
allow=g722,ulaw,alaw

[6001](office)
secret=6001pass
callerid="Alice" <6001>

[6002](office)
secret=6002pass
callerid="Bob" <6002>
mailbox=6002@default

; a narrowband-only phone
[6003](office)
secret=6003pass
disallow=all
allow=ulaw

; phones that may pass Opus
[6011](office)
secret=6011pass
allow=opus

[6012](office)
secret=6012pass
allow=opus
"""

DIALPLAN = """\
[general]
autofallthrough=yes

[default]

[internal]
exten => 999,1,Answer()
 same => n,Playback(tt-weasels)
 same => n,Hangup()
exten => 998,1,Answer()
 same => n,Playback(hello-world)
 same => n,Hangup()
exten => 600,1,Answer()
 same => n,Playback(beep)
 same => n,Echo()
 same => n,Hangup()
exten => _60XX,1,Dial(SIP/${EXTEN},10)
exten => 8002,1,VoiceMail(6002@default,su)
 same => n,Hangup()
"""

VOICEMAIL_CONF = """\
[general]
minsecs=1
maxsilence=2

[default]
6002 => 4242,Bob
"""


def sweep16(seconds: float, f0: float = 200.0, f1: float = 7000.0,
            amplitude: float = 10000.0) -> bytes:
    """A 16 kHz sweep reaching 7 kHz: what G.711 could never carry."""
    t = np.arange(int(16000 * seconds)) / 16000
    phase = 2 * np.pi * (f0 * t + (f1 - f0) * t * t / (2 * seconds))
    return (amplitude * np.sin(phase)).astype("<i2").tobytes()


def band_energy(pcm: bytes, rate: int, lo: float, hi: float) -> float:
    """Share of the signal's energy between lo and hi Hz."""
    x = np.frombuffer(pcm, dtype="<i2").astype(float)
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / rate)
    return float(spec[(f >= lo) & (f < hi)].sum() / max(spec.sum(), 1e-9))


def up(pcm8: bytes) -> bytes:
    return resample_pcm(pcm8, 8000, 16000)


@pytest.fixture
def sounds(tmp_path: Path) -> Path:
    """A 16 kHz tt-weasels (a wideband sweep) before the repo's 8 kHz prompts."""
    folder = tmp_path / "sounds16"
    (folder / "en").mkdir(parents=True)
    write_wav(folder / "en" / "tt-weasels.wav", sweep16(1.5), 16000)
    return folder


@pytest.fixture
def pbx(tmp_path: Path, sounds: Path) -> Iterator[PbxProcess]:
    proc = make_config(tmp_path, sip_conf=SIP_CONF, extensions=DIALPLAN,
                       extra_yaml=f"sounds: {{path: [{sounds}, {SOUNDS.parent}]}}\n")
    (tmp_path / "voicemail.conf").write_text(VOICEMAIL_CONF)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def caller(pbx: PbxProcess, tmp: Path, exten: str, ending: str, rtp: RtpEndpoint, *,
           user: tuple[str, str] = ("6001", "6001pass"), pt: int = 9, name: str = "G722",
           pause_ms: int = 0, tag: str = "caller") -> Sipp:
    proc = run_sipp(call_scenario(ending, log_media=True), pbx.host, pbx.sip_port, tmp=tmp,
                    service=exten, user=user[0], password=user[1],
                    keys={"rtpport": str(rtp.port), "codec_pt": str(pt), "codec_name": name},
                    pause_ms=pause_ms, extra=_sipp_extra(tmp, tag), background=True)
    return Sipp(proc, tag, tmp)  # type: ignore[arg-type]


def callee(pbx: PbxProcess, tmp: Path, rtp: RtpEndpoint, *, peer: tuple[str, str],
           pt: int, name: str, dtmf_pt: int = 101, tag: str = "callee") -> Sipp:
    from tests.e2e.harness import free_port

    port = free_port(both=False)
    assert register(pbx.host, pbx.sip_port, port, *peer) == 200
    proc = run_sipp(uas_scenario(ending="wait_bye"), pbx.host, pbx.sip_port, tmp=tmp,
                    keys={"rtpport": str(rtp.port), "codec_pt": str(pt), "codec_name": name,
                          "dtmf_pt": str(dtmf_pt)},
                    extra=[*_sipp_extra(tmp, tag), "-p", str(port)], background=True)
    _wait_bound(port)
    return Sipp(proc, tag, tmp, port)  # type: ignore[arg-type]


def message(trace: str, start: str, contains: str = "m=audio") -> str:
    """The last message of a SIPp trace that starts with `start` and has `contains`."""
    found = [m for m in trace.split("-" * 47)
             if m.split("\n\n", 1)[-1].startswith(start) and contains in m]
    assert found, f"no {start!r} in\n{trace[-3000:]}"
    return found[-1]


# --- the PBX's own applications on a G.722 leg --------------------------------------
def test_999_on_a_g722_leg_plays_the_16khz_prompt(pbx: PbxProcess, tmp_path: Path) -> None:
    """The caller offers G.722 only: 200 with G722/8000, and the 16 kHz prompt
    arrives with its 4-7 kHz half intact (not an 8 kHz prompt upsampled)."""
    with RtpEndpoint() as rtp:
        call = caller(pbx, tmp_path, "999", "pbx_bye", rtp)
        call.finish(pbx)
        assert "a=rtpmap:9 G722/8000" in call.messages
        assert len(rtp.audio(9)) >= 70 and not rtp.audio(0)
        assert all(len(p.payload) == 160 for p in rtp.audio(9))
        heard = rtp.decoded(9)
        assert correlation(heard, G722.decode(G722.encode(sweep16(1.5)))) > 0.9
        assert band_energy(heard, 16000, 4000, 7000) > 0.3
        assert 18.0 <= rtp.median_interval_ms(9) <= 22.0
    check_cdr(cdr_rows(pbx)[-1], disposition="ANSWERED", dst="999")


def test_8khz_prompt_is_upsampled_for_a_g722_leg(pbx: PbxProcess, tmp_path: Path) -> None:
    with RtpEndpoint() as rtp:
        call = caller(pbx, tmp_path, "998", "pbx_bye", rtp)
        call.finish(pbx)
        heard = rtp.decoded(9)
        assert correlation(heard, up(prompt_pcm("hello-world"))) > 0.9
        assert band_energy(heard, 16000, 4600, 8000) < 1e-3  # no images of the 8 kHz file


def test_600_echo_on_a_g722_leg_returns_wideband_audio(pbx: PbxProcess,
                                                       tmp_path: Path) -> None:
    """What a G.722 caller says comes back untouched, 7 kHz included; '#' is DTMF
    on the G.722 leg (telephone-event/8000, the G.722 RTP clock) and ends the echo."""
    sent = sweep16(1.5)
    with RtpEndpoint() as rtp:
        call = caller(pbx, tmp_path, "600", "pbx_bye", rtp)
        dest = call.media()
        assert rtp.wait_packets(5, timeout=5, pt=9), "no beep before the echo"
        time.sleep(0.4)  # the 250 ms beep: the echo starts after it
        start = time.monotonic()
        rtp.send_audio(dest, sent, 9, background=False)
        time.sleep(0.3)
        echoed = rtp.decoded(9, since=start)
        rtp.send_dtmf(dest, "#", pt=101)
        call.finish(pbx)  # '#' ended Echo(), the dialplan hung up
        assert correlation(echoed, G722.decode(G722.encode(sent))) > 0.9
        assert band_energy(echoed, 16000, 4000, 7000) > 0.3
    check_cdr(cdr_rows(pbx)[-1], disposition="ANSWERED", dst="600")


# --- bridging G.722 with G.711 ------------------------------------------------------
def test_g722_caller_to_pcmu_callee_transcoded_both_ways(pbx: PbxProcess,
                                                         tmp_path: Path) -> None:
    """6001 speaks G.722, 6003 (ulaw only) PCMU: each hears the other (16 <-> 8 kHz
    in the bridge) and RFC 4733 from the G.722 leg reaches the PCMU leg."""
    speech16 = up(prompt_pcm("tt-weasels")[: 2 * 12000])  # 1.5 s, telephone band
    sweep8 = chirp(1.5)
    with RtpEndpoint() as a, RtpEndpoint() as b:
        uas = callee(pbx, tmp_path, b, peer=("6003", "6003pass"), pt=0, name="PCMU",
                     dtmf_pt=96)
        call = caller(pbx, tmp_path, "6003", "caller_bye", a, pause_ms=4500)
        a_dest, b_dest = call.media(), uas.media()
        start = time.monotonic()
        ta = a.send_audio(a_dest, speech16, 9)
        tb = b.send_audio(b_dest, sweep8, 0)
        assert ta is not None and tb is not None
        ta.join(5)
        tb.join(5)
        assert b.wait_packets(60, timeout=3, pt=0) and a.wait_packets(60, timeout=3, pt=9)
        time.sleep(0.1)
        a.send_dtmf(a_dest, "5", pt=101)
        assert b.wait_for(lambda ps: dtmf_events(ps, 96) == "5", timeout=3)
        heard_by_b = b.decoded(0, since=start)  # 8 kHz
        heard_by_a = a.decoded(9, since=start)  # 16 kHz
        call.finish(pbx)
        uas.finish(pbx)
    assert "a=rtpmap:9 G722/8000" in call.messages and "a=rtpmap:0 PCMU/8000" in uas.messages
    # Compared at 16 kHz (the codec and filter delays are a fraction of an 8 kHz
    # sample), the last 100 ms of the reference left out: the template must fit
    # inside what arrived, which is delayed by those few samples.
    ref_b = up(g711_roundtrip(resample_pcm(G722.decode(G722.encode(speech16)), 16000, 8000)))
    assert correlation(up(heard_by_b), ref_b[:-3200]) > 0.9
    assert correlation(heard_by_a, up(g711_roundtrip(sweep8))[:-3200]) > 0.9
    check_cdr(cdr_rows(pbx)[-1], disposition="ANSWERED", dst="6003", callee="6003")


def test_callee_offered_the_callers_codec_first(pbx: PbxProcess, tmp_path: Path) -> None:
    """chan_sip's order: the caller's codec first, then the callee peer's allow list;
    a PCMU caller and a G.722-capable callee then need no transcoding."""
    with RtpEndpoint() as a, RtpEndpoint() as b:
        uas = callee(pbx, tmp_path, b, peer=("6002", "6002pass"), pt=0, name="PCMU")
        call = caller(pbx, tmp_path, "6002", "caller_bye", a, pt=0, name="PCMU",
                      pause_ms=1500)
        uas.media()
        call.finish(pbx)
        uas.finish(pbx)
    offer = message(uas.messages, "INVITE sip:")
    assert re.search(r"m=audio \d+ RTP/AVP 0 9 8 101\r?\n", offer), offer


# --- real phones ----------------------------------------------------------------------
def _phones(tmp_path: Path, pbx: PbxProcess, codecs: str, srate: int,
            a_mic: bytes, b_mic: bytes) -> tuple[Path, Path, str, str]:
    """6001 calls 6002 (or 6011 -> 6012 for Opus); returns what each heard and logs."""
    from tests.e2e.baresip import Baresip

    users = (("6011", "6011pass"), ("6012", "6012pass")) if "opus" in codecs else \
        (("6001", "6001pass"), ("6002", "6002pass"))
    for name, mic in (("alice", a_mic), ("bob", b_mic)):
        # baresip 1.0's aufile wants the codec's rate and channels (Opus: 48 kHz stereo).
        channels = 2 if "opus" in codecs else 1
        samples = np.repeat(np.frombuffer(mic, dtype="<i2"), channels)
        with wave.open(str(tmp_path / f"{name}.wav"), "wb") as w:
            w.setnchannels(channels)
            w.setsampwidth(2)
            w.setframerate(srate)
            w.writeframes(samples.astype("<i2").tobytes())
    alice = Baresip(tmp_path / "alice", *users[0], pbx.host, pbx.sip_port,
                    tmp_path / "alice.wav", codecs=codecs, srate=srate)
    bob = Baresip(tmp_path / "bob", *users[1], pbx.host, pbx.sip_port, tmp_path / "bob.wav",
                  codecs=codecs, srate=srate)
    try:
        alice.wait_registered()
        bob.wait_registered()
        alice.command("dial", users[1][0])
        alice.wait_event("CALL_ESTABLISHED")
        bob.wait_event("CALL_ESTABLISHED")
        time.sleep(3.2)  # the 3 s microphone files play out
        alice.command("hangup")
        alice.wait_event("CALL_CLOSED")
        bob.wait_event("CALL_CLOSED")
    finally:
        alice.stop()
        bob.stop()
    heard_by_bob, heard_by_alice = bob.received_wav(), alice.received_wav()
    assert heard_by_bob is not None and heard_by_alice is not None
    return heard_by_bob, heard_by_alice, alice.log_path.read_text(), bob.log_path.read_text()


def _wav_rate(path: Path) -> int:
    with wave.open(str(path)) as w:
        return w.getframerate()


def test_g722_call_between_baresip_phones(pbx: PbxProcess, tmp_path: Path) -> None:
    """Two G.722 phones: the PBX relays G.722 untouched, so each hears the other's
    16 kHz microphone, 4-7 kHz included."""
    speech = up(prompt_pcm("tt-weasels")) * 2
    sweep = sweep16(3.0)
    heard_by_bob, heard_by_alice, _, _ = _phones(tmp_path, pbx, "G722", 16000, speech, sweep)
    assert _wav_rate(heard_by_bob) == 16000 and _wav_rate(heard_by_alice) == 16000
    bob16, alice16 = read_wav(heard_by_bob, 16000), read_wav(heard_by_alice, 16000)
    assert windows_found(resample_pcm(bob16, 16000, 8000),
                         resample_pcm(speech[: 2 * 16000 * 2], 16000, 8000)) >= 0.8
    # The sweep by 200 ms windows, at 16 kHz, and its top half arrived.
    assert windows_found16(alice16, sweep) >= 0.8
    assert band_energy(alice16, 16000, 4000, 7000) > 0.2
    row = cdr_rows(pbx)[-1]
    check_cdr(row, disposition="ANSWERED", dst="6002", callee="6002")


def windows_found16(received: bytes, reference: bytes, seconds: float = 0.2) -> float:
    """windows_found at 16 kHz (the helper assumes 8 kHz windows)."""
    from tests.e2e.media import best_lag

    step = int(16000 * seconds) * 2
    windows = [reference[i:i + step] for i in range(0, len(reference) - step + 1, step)]
    return sum(best_lag(received, w)[1] > 0.9 for w in windows) / len(windows)


def test_opus_between_baresip_phones_passes_through(pbx: PbxProcess,
                                                    tmp_path: Path) -> None:
    """Two Opus phones: Opus is chosen on both legs (the PBX cannot transcode it, so
    this only works untouched) and each hears the other."""
    speech = prompt_pcm("tt-weasels") * 2
    sweep = chirp(3.0)
    heard_by_bob, heard_by_alice, alice_log, bob_log = _phones(
        tmp_path, pbx, "opus", 48000, resample_pcm(speech, 8000, 48000),
        resample_pcm(sweep, 8000, 48000))
    for log in (alice_log, bob_log):
        assert "Set audio encoder: opus" in log and "Set audio decoder: opus" in log, log[-3000:]
    bob8, alice8 = read_wav(heard_by_bob, 8000), read_wav(heard_by_alice, 8000)
    assert windows_found(bob8, speech[: 2 * 8000 * 2], threshold=0.8) >= 0.7
    assert windows_found(alice8, sweep, threshold=0.8) >= 0.7


def test_opus_payload_crosses_untouched_with_each_legs_payload_type(
        pbx: PbxProcess, tmp_path: Path) -> None:
    """The caller numbers Opus 111, the callee answers it as 96: the bytes arrive
    as sent, under the callee's number, and back under the caller's."""
    frames = [bytes([i % 256]) * (30 + i % 50) for i in range(60)]  # opaque to the PBX
    with RtpEndpoint() as a, RtpEndpoint() as b:
        uas = callee(pbx, tmp_path, b, peer=("6012", "6012pass"), pt=96, name="opus/48000/2")
        call = caller(pbx, tmp_path, "6012", "caller_bye", a, user=("6011", "6011pass"),
                      pt=111, name="opus/48000/2", pause_ms=3000)
        a_dest, b_dest = call.media(), uas.media()
        time.sleep(0.3)
        a.send_payloads(a_dest, frames, 111, 960)
        b.send_payloads(b_dest, [f[::-1] for f in frames], 96, 960)
        assert b.wait_packets(len(frames), timeout=3, pt=96), [p.pt for p in b.packets][:10]
        assert a.wait_packets(len(frames), timeout=3, pt=111)
        call.finish(pbx)
        uas.finish(pbx)
    assert [p.payload for p in b.audio(96)] == frames
    assert [p.payload for p in a.audio(111)] == [f[::-1] for f in frames]
    assert "a=rtpmap:111 opus/48000/2" in call.messages
    assert re.search(r"a=rtpmap:\d+ opus/48000/2", uas.messages)


def test_opus_is_not_chosen_when_the_callee_cannot_take_it(pbx: PbxProcess,
                                                          tmp_path: Path) -> None:
    """An Opus + PCMU caller to a PCMU-only callee: nobody gets Opus (it would
    need transcoding), both legs speak PCMU."""
    with RtpEndpoint() as a, RtpEndpoint() as b:
        uas = callee(pbx, tmp_path, b, peer=("6003", "6003pass"), pt=0, name="PCMU")
        proc = run_sipp(_opus_and_pcmu_caller(), pbx.host, pbx.sip_port, tmp=tmp_path,
                        service="6003", user="6011", password="6011pass",
                        keys={"rtpport": str(a.port)}, pause_ms=1500,
                        extra=_sipp_extra(tmp_path, "caller"), background=True)
        call = Sipp(proc, "caller", tmp_path)  # type: ignore[arg-type]
        uas.media()
        call.finish(pbx)
        uas.finish(pbx)
    offer = message(uas.messages, "INVITE sip:")
    assert re.search(r"m=audio \d+ RTP/AVP 0 101\r?\n", offer) and "opus" not in offer, offer
    ok = message(call.messages, "SIP/2.0 200 OK")
    assert re.search(r"m=audio \d+ RTP/AVP 0 101\r?\n", ok) and "opus" not in ok, ok


def _opus_and_pcmu_caller() -> str:
    scenario = call_scenario("caller_bye", log_media=True)
    return scenario.replace("RTP/AVP [codec_pt] 101", "RTP/AVP 111 0 101").replace(
        "a=rtpmap:[codec_pt] [codec_name]", "a=rtpmap:111 opus/48000/2\n      "
        "a=rtpmap:0 PCMU/8000")


# --- voicemail ----------------------------------------------------------------------
def test_voicemail_from_a_g722_leg_is_stored_at_16khz(pbx: PbxProcess,
                                                      tmp_path: Path) -> None:
    message = sweep16(2.0, 300, 6500)
    with RtpEndpoint() as rtp:
        call = caller(pbx, tmp_path, "8002", "pbx_bye", rtp)
        dest = call.media()
        assert rtp.wait_packets(10, timeout=10, pt=9), "no greeting"
        assert rtp.wait_quiet(0.4, timeout=20), "the greeting did not end"
        rtp.send_audio(dest, message, 9, background=False)
        call.finish(pbx)  # silence after the message: maxsilence ends it, the PBX hangs up
    inbox = tmp_path / "var" / "voicemail" / "default" / "6002" / "INBOX"
    deadline = time.monotonic() + 5
    while not (inbox / "msg0000.wav").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    wav = inbox / "msg0000.wav"
    assert wav.exists(), list(inbox.parent.rglob("*"))
    assert _wav_rate(wav) == 16000
    stored = read_wav(wav, 16000)
    assert correlation(stored, G722.decode(G722.encode(message))) > 0.9
    assert band_energy(stored, 16000, 4000, 7000) > 0.2
    txt = (inbox / "msg0000.txt").read_text()
    assert re.search(r"duration=[23]\b", txt), txt
    shutil.copy(wav, tmp_path / "kept.wav")  # left for a person to listen to
