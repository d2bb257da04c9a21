"""Call pickup in the B2BUA on a fake SIP core (see test_b2bua): 6001 calls 6002,
whose phone rings; 6003 picks it up by *8 (features.conf pickupexten, group
pickup), by Pickup(6002@internal) or by PickupChan(SIP/6002) (`**6002`). The
caller is bridged to the picker, the ringing phone gets a CANCEL saying the
call was completed elsewhere, and the busy lamps follow."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dialplan.services import DialplanServices
from pbx.calls import CallManager
from pbx.config import load_config
from pbx.devstate import DeviceState, DeviceStates
from pbx.location import Binding, Location
from pbx.pickup import Pickups, parse_groups, parse_named_groups
from pbx.sip.address import Address
from pbx.sip.auth import DigestAuthenticator
from pbx.sip.message import Request, parse_message
from pbx.sip_devstate import SipDevices
from tests.unit.core.test_b2bua import SDP, FakeCore, caller_request, reply, until

SIP_CONF = """\
[general]
context=default

[office](!)
type=friend
host=dynamic
context=internal

[6001](office)
[6002](office)
callgroup=1,5-7
namedcallgroup=sales
[6003](office)
pickupgroup=6
[6004](office)
namedpickupgroup=sales,support
[6005](office)
pickupgroup=2
"""

DIALPLAN = """\
[internal]
exten => 6002,1,Dial(SIP/6002,30)
 same => n,Set(RESULT=${DIALSTATUS})
 same => n,Hangup()
exten => _**X.,1,PickupChan(SIP/${EXTEN:2})
 same => n,Set(PICKED=no)
 same => n,Hangup()
exten => _*9X.,1,Pickup(${EXTEN:2}@internal)
 same => n,Hangup()
exten => 555,1,Pickup()
 same => n,Hangup()
