"""IVR end to end: the real PBX on loopback, SIPp callers and callees, the test's
own RTP sockets as the phones' media, Debian's Asterisk prompts.

- The company directory: a caller spells a name with RFC 4733 DTMF, hears the
  recorded name of the first match and Asterisk's instructions, skips to the
  next (spelled letter by letter), presses 1 and reaches that extension, a
  registered phone that answers; on the way ChanIsAvail sees the phone
  registered and SIPAddHeader's header is in the INVITE the phone gets.
- PlayTones: the busy tone of indications.conf by frequency and cadence on a
  G.711 leg, the dial tone at 16 kHz on a G.722 leg, silence after
  StopPlayTones; Read with a tone: the tone stops at the first digit.
Audio is checked by content (correlation with the prompts, tone power).
"""

from __future__ import annotations

import shutil
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from pbx.media.prompts import DEBIAN_SOUNDS
from pbx.media.wav import read_wav
from tests.e2e.harness import PEERS, PbxProcess, make_config
from tests.e2e.media import RtpEndpoint, chirp, correlation, g711_roundtrip
from tests.e2e.sipp import call_scenario, run_sipp
from tests.e2e.test_calls import Sipp, _sipp_extra, callee, caller, wait_log

REPO = Path(__file__).resolve().parents[2]

SIP_CONF = PEERS + """
[6003](office)
secret=6003pass
callerid="Jim" <6003>

[6004](office)
secret=6004pass
disallow=all
allow=g722
"""

VOICEMAIL = """\
[general]
format=wav

[default]
6002 => 1234,Bob Jones,bob@example.com
6003 => 1234,Jim Jonas,jim@example.com
6001 => 1234,Alice Smith,alice@example.com
"""

DIALPLAN = """\
[general]
autofallthrough=yes

[default]

[internal]
exten => 411,1,Directory(default,phones)
 same => n,Log(NOTICE,DIRECTORY_RESULT=${DIRECTORY_RESULT})
 same => n,Hangup()
exten => 520,1,Answer()
 same => n,PlayTones(busy)
 same => n,Wait(3)
 same => n,StopPlayTones()
 same => n,Wait(1.5)
 same => n,Hangup()
exten => 521,1,Answer()
 same => n,PlayTones(dial)
 same => n,Wait(2)
 same => n,Hangup()
exten => 522,1,Answer()
 same => n,Read(NUM,dial,3,i,,6)
 same => n,Log(NOTICE,NUM=${NUM} READSTATUS=${READSTATUS})
 same => n,Hangup()

[phones]
exten => _600X,1,ChanIsAvail(SIP/${EXTEN},s)
 same => n,Log(NOTICE,AVAIL=${AVAILORIGCHAN} STATUS=${AVAILSTATUS})
 same => n,SIPAddHeader(X-Directory: ${EXTEN})
 same => n,Dial(SIP/${EXTEN},10)
 same => n,Hangup()
"""


def debian_prompt(name: str) -> bytes:
    """A prompt of Debian's asterisk-core-sounds-en-wav (what the PBX plays here)."""
    path = Path(DEBIAN_SOUNDS) / f"{name}.wav"
    if not path.exists():
        pytest.fail(f"{path} is missing: `make test` installs asterisk-core-sounds-en-wav",
                    pytrace=False)
    return read_wav(path)


def heard(audio: bytes, prompt: str, threshold: float = 0.85) -> bool:
    return correlation(audio, g711_roundtrip(debian_prompt(prompt))) > threshold


