"""Strict RTP end to end: during a bridged call, one datagram from another
address (random bytes, then a valid-looking RTP packet carrying a marker
payload) reaches the PBX's RTP port of the caller's leg. Nothing changes: the
callee hears only the caller's audio, the caller keeps hearing the callee, and
the attacker's socket never gets a packet (issue 14: one datagram used to
re-latch the stream and the rest of the call went to the sender)."""

from __future__ import annotations

import os
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import tests.e2e.test_calls as calls
from tests.e2e.harness import PbxProcess, make_config
from tests.e2e.media import SOUNDS, RtpEndpoint, chirp, correlation, g711_roundtrip, prompt_pcm

pytestmark = pytest.mark.e2e

MARK = bytes([0x5A]) * 160  # a payload nobody else sends (mu-law 0x5A)


@pytest.fixture
def pbx(tmp_path: Path) -> Iterator[PbxProcess]:
    proc = make_config(tmp_path, sip_conf=calls.SIP_CONF, extensions=calls.DIALPLAN,
                       extra_yaml=f"sounds: {{path: [{SOUNDS.parent}]}}\n")
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def test_one_datagram_from_elsewhere_changes_nothing(pbx: PbxProcess, tmp_path: Path) -> None:
    with RtpEndpoint() as a, RtpEndpoint() as b:
        bob = calls.callee(pbx, tmp_path, b, ending="wait_bye")
        alice = calls.caller(pbx, tmp_path, "6002", "caller_bye", a, pause_ms=4500)
        a_dest = alice.media()  # the PBX's RTP port of Alice's leg
        b_dest = bob.media()
        speech = prompt_pcm("tt-weasels")[: 2 * 8000 * 3]  # 3 s
        sweep = chirp(3.0)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as attacker:
            attacker.bind(("127.0.0.1", 0))
            attacker.settimeout(0.1)

            def inject() -> None:
                attacker.sendto(os.urandom(172), a_dest)
                # Valid-looking: version 2, PCMU, Alice's SSRC, a sequence number just ahead.
                seq = (a._seq + 2) & 0xFFFF
                forged = struct.pack("!BBHII", 0x80, 0, seq, a._ts + 320, a._ssrc) + MARK
                attacker.sendto(forged, a_dest)

            inject()  # before Alice's first packet: nothing is latched yet
            time.sleep(0.2)
            start = time.monotonic()
            tb = b.send_audio(b_dest, sweep, 0)
            time.sleep(0.3)
            ta = a.send_audio(a_dest, speech, 0)
            time.sleep(1.0)
            inject()  # mid-call: both sources latched
            assert ta is not None and tb is not None
            ta.join(6)
            tb.join(6)
            got_any = True
            try:
                attacker.recvfrom(4096)
            except TimeoutError:
                got_any = False
        assert not got_any, "the PBX sent media to the attacker"
        alice.finish(pbx)
        bob.finish(pbx)
        heard_by_b = b.decoded(0, since=start)
        heard_by_a = a.decoded(0, since=start)
        assert all(p.payload != MARK for p in b.audio(0)), "the forged packet was relayed"
        assert {p.source for p in b.audio(0)} == {b_dest}
        assert correlation(heard_by_b, g711_roundtrip(speech)) > 0.9
        assert correlation(heard_by_a, g711_roundtrip(sweep)) > 0.9
    assert "moved from" not in pbx.log(), pbx.log()[-3000:]
