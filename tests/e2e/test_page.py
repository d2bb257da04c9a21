"""Page() end to end: two pjsua2 phones answer a page on their own (they answer
only calls whose INVITE carries Call-Info answer-after / Alert-Info
auto-answer) and both hear the caller; the caller hears the beep and not
them (one way); with `d` a SIPp phone is heard back, and its INVITE carries
exactly the auto-answer headers. When the caller hangs up, the phones are
hung up."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pbx.media.wav import read_wav, write_wav
from tests.e2e.harness import PbxProcess, free_port, make_config
from tests.e2e.media import SOUNDS, RtpEndpoint, best_lag, prompt_pcm, runs, tone, tone_present
from tests.e2e.test_calls import callee
from tests.e2e.test_confbridge import SIP_CONF, caller, heard, level, send_tones

# The phones run in their own processes; a missing pjsua2-python wheel fails here.
importlib.import_module("pjsua2")

DIALPLAN = """\
[general]
autofallthrough=yes

[default]

[internal]
exten => 7300,1,Page(SIP/6002&SIP/6003&SIP/6001,,10)
exten => 7301,1,Page(SIP/6002,dq,10)
"""

CALLER_TONE, PHONE_TONES = 700.0, (1300.0, 1900.0)


@pytest.fixture
def pbx(tmp_path: Path) -> Iterator[PbxProcess]:
    proc = make_config(tmp_path, sip_conf=SIP_CONF, extensions=DIALPLAN,
                       extra_yaml=f"sounds: {{path: [{SOUNDS.parent}]}}\n")
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def phone(pbx: PbxProcess, tmp: Path, user: str, freq: float) -> subprocess.Popen:
    write_wav(tmp / f"{user}-mic.wav", tone(freq, 30))
    return subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("pjsua2_phone.py")),
         "--user", user, "--password", f"{user}pass",
         "--registrar", f"{pbx.host}:{pbx.sip_port}", "--port", str(free_port()),
         "--rtp-port", str(free_port()), "--timeout", "40", "--auto-answer",
         "--play", str(tmp / f"{user}-mic.wav"), "--record", str(tmp / f"{user}-heard.wav")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_registered(pbx: PbxProcess, users: list[str], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    out = ""
    while time.monotonic() < deadline:
        out = pbx.cli("peers").stdout
        if all(re.search(rf"^{u}\s+127\.0\.0\.1:\d+\s+OK", out, re.M) for u in users):
            return
        time.sleep(0.2)
    pytest.fail(f"phones not registered:\n{out}")


def test_page_auto_answers_two_phones_and_both_hear_the_caller(pbx: PbxProcess,
                                                               tmp_path: Path) -> None:
    phones = [phone(pbx, tmp_path, u, f) for u, f in zip(("6002", "6003"), PHONE_TONES,
                                                         strict=True)]
    outs: list[str] = []
    try:
        wait_registered(pbx, ["6002", "6003"])
        with RtpEndpoint() as rtp:
            # 6001 pages 6002, 6003 and itself (Page never calls the caller's device).
            call = caller(pbx, tmp_path, "7300", rtp, 0, pause_ms=7000)
            dest = call.media()
            assert rtp.wait_packets(10, timeout=10)  # the beep
            deadline = time.monotonic() + 10
            while pbx.log().count("joined conference page-") < 3:
                assert time.monotonic() < deadline, pbx.log()[-3000:]
                time.sleep(0.1)
            time.sleep(0.5)
            start = send_tones([rtp], [dest], [CALLER_TONE], 3.0)
            back = heard(rtp, start, 3.0)
            call.finish(pbx)
            got = rtp.decoded(0)
        for p in phones:
            out, _ = p.communicate(timeout=20)
            outs.append(out)
            assert p.returncode == 0, f"pjsua2:\n{out}\n--- pbx\n{pbx.log()[-3000:]}"
    finally:
        for p in phones:
            if p.poll() is None:
                p.kill()
    for out in outs:
        assert re.search(r"^AUTOANSWER Call-Info: <sip:127\.0\.0\.1:\d+>;answer-after=0$", out,
                         re.M), out
        assert "AUTOANSWER Alert-Info: info=alert-autoanswer" in out, out
        assert "CALL CONFIRMED 200" in out and "CALL DISCONNECTED" in out, out
    # Both phones heard the caller's tone, for most of the 3 s it sent.
    for user in ("6002", "6003"):
        flags = tone_present(read_wav(tmp_path / f"{user}-heard.wav"), CALLER_TONE)
        longest = max((n for present, n in runs(flags) if present), default=0)
        assert longest * 0.2 >= 2.0, (user, runs(flags))
    # One way: the caller heard its beep, and neither phone.
    assert best_lag(got, prompt_pcm("beep"))[1] > 0.9
    for f in PHONE_TONES:
        assert level(back, f) < 150, f
    assert pbx.log().count("left conference page-") == 3
    assert "ENDMARKED" in pbx.log()


def test_duplex_page_to_a_sipp_phone_with_the_auto_answer_headers(pbx: PbxProcess,
                                                                  tmp_path: Path) -> None:
    with RtpEndpoint() as a, RtpEndpoint() as b:
        uas = callee(pbx, tmp_path, b, peer="6002", secret="6002pass", ending="wait_bye")
        call = caller(pbx, tmp_path, "7301", a, 0, pause_ms=5000)
        a_dest, b_dest = call.media(), uas.media()
        deadline = time.monotonic() + 10
        while pbx.log().count("joined conference page-") < 2:
            assert time.monotonic() < deadline, pbx.log()[-3000:]
            time.sleep(0.1)
        time.sleep(0.3)
        start = send_tones([a, b], [a_dest, b_dest], [CALLER_TONE, PHONE_TONES[0]], 2.5)
        to_phone, to_caller = heard(b, start, 2.5), heard(a, start, 2.5)
        call.finish(pbx)
        uas.finish(pbx)  # the PBX hung it up (BYE) when the caller left
    assert level(to_phone, CALLER_TONE) > 4000 and level(to_phone, PHONE_TONES[0]) < 150
    assert level(to_caller, PHONE_TONES[0]) > 4000 and level(to_caller, CALLER_TONE) < 150
    invite = uas.messages.split("INVITE sip:", 1)[1].split("\n\n", 1)[0]
    assert re.search(r"^Call-Info: <sip:127\.0\.0\.1:\d+>;answer-after=0\r?$", invite, re.M), invite
    assert re.search(r"^Alert-Info: info=alert-autoanswer\r?$", invite, re.M), invite
