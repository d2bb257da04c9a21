"""Music on hold end to end: MusicOnHold() and Dial's m option, heard by content.

SIPp signals; the test's own RTP sockets are the phones' media, so what the
PBX plays is decoded and matched against the class's file: by correlation
(the music, not just packets), and at the same place of the file for two
callers listening at the same moment (one shared position per class).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pbx.media.wav import read_wav, write_wav
from tests.e2e.harness import REPO, PbxProcess, make_config
from tests.e2e.media import (
    DECODE,
    RtpEndpoint,
    best_lag,
    chirp,
    correlation,
    g711_roundtrip,
    windows_found,
)
from tests.e2e.test_calls import SIP_CONF, callee, caller, cdr_rows, check_cdr

FALLBACK = REPO / "sounds" / "moh" / "pbx-fallback.wav"

DIALPLAN = """\
[general]
autofallthrough=yes

[default]

[internal]
exten => 7200,1,Answer()
 same => n,MusicOnHold(office,5)
 same => n,Hangup()
; the default class (the repository's music), through CHANNEL(musicclass) unset
exten => 7201,1,Answer()
 same => n,StartMusicOnHold()
 same => n,Wait(3)
 same => n,StopMusicOnHold()
 same => n,Hangup()
; music instead of ringback while 6002 rings
exten => 7400,1,Dial(SIP/6002,10,m(office))
 same => n,Hangup()
"""


def office_music() -> bytes:
    """The office class's file: a 3 s sweep, whose every 200 ms is unlike the others."""
    return chirp(3.0, 250.0, 3300.0, amplitude=9000.0)


@pytest.fixture
def pbx(tmp_path: Path) -> Iterator[PbxProcess]:
    office = tmp_path / "office"
    office.mkdir()
    write_wav(office / "sweep.wav", office_music())
    proc = make_config(tmp_path, sip_conf=SIP_CONF, extensions=DIALPLAN)
    (tmp_path / "musiconhold.conf").write_text(
        f"[default]\nmode=files\ndirectory={FALLBACK.parent}\n\n"
        f"[office]\nmode=files\ndirectory=office\nsort=alpha\n")
    proc.start(*(["--sip-trace"] if os.environ.get("PBX_SIP_TRACE") else []))
    try:
        yield proc
    finally:
        proc.stop()


def looped(pcm: bytes, times: int = 3) -> bytes:
    return g711_roundtrip(pcm * times)


def place_in_file(ep: RtpEndpoint, at: float, reference: bytes, length: int) -> tuple[int, float]:
    """Where in the music (samples, modulo its length) the 200 ms heard from `at` on
    come from, and how well they match."""
    packets = [p for p in ep.audio(0) if p.at >= at][:10]
    assert len(packets) == 10, "the music stopped"
    window = DECODE[0](b"".join(p.payload for p in packets))
    lag, ncc = best_lag(reference, window)
    return lag % length, ncc


def test_music_on_hold_plays_the_class_from_one_shared_position(pbx: PbxProcess,
                                                                tmp_path: Path) -> None:
    """Two callers to MusicOnHold(office,5), the second 1.5 s after the first: each
    hears the office file (by correlation), paced at 20 ms, and at any moment both
    hear the same place of the file."""
    music = office_music()
    reference = looped(music)
    with RtpEndpoint() as a1, RtpEndpoint() as a2:
        first = caller(pbx, tmp_path, "7200", "pbx_bye", a1, tag="first")
        assert a1.wait_packets(20, timeout=5)
        time.sleep(1.5)
        second = caller(pbx, tmp_path, "7200", "pbx_bye", a2, tag="second")
        first.finish(pbx)
        second.finish(pbx)
        assert correlation(a1.decoded(0)[:2 * 8000 * 2], reference) > 0.95
        assert correlation(a2.decoded(0)[:2 * 8000 * 2], reference) > 0.95
        assert 18.0 <= a1.median_interval_ms(0) <= 22.0
        # Shared position: both hear the same 200 ms at the same moment.
        start = a2.audio(0)[5].at
        for k in range(5):
            at = start + 0.5 * k
            p1, n1 = place_in_file(a1, at, reference, len(music) // 2)
            p2, n2 = place_in_file(a2, at, reference, len(music) // 2)
            assert n1 > 0.9 and n2 > 0.9, (k, n1, n2)
            gap = abs(p1 - p2) % (len(music) // 2)
            assert min(gap, len(music) // 2 - gap) <= 240, (k, p1, p2)  # within 30 ms
    check_cdr(cdr_rows(pbx, 2)[-1], disposition="ANSWERED", dst="7200")


def test_the_default_class_is_the_music_the_repository_ships(pbx: PbxProcess,
                                                             tmp_path: Path) -> None:
    """StartMusicOnHold() with no class and no CHANNEL(musicclass): default, whose
    folder here is sounds/moh; StopMusicOnHold() ends it before the hang-up."""
    music = read_wav(FALLBACK)
    with RtpEndpoint() as a:
        call = caller(pbx, tmp_path, "7201", "pbx_bye", a)
        call.finish(pbx)
        heard = a.decoded(0)
        assert 2.5 <= len(heard) / 16000 <= 3.6  # Wait(3), then the music stopped
        assert correlation(heard[:2 * 8000 * 2], looped(music)) > 0.95


def test_dial_m_plays_music_to_the_caller_while_the_callee_rings(pbx: PbxProcess,
                                                                 tmp_path: Path) -> None:
    """Dial(SIP/6002,10,m(office)): 183 with SDP, the caller hears the office music
    (not ringback: no 180 passed on) while 6002 rings 2.5 s; once it answers, the
    music stops and the caller hears 6002 (by content)."""
    sweep_b = chirp(1.5, 3000.0, 300.0)
    with RtpEndpoint() as a, RtpEndpoint() as b:
        uas = callee(pbx, tmp_path, b, ring_ms=2500, ending="wait_bye")
        call = caller(pbx, tmp_path, "7400", "caller_bye", a, pause_ms=3000)
        b_dest = uas.media()
        assert a.wait_packets(50, timeout=5), "no music while ringing"
        ringing = a.decoded(0)
        assert correlation(ringing[:int(1.5 * 16000)], looped(office_music())) > 0.95
        call.media()  # the 200 came
        time.sleep(0.3)
        start = time.monotonic()
        b.send_audio(b_dest, sweep_b, 0, background=False)
        call.finish(pbx)
        uas.finish(pbx)
        talk = a.decoded(0, since=start)
        assert correlation(talk, g711_roundtrip(sweep_b)) > 0.9  # the callee, not music
        assert windows_found(talk, g711_roundtrip(office_music()), 0.2, 0.9) < 0.1
    trace = call.messages
    assert "SIP/2.0 183 Session Progress" in trace and "SIP/2.0 180" not in trace
    check_cdr(cdr_rows(pbx)[-1], disposition="ANSWERED", dst="7400", callee="6002")
