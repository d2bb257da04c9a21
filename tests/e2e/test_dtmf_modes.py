"""dtmfmode per peer through the real PBX: a SIPp caller (6001, rfc2833) sends RFC 4733
digits from its RTP socket; the callee 6002 (dtmfmode=info, a SIPp UAS) gets them as
SIP INFO application/dtmf-relay; the callee 6003 (dtmfmode=inband) hears them as tones
in its audio (both frequencies of each digit, checked by content), and the tones it
plays reach the caller as RFC 4733 events."""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pytest

from tests.e2e.harness import PEERS, PbxProcess, make_config
from tests.e2e.media import RtpEndpoint, dtmf_events, tone_present
from tests.e2e.test_calls import callee, caller

pytestmark = pytest.mark.e2e

SIP_CONF = PEERS.replace("[6002](office)\nsecret=6002pass",
                         "[6002](office)\nsecret=6002pass\ndtmfmode=info") + """
[6003](office)
secret=6003pass
dtmfmode=inband
"""

DIALPLAN = """\
[internal]
exten => _600X,1,Dial(SIP/${EXTEN},10)
 same => n,Hangup()
"""

ROWS = {"1": 697, "5": 770, "9": 852, "#": 941}
COLS = {"1": 1209, "5": 1336, "9": 1477, "#": 1477}


@pytest.fixture
def pbx(tmp_path: Path):
    proc = make_config(tmp_path, sip_conf=SIP_CONF, extensions=DIALPLAN)
    assert "dtmfmode=info" in SIP_CONF
    proc.start("--sip-trace")
    try:
        yield proc
    finally:
        proc.stop()


def dual_tone(digit: str, seconds: float = 0.12) -> bytes:
    t = np.arange(int(8000 * seconds)) / 8000
    wave = 7000 * (np.sin(2 * np.pi * ROWS[digit] * t) + np.sin(2 * np.pi * COLS[digit] * t))
    return wave.astype("<i2").tobytes()


def test_rfc4733_to_an_info_callee(pbx: PbxProcess, tmp_path: Path) -> None:
    with RtpEndpoint() as a, RtpEndpoint() as b:
        uas = callee(pbx, tmp_path, b, infos=2, ending="wait_bye")
        call = caller(pbx, tmp_path, "6002", "caller_bye", a, pause_ms=3000)
        dest = call.media()
        uas.media()
        time.sleep(0.5)  # the bridge is up once the callee's ACK is in
        for digit in "5#":
            a.send_dtmf(dest, digit, pt=101)
            time.sleep(0.2)
        call.finish(pbx)
        uas.finish(pbx)  # it received both INFOs and answered them
        assert b.audio(101) == [], "RFC 4733 packets leaked to the INFO callee"
    log = (tmp_path / "callee-media.log").read_text()
    assert re.findall(r"^INFO (\S)", log, re.M) == ["5", "#"], log
    trace = pbx.log()
    assert re.search(r"^INFO sip:.*\n(?:.*\n)*?Content-Type: application/dtmf-relay", trace,
                     re.M)
    # 6002 was offered no telephone-event (dtmfmode=info, as Asterisk).
    invite = re.search(r"<--- send to \S+ --->\nINVITE sip:6002@.*?(?=^\[|\Z)", trace,
                       re.M | re.S)
    assert invite is not None and "m=audio" in invite.group(0)
    assert "telephone-event" not in invite.group(0)


def test_rfc4733_to_an_inband_callee_and_tones_back(pbx: PbxProcess, tmp_path: Path) -> None:
    with RtpEndpoint() as a, RtpEndpoint() as b:
        uas = callee(pbx, tmp_path, b, peer="6003", secret="6003pass", ending="wait_bye")
        call = caller(pbx, tmp_path, "6003", "caller_bye", a, pause_ms=4500)
        a_dest, b_dest = call.media(), uas.media()
        time.sleep(0.5)
        start = time.monotonic()
        for digit in "19":
            a.send_dtmf(a_dest, digit, pt=101)
            time.sleep(0.3)
        time.sleep(0.3)
        heard = b.decoded(0, since=start)
        # Tones back: 6003 plays '#' and '5' in its audio; the caller gets RFC 4733.
        silence = bytes(1600)
        b.send_audio(b_dest, silence + dual_tone("#") + silence + dual_tone("5") + silence,
                     0, background=False)
        assert a.wait_for(lambda ps: dtmf_events(ps, 101) == "#5", timeout=3), \
            [(p.pt, p.payload.hex()) for p in a.packets if p.pt == 101][:10]
        call.finish(pbx)
        uas.finish(pbx)
    for digit in "19":
        both = [r and c for r, c in zip(tone_present(heard, ROWS[digit], 0.04, 0.3),
                                        tone_present(heard, COLS[digit], 0.04, 0.3),
                                        strict=True)]
        assert sum(both) >= 2, (digit, both)  # at least 80 ms of the digit's two tones
