"""A conference of real phones: two pjsua2 phones (G.711) and a baresip phone
speaking G.722 dial room 7000; each plays a tone of its own. What each phone
recorded holds the other two tones and not its own (the room mixes at 16 kHz
because of the G.722 phone). Real jitter buffers, real RTP timing."""

from __future__ import annotations

import importlib
import subprocess
import sys
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from pbx.media.resample import resample_pcm
from pbx.media.wav import read_wav, write_wav
from tests.e2e.baresip import Baresip
from tests.e2e.harness import PbxProcess, free_port, make_config
from tests.e2e.media import SOUNDS, tone, tone_share
from tests.e2e.test_confbridge import SIP_CONF

importlib.import_module("pjsua2")

DIALPLAN = """\
[general]
autofallthrough=yes

[default]

[internal]
exten => 7000,1,ConfBridge(7000,,quiet_user)
 same => n,Hangup()
"""

CONF = "[quiet_user]\ntype=user\nquiet=yes\n"
TONES = {"6001": 600.0, "6002": 1000.0, "6003": 1400.0}
SECONDS = 9.0


@pytest.fixture
def pbx(tmp_path: Path) -> Iterator[PbxProcess]:
    proc = make_config(tmp_path, sip_conf=SIP_CONF, extensions=DIALPLAN,
                       extra_yaml=f"sounds: {{path: [{SOUNDS.parent}]}}\n")
    (tmp_path / "confbridge.conf").write_text(CONF)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def test_two_pjsua2_and_a_g722_baresip_phone_hear_each_other_not_themselves(
        pbx: PbxProcess, tmp_path: Path) -> None:
    t16 = np.arange(int(16000 * (SECONDS + 10))) / 16000
    write_wav(tmp_path / "bs-mic.wav",
              (8000 * np.sin(2 * np.pi * TONES["6003"] * t16)).astype("<i2").tobytes(), 16000)
    carol = Baresip(tmp_path / "carol", "6003", "6003pass", pbx.host, pbx.sip_port,
                    tmp_path / "bs-mic.wav", codecs="G722", srate=16000)
    procs: list[subprocess.Popen] = []
    try:
        carol.wait_registered()
        for user in ("6001", "6002"):
            write_wav(tmp_path / f"{user}-mic.wav", tone(TONES[user], SECONDS + 10))
            procs.append(subprocess.Popen(
                [sys.executable, str(Path(__file__).with_name("pjsua2_phone.py")),
                 "--user", user, "--password", f"{user}pass",
                 "--registrar", f"{pbx.host}:{pbx.sip_port}", "--port", str(free_port()),
                 "--rtp-port", str(free_port()), "--timeout", str(SECONDS + 25),
                 "--call", "7000", "--duration", str(SECONDS),
                 "--play", str(tmp_path / f"{user}-mic.wav"),
                 "--record", str(tmp_path / f"{user}-heard.wav")],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
        carol.command("dial", "7000")
        carol.wait_event("CALL_ESTABLISHED", timeout=15)
        for p in procs:
            out, _ = p.communicate(timeout=SECONDS + 30)
            assert p.returncode == 0, f"pjsua2:\n{out}\n--- pbx\n{pbx.log()[-3000:]}"
        carol.command("hangup")
        carol.wait_event("CALL_CLOSED", timeout=10)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        carol.stop()
    heard = {u: read_wav(tmp_path / f"{u}-heard.wav") for u in ("6001", "6002")}
    dump = carol.received_wav()
    assert dump is not None
    with wave.open(str(dump)) as w:
        assert w.getframerate() == 16000
    heard["6003"] = resample_pcm(read_wav(dump, 16000), 16000, 8000)
    for user, pcm in heard.items():
        others = [u for u in TONES if u != user]
        # The windows where everyone was in the room (both pjsua2 calls overlap
        # baresip's): the other two tones each carry a good share, its own none.
        both = [i for i, (a, b) in enumerate(zip(tone_share(pcm, TONES[others[0]]),
                                                 tone_share(pcm, TONES[others[1]]), strict=True))
                if a > 0.2 and b > 0.2]
        assert len(both) >= int((SECONDS - 4) / 0.5), (user, both)
        own = tone_share(pcm, TONES[user])
        assert max(own[i] for i in both) < 0.01, (user, [round(own[i], 4) for i in both])
    log = pbx.log()
    assert log.count("joined conference 7000") == 3
    assert "conference mixer: 8000 Hz -> 16000 Hz" in log  # the G.722 phone made it wideband