"""

A = Address("udp", "127.0.0.1", 40001)
B = Address("udp", "127.0.0.1", 40002)
C = Address("udp", "127.0.0.1", 40009)
REASON = 'SIP;cause=200;text="Call completed elsewhere"'


def test_group_specs() -> None:
    assert parse_groups("1,3-5") == {1, 3, 4, 5}
    assert parse_groups(" 7 - 5 , 63-99,x") == {5, 6, 7, 63}
    assert parse_groups(None) == frozenset()
    assert parse_named_groups("sales, support") == {"sales", "support"}


def picker_request(user: str, exten: str, cseq: int = 1, *, method: str = "INVITE",
                   to_tag: str | None = None) -> Request:
    """A request from `user`'s phone at C."""
    body = SDP if method == "INVITE" and to_tag is None else b""
    tag = f";tag={to_tag}" if to_tag else ""
    data = (
        f"{method} sip:{exten}@127.0.0.1:5060 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:40009;branch=z9hG4bKc{cseq}{method};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:{user}@127.0.0.1>;tag=c-tag\r\n"
        f"To: <sip:{exten}@127.0.0.1>{tag}\r\n"
        "Call-ID: call-c@127.0.0.1\r\n"
        f"CSeq: {cseq} {method}\r\n"
        "Contact: <sip:6003@127.0.0.1:40009>\r\n"
        + ("Content-Type: application/sdp\r\n" if body else "")
        + f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    msg = parse_message(data)
    assert isinstance(msg, Request)
    return msg


@dataclass
class Office:
    core: FakeCore
    calls: CallManager
    location: Location
    devices: DeviceStates


@pytest.fixture
async def office(tmp_path: Path) -> AsyncIterator[Office]:
    (tmp_path / "sip.conf").write_text(SIP_CONF)
    (tmp_path / "extensions.conf").write_text(DIALPLAN)
    (tmp_path / "pbx.yaml").write_text(
        "rtp: {ports: [43000, 43999]}\nsip: {session_expires: 0}\n")
    config = load_config(tmp_path)
    core = FakeCore()
    location = Location()
    registry = DeviceStates()
    sip = SipDevices(registry, lambda: config, location, lambda peer: False)
    sip.install()
    holder: list[CallManager] = []
    pickups = Pickups(lambda: holder[0].channels.values())
    services = DialplanServices(pickup=pickups, devices=registry)
    calls = CallManager(core=core, config=config, location=location,  # type: ignore[arg-type]
                        auth=DigestAuthenticator("pbx", b"k" * 32, lambda user: None),
                        store=None, dialplan_services=services, devices=sip, pickups=pickups)
    holder.append(calls)
    for name, addr in (("6002", B), ("6003", C)):
        location.put(Binding(aor=name, contact=f"sip:{name}@{addr.host}:{addr.port}",
                             expires_at=time.time() + 600, source_host=addr.host,
                             source_port=addr.port))
    await calls.start()
    yield Office(core, calls, location, registry)
    await calls.stop()


async def ring_6002(office: Office) -> object:
    """6001 calls 6002; 6002's phone rings (180)."""
    core = office.core
    office.calls.on_invite(caller_request("INVITE", 1, body=SDP), "tx-a", A)
    [b_invite] = await until(lambda: core.sent("INVITE", B))
    b_invite.callback(reply(b_invite, 180))
    await until(lambda: [r for r in core.answers("tx-a") if r.status == 180])
    assert office.devices.state("SIP/6002") is DeviceState.RINGING
    return b_invite


async def check_picked_up(office: Office, b_invite: object, picker: str = "6003") -> None:
    """The picker C is answered, the caller A too (bridged), 6002's phone is CANCELled
    with the Reason; the lamps: 6002 idle, 6001 and 6003 in use."""
    core = office.core
    ok_c = await until(lambda: [r for r in core.answers("tx-c") if r.status == 200])
    assert ok_c[0].body  # our SDP answer to the picker's offer
    await until(lambda: [r for r in core.answers("tx-a") if r.status == 200])
    [cancel] = await until(lambda: core.sent("CANCEL", B))
    assert cancel.request.headers.get("Reason") == REASON
    b_invite.callback(reply(b_invite, 487))  # type: ignore[attr-defined]
    a_leg = next(c for c in office.calls.channels.values() if c.name.startswith("SIP/6001"))
    c_leg = next(c for c in office.calls.channels.values() if c.name.startswith(f"SIP/{picker}"))
    await until(lambda: a_leg.bridged_to is c_leg)
    assert office.devices.state("SIP/6002") is DeviceState.NOT_INUSE
    assert office.devices.state(f"SIP/{picker}") is DeviceState.INUSE
    assert office.devices.state("SIP/6001") is DeviceState.INUSE
    # The caller hangs up: the picker gets a BYE, and A's Dial says ANSWER.
    a_tag = next(r for r in core.answers("tx-a") if r.status == 200).to_addr.tag
    office.calls.on_ack(caller_request("ACK", 1, to_tag=a_tag), None, A)
    c_tag = ok_c[0].to_addr.tag
    office.calls.on_ack(picker_request("6003", "x", method="ACK", to_tag=c_tag), None, C)
    office.calls.on_in_dialog(caller_request("BYE", 2, to_tag=a_tag), "tx-bye", A)
    await until(lambda: core.sent("BYE", C))
    await until(lambda: a_leg.variables.get("DIALSTATUS") == "ANSWER")
    assert a_leg.variables.get("DIALEDPEERNUMBER") == picker


async def test_pickupexten_star8_picks_up_a_call_of_the_pickup_group(office: Office) -> None:
    b_invite = await ring_6002(office)
    office.calls.on_invite(picker_request("6003", "*8"), "tx-c", C)
    await check_picked_up(office, b_invite)


async def test_pickupchan_by_device_as_the_sample_double_star_does(office: Office) -> None:
    b_invite = await ring_6002(office)
    office.calls.on_invite(picker_request("6005", "**6002"), "tx-c", C)
    await check_picked_up(office, b_invite, "6005")


async def test_pickup_exten_at_context(office: Office) -> None:
    b_invite = await ring_6002(office)
    office.calls.on_invite(picker_request("6005", "*96002"), "tx-c", C)
    await check_picked_up(office, b_invite, "6005")


async def test_pickup_by_named_group(office: Office) -> None:
    b_invite = await ring_6002(office)
    office.calls.on_invite(picker_request("6004", "555"), "tx-c", C)
    await check_picked_up(office, b_invite, "6004")


async def test_nothing_to_pick_up(office: Office) -> None:
    core = office.core
    b_invite = await ring_6002(office)
    # 6005's pickup group (2) does not meet 6002's call groups: *8 is refused (403).
    office.calls.on_invite(picker_request("6005", "*8"), "tx-c", C)
    final = await until(lambda: [r for r in core.answers("tx-c") if r.status >= 300])
    assert final[0].status == 403
    # PickupChan of a device that is not ringing: the dialplan goes on.
    office.calls.on_invite(picker_request("6003", "**6001", 2), "tx-c2", C)
    await until(lambda: [r for r in core.answers("tx-c2") if r.status >= 300])
    assert core.sent("CANCEL") == []  # 6002 still rings
    assert office.devices.state("SIP/6002") is DeviceState.RINGING
    b_invite.callback(reply(b_invite, 200, body=SDP))  # 6002 answers itself
    await until(lambda: [r for r in core.answers("tx-a") if r.status == 200])
    assert office.devices.state("SIP/6002") is DeviceState.INUSE


async def test_hold_from_a_phone_makes_its_device_on_hold(office: Office) -> None:
    """The leg reports hold and resume (its phone's re-INVITE sendonly / sendrecv)."""
    from tests.unit.core.test_b2bua import HOLD_SDP

    core = office.core
    b_invite = await ring_6002(office)
    b_invite.callback(reply(b_invite, 200, body=SDP))  # type: ignore[attr-defined]
    ok = await until(lambda: [r for r in core.answers("tx-a") if r.status == 200])
    a_tag = ok[0].to_addr.tag
    office.calls.on_ack(caller_request("ACK", 1, to_tag=a_tag), None, A)
    assert office.devices.state("SIP/6001") is DeviceState.INUSE
    office.calls.on_invite(caller_request("INVITE", 2, to_tag=a_tag, body=HOLD_SDP),
                           "tx-hold", A)
    assert core.answers("tx-hold")[-1].status == 200
    assert office.devices.state("SIP/6001") is DeviceState.ONHOLD
    assert office.devices.state("SIP/6002") is DeviceState.INUSE  # held, not holding
    office.calls.on_ack(caller_request("ACK", 2, to_tag=a_tag), None, A)
    office.calls.on_invite(caller_request("INVITE", 3, to_tag=a_tag, body=SDP), "tx-res", A)
    assert core.answers("tx-res")[-1].status == 200
    assert office.devices.state("SIP/6001") is DeviceState.INUSE
