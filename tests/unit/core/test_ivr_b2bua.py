"""IVR features on the B2BUA (fake SIP core, real CallManager, legs, Dial):
headers read from the inbound INVITE and added to Dial's INVITE, ChanIsAvail
from registrations, qualify and live legs, tones stopped by the bridge."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dialplan.services import DialplanServices
from pbx.calls import CallManager
from pbx.chan_avail import INUSE, INVALID, NOT_INUSE, RINGING, UNAVAILABLE, ChannelAvailability
from pbx.config import load_config
from pbx.location import Location
from pbx.sip.auth import DigestAuthenticator
from tests.unit.core.test_b2bua import (
    B1,
    SDP,
    SIP_CONF,
    A,
    FakeCore,
    Pbx,
    caller_request,
    reply,
    until,
)

DIALPLAN = r"""
[internal]
exten => 6002,1,Set(GOT=${PJSIP_HEADER(read,X-Account)}|${PJSIP_HEADER(read,x-*,2)})
 same => n,Set(FROM=${PJSIP_HEADER(read,From)})
 same => n,SIPAddHeader(X-Campaign: spring)
 same => n,SIPAddHeader(Via: SIP/2.0/UDP evil.example)
 same => n,Set(PJSIP_HEADER(add,Alert-Info)=<http://pbx/ring>\;info=alert-internal)
 same => n,Set(PJSIP_HEADER(add,X-Tmp)=1)
 same => n,Set(REMOVED=${PJSIP_HEADER(remove,X-Tmp)})
 same => n,ChanIsAvail(SIP/6009&SIP/6002,s)
 same => n,Set(AVAIL=${AVAILORIGCHAN}|${AVAILSTATUS}|${AVAILCAUSECODE}|${AVAILCHAN:0:9})
 same => n,ChanIsAvail(SIP/6001&PJSIP/6002,a)
 same => n,Set(BOTH=${AVAILORIGCHAN}|${AVAILSTATUS})
 same => n,PlayTones(ring)
 same => n,Dial(SIP/6002,5)
 same => n,Hangup()
"""


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    (tmp_path / "sip.conf").write_text(SIP_CONF)
    (tmp_path / "extensions.conf").write_text(DIALPLAN)
    (tmp_path / "pbx.yaml").write_text(
        "rtp: {ports: [42000, 42999]}\nsip: {session_expires: 0}\n")
    return tmp_path


@pytest.fixture
async def pbx(config_dir: Path) -> AsyncIterator[Pbx]:
    config = load_config(config_dir, strict=False)  # SIPAddHeader(Via...): pbx run warns
    core = FakeCore()
    location = Location()
    auth = DigestAuthenticator("pbx", b"k" * 32, lambda user: None)
    services = DialplanServices()
    calls = CallManager(core=core, config=config, location=location, auth=auth,
                        store=None, dialplan_services=services)  # type: ignore[arg-type]
    await calls.start()
    assert calls.legs is not None
    services.availability = ChannelAvailability(
        resolve=calls.legs.resolve, channels=lambda: calls.channels.values(),
        peers=lambda: calls.config.sip.peers)
    yield Pbx(core, calls, location)
    await calls.stop()


async def test_headers_availability_and_tones_on_a_call(pbx: Pbx) -> None:
    core = pbx.core
    avail = pbx.calls.dialplan_services.availability
    assert avail.device_state("SIP", "6002") == UNAVAILABLE  # not registered yet
    assert avail.device_state("SIP", "nobody") == INVALID
    pbx.register_b(B1)
    invite = caller_request("INVITE", 1, body=SDP)
    invite.headers.add("X-Account", "42")
    invite.headers.add("X-Other", "seven")
    pbx.calls.on_invite(invite, "tx-a", A)
    sent = await until(lambda: core.sent("INVITE", B1))
    a = pbx.leg("SIP/6001")
    v = a.variables
    assert v["GOT"] == "42|seven"
    assert v["FROM"] == "<sip:6001@127.0.0.1>;tag=a-tag"
    assert v["REMOVED"] == "1"
    # 6009 is no peer (INVALID, 4); 6002 is registered and idle (NOT_INUSE, 1).
    assert v["AVAIL"] == "SIP/6002|4&1|0|SIP/6002-"
    # `a`: every available one; 6001 calls from an address, with no registration.
    assert v["BOTH"] == "PJSIP/6002|0&0"
    # The INVITE to 6002 carries the added headers, not the refused or removed ones.
    b_invite = sent[0].request
    assert b_invite.headers.get("X-Campaign") == "spring"
    assert b_invite.headers.get("Alert-Info") == "<http://pbx/ring>;info=alert-internal"
    assert b_invite.headers.get("X-Tmp") is None
    assert len(b_invite.headers.get_all("Via")) == 1 and "evil" not in str(b_invite.headers)
    # PlayTones(ring) opened early media (183) and plays until the bridge.
    assert any(r.status == 183 for r in core.answers("tx-a"))
    assert a.player.playing_tone
    # While 6002 rings it is RINGING; answered, it is in use; the tone stopped.
    assert avail.device_state("SIP", "6002") == RINGING
    sent[0].callback(reply(sent[0], 180))
    sent[0].callback(reply(sent[0], 200, body=SDP))
    await until(lambda: a.bridged_to is not None)
    assert not a.player.playing_tone
    assert avail.device_state("SIP", "6002") == INUSE
    assert avail.in_use("SIP", "6002") == INUSE and avail.in_use("SIP", "6003") == 0


async def test_unreachable_contact_is_not_available(pbx: Pbx) -> None:
    avail = pbx.calls.dialplan_services.availability
    pbx.register_b(B1, reachable=False)  # qualify found it unreachable
    assert not avail.requestable("SIP", "6002")
    assert avail.device_state("SIP", "6002") == UNAVAILABLE
    pbx.register_b(B1, reachable=True)
    assert avail.requestable("PJSIP", "6002") and avail.device_state("SIP", "6002") == NOT_INUSE
    assert not avail.requestable("IAX2", "6002")
