"""MixMonitor end to end: a real call through the PBX is recorded, both sides mixed.

The caller says one thing (speech), the callee another (a sweep); the mixed
file correlates with both, the r()/t() files with one side each, the CDR lists
the files, and a PBX killed in the middle of the call leaves a playable WAV
with what was said up to then.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from pbx.media.wav import read_wav
from tests.e2e.harness import PbxProcess, make_config
from tests.e2e.media import (
    RtpEndpoint,
    chirp,
    correlation,
    g711_roundtrip,
    prompt_pcm,
    windows_found,
)
from tests.e2e.test_calls import SIP_CONF, callee, caller, cdr_rows, check_cdr, wait_log

DIALPLAN = """\
[general]
autofallthrough=yes

[default]

[internal]
exten => 6002,1,MixMonitor(call-${CALLERID(num)}.wav,br(in.wav)t(out.wav))
 same => n,Log(NOTICE,MIXMONITOR_FILENAME=${MIXMONITOR_FILENAME})
 same => n,Dial(SIP/6002,10)
 same => n,Hangup()
"""


@pytest.fixture
def pbx(tmp_path: Path) -> Iterator[PbxProcess]:
    proc = make_config(tmp_path, sip_conf=SIP_CONF, extensions=DIALPLAN)
    proc.start(*(["--sip-trace"] if os.environ.get("PBX_SIP_TRACE") else []))
    try:
        yield proc
    finally:
        proc.stop()


def talk(a: RtpEndpoint, b: RtpEndpoint, a_dest: tuple, b_dest: tuple, speech: bytes,
         sweep: bytes) -> None:
    """Both sides speak at once, for as long as their signals last."""
    ta = a.send_audio(a_dest, speech, 0)
    tb = b.send_audio(b_dest, sweep, 0)
    assert ta is not None and tb is not None
    ta.join(10)
    tb.join(10)


def test_mixmonitor_file_holds_both_sides_and_is_in_the_cdr(pbx: PbxProcess,
                                                            tmp_path: Path) -> None:
    """MixMonitor(call-6001.wav,br(in.wav)t(out.wav)) then Dial: the mix has the
    caller's speech and the callee's sweep; in.wav only the caller (what the
    channel sent us), out.wav only the callee (what we sent it); `b` leaves the
    ringing out. The CDR lists the three files."""
    speech = prompt_pcm("tt-weasels")[:2 * 8000 * 2]
    sweep = chirp(2.0, amplitude=4000.0)  # quieter than the speech: both show in the mix
    monitor = tmp_path / "var" / "monitor"
    with RtpEndpoint() as a, RtpEndpoint() as b:
        uas = callee(pbx, tmp_path, b, ring_ms=1500, ending="wait_bye")
        call = caller(pbx, tmp_path, "6002", "caller_bye", a, pause_ms=3000)
        a_dest, b_dest = call.media(), uas.media()
        time.sleep(0.2)
        talk(a, b, a_dest, b_dest, speech, sweep)
        call.finish(pbx)
        uas.finish(pbx)
    wait_log(pbx, r"MixMonitor \S+ ended")
    name = wait_log(pbx, r"MIXMONITOR_FILENAME=(\S+)").group(1)
    assert name == str(monitor / "call-6001.wav")
    mix, heard, spoken = (read_wav(monitor / f) for f in ("call-6001.wav", "in.wav", "out.wav"))
    ref_a, ref_b = g711_roundtrip(speech), g711_roundtrip(sweep)
    assert correlation(mix, ref_a) > 0.7 and correlation(mix, ref_b) > 0.5
    # The mix is the two sides on one timeline, sample for sample.
    both = np.frombuffer(heard, "<i2").astype(int) + np.frombuffer(spoken, "<i2").astype(int)
    assert np.array_equal(np.frombuffer(mix, "<i2"), np.clip(both, -32768, 32767))
    assert windows_found(heard, ref_a, 0.2, 0.95) >= 0.9
    assert windows_found(spoken, ref_b, 0.2, 0.95) >= 0.9
    assert windows_found(heard, ref_b, 0.2, 0.5) == 0  # each side alone
    assert windows_found(spoken, ref_a, 0.2, 0.5) == 0
    # `b`: only while bridged: about the 3 s the call was up, not the 1.5 s of ringing.
    assert 2.0 <= len(mix) / 16000 <= 4.0, len(mix) / 16000
    row = cdr_rows(pbx)[-1]
    check_cdr(row, disposition="ANSWERED", dst="6002", callee="6002")
    assert json.loads(row["recordings"]) == [str(monitor / f) for f in
                                             ("call-6001.wav", "in.wav", "out.wav")]
    shown = pbx.cli("cdr")
    assert f"recording={monitor / 'call-6001.wav'}" in shown.stdout


def test_a_crash_keeps_what_was_recorded(pbx: PbxProcess, tmp_path: Path) -> None:
    """The PBX is killed (SIGKILL) 2.5 s into the call: the file on disk is a valid
    WAV holding the first seconds of what both sides said."""
    speech = prompt_pcm("tt-weasels")[:3 * 8000 * 2]
    sweep = chirp(3.0, amplitude=4000.0)
    with RtpEndpoint() as a, RtpEndpoint() as b:
        uas = callee(pbx, tmp_path, b, ending="wait_bye", timeout_s=15)
        call = caller(pbx, tmp_path, "6002", "caller_bye", a, pause_ms=8000, timeout_s=15)
        a_dest, b_dest = call.media(), uas.media()
        time.sleep(0.2)
        ta = a.send_audio(a_dest, speech, 0)
        tb = b.send_audio(b_dest, sweep, 0)
        time.sleep(2.5)
        assert pbx.proc is not None
        pbx.proc.send_signal(signal.SIGKILL)
        pbx.proc.wait(5)
        for t in (ta, tb):
            assert t is not None
            t.join(5)
        for sipp in (call, uas):
            sipp.proc.kill()
            sipp.proc.communicate()
    path = tmp_path / "var" / "monitor" / "call-6001.wav"
    mix = read_wav(path)  # a valid WAV: the header was made true at the last flush
    seconds = len(mix) / 16000
    assert 1.5 <= seconds <= 2.6, seconds
    recorded = int(seconds * 0.8 * 16000) // 2 * 2
    assert correlation(mix, g711_roundtrip(speech)[:recorded]) > 0.6
    assert re.search(r"MixMonitor \S+ started", pbx.log())
