"""TLS and SRTP end to end with real phones (PJSUA2): both register over TLS
(verifying the PBX's `make cert` certificate), 6001 calls 6002 with SDES-SRTP
mandatory on both legs (`encryption=yes`), and each hears what the other plays,
checked by content. A phone that offers plain RTP to an encryption=yes peer
gets 488."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pbx.media.wav import read_wav, write_wav
from pbx.tlscert import make_cert
from tests.e2e.harness import PbxProcess, free_port, make_config
from tests.e2e.media import SOUNDS, chirp, prompt_pcm, windows_found

pytestmark = pytest.mark.e2e

PHONE = Path(__file__).with_name("pjsua2_phone.py")

SIP_CONF = """\
[general]
context=default

[secure](!)
type=friend
host=dynamic
context=internal
transport=tls
encryption=yes

[6001](secure)
secret=6001pass
[6002](secure)
secret=6002pass
"""

DIALPLAN = """\
[general]
[default]
[internal]
exten => _600X,1,Dial(SIP/${EXTEN},15)
 same => n,Hangup()
"""


def tls_pbx(tmp: Path) -> tuple[PbxProcess, int, Path]:
    cert, key = make_cert(tmp / "tls")
    proc = make_config(tmp, sip_conf=SIP_CONF, extensions=DIALPLAN,
                       extra_yaml=f"sounds: {{path: [{SOUNDS.parent}]}}\n")
    tls_port = free_port(both=False)
    text = (tmp / "pbx.yaml").read_text()
    text = text.replace('"]\n  realm:', f'", "tls:127.0.0.1:{tls_port}"]\n'
                        f"  tls: {{cert: {cert}, key: {key}}}\n  realm:", 1)
    (tmp / "pbx.yaml").write_text(text)
    return proc, tls_port, cert


def phone(tmp: Path, name: str, user: str, tls_port: int, ca: Path, *args: str
          ) -> subprocess.Popen:
    if importlib.util.find_spec("pjsua2") is None:  # a missing phone fails, never skips
        pytest.fail("pjsua2 is not installed: pip install pjsua2-python (make test does)",
                    pytrace=False)
    log = open(tmp / f"{name}.out", "wb")  # noqa: SIM115 - closed by the process end
    return subprocess.Popen([sys.executable, str(PHONE), "--user", user,
                             "--password", f"{user}pass", "--registrar",
                             f"127.0.0.1:{tls_port}", "--tls", "--ca", str(ca), "--srtp",
                             "--port", str(free_port(both=False)),
                             "--rtp-port", str(free_port(both=False) & ~1), *args],
                            stdout=log, stderr=subprocess.STDOUT)


def out(tmp: Path, name: str) -> str:
    return (tmp / f"{name}.out").read_text(errors="replace")


def test_tls_registration_and_srtp_call_between_two_phones(tmp_path: Path) -> None:
    pbx, tls_port, cert = tls_pbx(tmp_path)
    pbx.start()
    speech = prompt_pcm("tt-weasels") * 2
    sweep = chirp(4.0)
    write_wav(tmp_path / "alice.wav", speech)
    write_wav(tmp_path / "bob.wav", sweep)
    try:
        bob = phone(tmp_path, "bob", "6002", tls_port, cert, "--answer", "--timeout", "30",
                    "--play", str(tmp_path / "bob.wav"),
                    "--record", str(tmp_path / "bob-heard.wav"))
        deadline = time.monotonic() + 15
        while "REG 200" not in out(tmp_path, "bob"):
            assert time.monotonic() < deadline and bob.poll() is None, out(tmp_path, "bob")
            time.sleep(0.1)
        alice = phone(tmp_path, "alice", "6001", tls_port, cert, "--call", "6002",
                      "--duration", "5", "--timeout", "30",
                      "--play", str(tmp_path / "alice.wav"),
                      "--record", str(tmp_path / "alice-heard.wav"))
        assert alice.wait(40) == 0, out(tmp_path, "alice") + pbx.log()[-3000:]
        assert bob.wait(20) == 0, out(tmp_path, "bob")
    finally:
        for p in ("alice", "bob"):
            proc = locals().get(p)
            if proc is not None and proc.poll() is None:
                proc.kill()
        pbx.stop()
    assert "REG 200" in out(tmp_path, "alice") and "CALL CONFIRMED" in out(tmp_path, "alice")
    log = pbx.log()
    # Registered over TLS, and both legs encrypted (the PBX says which suite per leg).
    assert "listening on tls:127.0.0.1" in log, log[-2000:]
    legs = [line for line in log.splitlines() if ": SRTP AES_CM_128_HMAC_SHA1" in line]
    assert len(legs) == 2 and "use TLS" not in "".join(legs), legs
    heard_by_bob = read_wav(tmp_path / "bob-heard.wav")
    heard_by_alice = read_wav(tmp_path / "alice-heard.wav")
    assert windows_found(heard_by_bob, speech[: 2 * 8000 * 3]) >= 0.8
    assert windows_found(heard_by_alice, sweep[: 2 * 8000 * 3]) >= 0.8


def test_plain_rtp_offer_to_an_encryption_peer_is_refused(tmp_path: Path) -> None:
    pbx, tls_port, cert = tls_pbx(tmp_path)
    pbx.start()
    try:
        args = [sys.executable, str(PHONE), "--user", "6001", "--password", "6001pass",
                "--registrar", f"127.0.0.1:{tls_port}", "--tls", "--ca", str(cert),
                "--port", str(free_port(both=False)), "--call", "6002", "--timeout", "15"]
        result = subprocess.run(args, capture_output=True, text=True, timeout=40)
    finally:
        pbx.stop()
    assert "REG 200" in result.stdout, result.stdout
    assert "CALL DISCONNECTED 488" in result.stdout, result.stdout + pbx.log()[-2000:]