@pytest.fixture
def pbx(tmp_path: Path) -> Iterator[PbxProcess]:
    if shutil.which("sipp") is None:
        pytest.fail("sipp is not installed: `make test` installs sip-tester", pytrace=False)
    proc = make_config(tmp_path, sip_conf=SIP_CONF, extensions=DIALPLAN)
    (tmp_path / "voicemail.conf").write_text(VOICEMAIL)
    # Jim Jonas recorded his name (VoiceMailMain 0-3): a sweep, easy to find.
    name = tmp_path / "var" / "voicemail" / "default" / "6003" / "greet.wav"
    name.parent.mkdir(parents=True)
    with wave.open(str(name), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(NAME_AUDIO)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


NAME_AUDIO = chirp(1.0, f0=400.0, f1=2500.0)


def mark(rtp: RtpEndpoint) -> int:
    with rtp._cond:
        return len(rtp.packets)


def pcm_since(rtp: RtpEndpoint, since: int) -> bytes:
    from tests.e2e.media import DECODE

    with rtp._cond:
        packets = rtp.packets[since:]
    return DECODE[0](b"".join(p.payload for p in packets if p.pt == 0))


def wait_prompt_end(rtp: RtpEndpoint, since: int, what: str, quiet: float = 0.6,
                    timeout: float = 20.0) -> bytes:
    """Wait for the PBX to play (packets after `since`) and then to stop; the audio."""
    assert rtp.wait_for(lambda ps: len(ps) > since + 3, timeout), f"nothing played: {what}"
    assert rtp.wait_quiet(quiet, timeout), f"{what}: the PBX kept playing"
    return pcm_since(rtp, since)


def press(rtp: RtpEndpoint, dest: tuple[str, int], keys: str) -> None:
    for k in keys:
        rtp.send_dtmf(dest, k)
        time.sleep(0.08)


def test_directory_spelled_by_dtmf_reaches_the_extension(pbx: PbxProcess,
                                                         tmp_path: Path) -> None:
    with RtpEndpoint() as rtp, RtpEndpoint() as phone_rtp:
        phone = callee(pbx, tmp_path, phone_rtp, ending="send_bye", bye_after_ms=1500,
                       tag="bob")
        c = caller(pbx, tmp_path, "411", "pbx_bye", rtp, tag="dir", timeout_s=60)
        dest = c.media()
        # "Welcome to the company directory. Please enter the first three letters
        # of the person's last name using your touch tone keypad": J is enough.
        assert rtp.wait_for(lambda ps: len(ps) > 50, 10), "no welcome prompt"
        press(rtp, dest, "5")
        start = mark(rtp)
        press(rtp, dest, "66")  # J O N: Jim Jonas and Bob Jones, Jonas first (sorted)
        got = wait_prompt_end(rtp, start, "the first match")
        ncc = correlation(got, g711_roundtrip(NAME_AUDIO))
        assert ncc > 0.8, f"Jim Jonas's recorded name was not played ({ncc:.2f})"
        assert heard(got, "dir-instr"), "no 'press 1 ... or * to search for another' after it"
        assert not heard(got, "letters/j"), "a recorded name is not spelled"
        start = mark(rtp)
        press(rtp, dest, "*")  # the next one: Bob Jones has no recording: spelled
        got = wait_prompt_end(rtp, start, "the second match")
        assert heard(got, "letters/b") and heard(got, "letters/j") and heard(got, "letters/s")
        assert heard(got, "dir-instr")
        press(rtp, dest, "1")  # this one
        phone.finish(pbx)  # the phone got the INVITE, answered, hung up
        c.finish(pbx)  # ... and the PBX then hung up the caller
    wait_log(pbx, r"AVAIL=SIP/6002 STATUS=1")  # registered, idle: NOT_INUSE
    invite = phone.messages.split("INVITE sip:", 1)
    assert len(invite) == 2 and "X-Directory: 6002" in invite[1].split("\n\n", 1)[0], \
        phone.messages[:3000]


def _tone_power(pcm: bytes, rate: int, freq: float) -> float:
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    if not len(x):
        return 0.0
    t = np.arange(len(x)) / rate
    return float(abs(np.dot(x, np.exp(-2j * np.pi * freq * t))) / len(x))


def _windows(pcm: bytes, rate: int, seconds: float) -> list[bytes]:
    n = int(rate * seconds) * 2
    return [pcm[i:i + n] for i in range(0, len(pcm) - n + 1, n)]


def test_playtones_busy_cadence_then_silence(pbx: PbxProcess, tmp_path: Path) -> None:
    with RtpEndpoint() as rtp:
        c = caller(pbx, tmp_path, "520", "pbx_bye", rtp, tag="busy")
        c.finish(pbx)
        packets = rtp.audio(0)
    assert packets, "no audio"
    first, last = packets[0].at, packets[-1].at
    # 3 s of tone, then StopPlayTones: nothing for the 1.5 s before the hang-up.
    assert 2.7 < last - first < 3.5, last - first
    pcm = b"".join(p.payload for p in packets)
    from pbx.media.codecs import ulaw_decode

    audio = ulaw_decode(pcm)
    # 480+620 Hz, 500 ms on, 500 ms off (US busy): per 250 ms window, on or off.
    flags = []
    for w in _windows(audio, 8000, 0.25):
        p480, p620 = _tone_power(w, 8000, 480), _tone_power(w, 8000, 620)
        energy = float(np.sqrt(np.mean(np.frombuffer(w, "<i2").astype(float) ** 2)))
        flags.append(p480 > 0.3 * energy and p620 > 0.3 * energy and energy > 1000)
        assert energy < 100 or flags[-1], "a window that is neither the tone nor silence"
    pattern = "".join("1" if f else "0" for f in flags)
    assert pattern.startswith("1100110011"), pattern


def test_playtones_on_a_g722_leg_is_wideband(pbx: PbxProcess, tmp_path: Path) -> None:
    from pbx.media.codecs import G722

    with RtpEndpoint() as rtp:
        proc = run_sipp(call_scenario("pbx_bye", log_media=True), pbx.host, pbx.sip_port,
                        tmp=tmp_path, service="521", user="6004", password="6004pass",
                        keys={"rtpport": str(rtp.port), "codec_pt": "9",
                              "codec_name": "G722"},
                        timeout_s=30, extra=_sipp_extra(tmp_path, "g722"), background=True)
        Sipp(proc, "g722", tmp_path).finish(pbx)  # type: ignore[arg-type]
        packets = rtp.audio(9)
    assert len(packets) >= 80, f"{len(packets)} G.722 packets"
    audio = G722.decode(b"".join(p.payload for p in packets))  # 16 kHz
    assert len(audio) >= 2 * 16000 * 1.5
    middle = audio[2 * 8000:2 * 24000]
    energy = float(np.sqrt(np.mean(np.frombuffer(middle, "<i2").astype(float) ** 2)))
    for f in (350, 440):
        assert _tone_power(middle, 16000, f) > 0.3 * energy, f
    assert _tone_power(middle, 16000, 1000) < 0.05 * energy


def test_read_with_the_dial_tone_stops_at_the_first_digit(pbx: PbxProcess,
                                                          tmp_path: Path) -> None:
    with RtpEndpoint() as rtp:
        c = caller(pbx, tmp_path, "522", "pbx_bye", rtp, tag="read")
        dest = c.media()
        assert rtp.wait_for(lambda ps: len(ps) >= 50, 10), "no dial tone"
        tone = pcm_since(rtp, 0)
        assert _tone_power(tone, 8000, 350) > 1000 and _tone_power(tone, 8000, 440) > 1000
        press(rtp, dest, "4")
        ended_at = time.monotonic()  # the digit's end packets are out: the PBX has it
        press(rtp, dest, "2")
        time.sleep(0.3)
        press(rtp, dest, "7")
        c.finish(pbx)
        packets = rtp.audio(0)
    # The tone played up to the digit, and stopped there (a tick or two of slack).
    assert [p for p in packets if ended_at - 0.3 < p.at < ended_at - 0.1], "no tone before"
    after = [p for p in packets if p.at > ended_at + 0.3]
    assert not after, f"{len(after)} packets of tone after the first digit"
    wait_log(pbx, r"NUM=427 READSTATUS=OK")
