"""A phone that qualify found gone: the call goes on in the dialplan at once.

6002 registers from a socket that then closes; the PBX's OPTIONS ping (sent
as soon as it registered, as Asterisk does) gets no answer within qualify=300
ms, so 6002 is UNREACHABLE. A call to it must reach voicemail in under a
second, without an INVITE to the dead address, and `pbx peers` must say so.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.e2e.harness import PbxProcess, make_config
from tests.e2e.sipclient import SipClient

SIP_CONF = """\
[general]
context=default

[office](!)
type=friend
host=dynamic
context=internal

[6001](office)
secret=6001pass

[6002](office)
secret=6002pass
qualify=300
mailbox=6002@default
"""

DIALPLAN = """\
[internal]
exten => 6002,1,Dial(SIP/6002,20)
 same => n,VoiceMail(6002@default,u)
 same => n,Hangup()
"""

VOICEMAIL = """\
[default]
6002 => 4242,Bob,bob@example.com
"""

SDP = (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       b"m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")


@pytest.fixture
def pbx(tmp_path: Path):
    proc = make_config(tmp_path, sip_conf=SIP_CONF, extensions=DIALPLAN)
    (tmp_path / "voicemail.conf").write_text(VOICEMAIL)
    proc.start("--sip-trace")
    try:
        yield proc
    finally:
        proc.stop()


def test_unreachable_phone_goes_to_voicemail_at_once(pbx: PbxProcess) -> None:
    gone = SipClient(pbx.host, pbx.sip_port, "6002", "6002pass")
    _, ok = gone.register(expires=600)
    assert ok is not None and ok.status == 200
    dead_port = gone.local_port
    gone.close()  # the phone is gone: the qualify OPTIONS finds nobody
    deadline = time.monotonic() + 5
    while "UNREACHABLE" not in pbx.log() and time.monotonic() < deadline:
        time.sleep(0.1)
    peers = pbx.cli("peers").stdout
    assert "UNREACHABLE" in peers, peers
    assert "Monitored: 0 online, 1 offline" in peers, peers

    caller = SipClient(pbx.host, pbx.sip_port, "6001", "6001pass")
    try:
        final, elapsed = caller.invite("6002", SDP)
        assert final.status == 200, final  # VoiceMail() answered
        assert elapsed < 1.0, f"voicemail took {elapsed:.2f} s"
        assert caller.bye().status == 200
    finally:
        caller.close()
    sent_to_dead = [block.split("\n", 2)[1] for block in pbx.log().split("<--- send to ")
                    if block.startswith(f"udp:127.0.0.1:{dead_port} ")]
    assert sent_to_dead and not [line for line in sent_to_dead if line.startswith("INVITE")], \
        sent_to_dead
