"""Queue() through the real call core on the fake SIP core and clock of the B2BUA
tests: the caller's INVITE runs the dialplan into Queue(); the members are registered
phones whose INVITEs the test answers. Who is rung is read from the INVITEs the PBX
sends; the queue_log from what the service writes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dialplan.services import DialplanServices
from pbx.calls import CallManager
from pbx.config import load_config
from pbx.devstate import DeviceStates
from pbx.local_devstate import LocalDevices
from pbx.location import Binding, Location
from pbx.pickup import Pickups
from pbx.queue.music import ChannelMusic
from pbx.queue.service import QueueService
from pbx.sip.address import Address
from pbx.sip.auth import DigestAuthenticator
from pbx.sip_devstate import SipDevices
from tests.unit.core.test_b2bua import (
    REPO,
    SDP,
    FakeCore,
    Sent,
    caller_request,
    reply,
    until,
)

A = Address("udp", "127.0.0.1", 40001)
MEMBERS = {f"m{i}": Address("udp", "127.0.0.1", 40010 + i) for i in (1, 2, 3)}

SIP_CONF = """\
[general]
context=default
[6001]
type=friend
host=dynamic
context=internal
""" + "".join(f"[{m}]\ntype=friend\nhost=dynamic\ncontext=internal\n" for m in MEMBERS)

DIALPLAN = """\
[internal]
exten => 6002,1,Answer()
 same => n,Queue(support,{options},,,{timeout})
 same => n,Set(RESULT=${{QUEUESTATUS}})
 same => n,Hangup()
exten => 6003,1,Answer()
 same => n,Queue(viaLocal)
 same => n,Hangup()
exten => _**.,1,PickupChan(SIP/${{EXTEN:2}})
 same => n,Hangup()
exten => 7999,1,Set(SENT=yes)
 same => n,Wait(30)
exten => 6004,1,Answer()
 same => n,Set(CHANNEL(musicclass)=default)
 same => n,Queue(support,m(office))
 same => n,Hangup()

; members reached through Local channels, as Asterisk setups often write them
[from-queue]
exten => m1,1,Dial(SIP/m1,20)
"""

MOH_CONF = f"""\
[default]
mode=files
directory={REPO}/sounds/moh

[jazz]
mode=files
directory={REPO}/sounds/moh

[office]
mode=files
directory={REPO}/sounds/moh
"""

QUEUES = """\
[support]
strategy={strategy}
timeout=15
retry=5
musicclass=jazz
member => SIP/m1
member => SIP/m2
member => SIP/m3

[viaLocal]
strategy=ringall
member => Local/m1@from-queue/n,0,Maria
"""


class Log:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add_queue_log(self, row: dict[str, Any]) -> None:
        self.rows.append(row)

    def events(self) -> list[str]:
        return [r["event"] for r in self.rows]


@dataclass
class Pbx:
    core: FakeCore
    calls: CallManager
    queues: QueueService
    log: Log
    devices: DeviceStates
    location: Location
    sip_devices: SipDevices

    def invites(self, member: str) -> list[Sent]:
        return self.core.sent("INVITE", MEMBERS[member])

    def rung(self) -> list[str]:
        """The members rung so far, in order."""
        by_addr = {a: m for m, a in MEMBERS.items()}
        return [by_addr[s.dest] for s in self.core.requests
                if s.request.method == "INVITE" and s.dest in by_addr]


def register(location: Location, name: str) -> None:
    addr = MEMBERS[name]
    location.put(Binding(aor=name, contact=f"sip:{name}@{addr.host}:{addr.port}",
                         expires_at=time.time() + 600, source_host=addr.host,
                         source_port=addr.port, call_id=f"reg-{name}"))


async def make_pbx(tmp: Path, strategy: str = "rrmemory", options: str = "",
                   timeout: str = "", registered: tuple[str, ...] = tuple(MEMBERS)) -> \
        AsyncIterator[Pbx]:
    (tmp / "sip.conf").write_text(SIP_CONF)
    (tmp / "extensions.conf").write_text(DIALPLAN.format(options=options, timeout=timeout))
    (tmp / "queues.conf").write_text(QUEUES.format(strategy=strategy))
    (tmp / "musiconhold.conf").write_text(MOH_CONF)
    (tmp / "pbx.yaml").write_text("rtp: {ports: [43000, 43999]}\nsip: {session_expires: 0}\n")
    config = load_config(tmp)
    core = FakeCore()
    location = Location()
    for name in registered:
        register(location, name)
    # Member states as the PBX has them: the device-state registry, fed by the legs.
    registry = DeviceStates()
    sip = SipDevices(registry, lambda: config, location, lambda peer: False)
    sip.install()
    holder: list[CallManager] = []
    pickups = Pickups(lambda: holder[0].channels.values())
    services = DialplanServices(devices=registry, pickup=pickups)
    calls = CallManager(core=core, config=config, location=location,  # type: ignore[arg-type]
                        auth=DigestAuthenticator("pbx", b"k" * 32, lambda user: None),
                        store=None, dialplan_services=services, devices=sip, pickups=pickups)
    holder.append(calls)
    await calls.start()
    import asyncio

    LocalDevices(registry, lambda: config.dialplan, lambda: calls.channels.values(),
                 asyncio.get_running_loop().call_soon).install()
    log = Log()
    queues = QueueService(legs=calls.legs, timers=core.timers,  # type: ignore[arg-type]
                          now=core.now, devstate=registry, music=ChannelMusic(),
                          store=log, canonical=registry.canonical)
    registry.listen(queues.device_changed)
    await queues.start(config.queues)
    services.queues = queues
    yield Pbx(core, calls, queues, log, registry, location, sip)
    await queues.stop()
    await calls.stop()


@pytest.fixture
async def pbx(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Pbx]:
    """Parametrized (indirect) with a strategy, or with make_pbx's keyword arguments."""
    param = getattr(request, "param", "rrmemory")
    kwargs = param if isinstance(param, dict) else {"strategy": param}
    async for p in make_pbx(tmp_path, **kwargs):
        yield p


async def call_in(pbx: Pbx, exten: str = "6002") -> None:
    pbx.calls.on_invite(caller_request("INVITE", 1, body=SDP, exten=exten), "tx-a", A)


async def test_rrmemory_rings_one_member_then_the_next_after_timeout_and_retry(
        pbx: Pbx) -> None:
    core = pbx.core
    await call_in(pbx)
    await until(lambda: pbx.rung() == ["m1"])
    m1 = pbx.invites("m1")[0]
    m1.callback(reply(m1, 180))
    core.advance(15.0)  # timeout=15: m1 is given up on (CANCEL after its 180)
    cancels = await until(lambda: core.sent("CANCEL", MEMBERS["m1"]))
    assert cancels[0].request.cseq[0] == m1.request.cseq[0]
    m1.callback(reply(m1, 487))
    core.advance(4.9)
    assert pbx.rung() == ["m1"]
    core.advance(0.1)  # retry=5
    await until(lambda: pbx.rung() == ["m1", "m2"])
    m2 = pbx.invites("m2")[0]
    m2.callback(reply(m2, 200, body=SDP))
    # The member's 200 is ACKed with its INVITE's CSeq; the caller is bridged to it.
    await until(lambda: core.acks(MEMBERS["m2"]))
    assert core.acks(MEMBERS["m2"])[0].cseq == (m2.request.cseq[0], "ACK")
    await until(lambda: "CONNECT" in pbx.log.events())
    caller = next(c for c in pbx.calls.channels.values() if c.inbound)
    await until(lambda: caller.bridged_to is not None)
    assert caller.bridged_to.peer.name == "m2"
    assert pbx.log.events() == ["QUEUESTART", "ENTERQUEUE", "RINGNOANSWER", "CONNECT"]
    ring = pbx.log.rows[2]
    assert (ring["queuename"], ring["agent"], ring["data"]) == ("support", "SIP/m1", "15000")


@pytest.mark.parametrize("pbx", ["ringall"], indirect=True)
async def test_ringall_first_answer_wins_the_others_get_cancel(pbx: Pbx) -> None:
    core = pbx.core
    await call_in(pbx)
    await until(lambda: sorted(pbx.rung()) == ["m1", "m2", "m3"])
    invites = {m: pbx.invites(m)[0] for m in MEMBERS}
    for m in ("m1", "m3"):
        invites[m].callback(reply(invites[m], 180, tag=f"t-{m}"))
    invites["m2"].callback(reply(invites["m2"], 200, body=SDP))
    await until(lambda: core.sent("CANCEL", MEMBERS["m1"])
                and core.sent("CANCEL", MEMBERS["m3"]))
    assert core.sent("CANCEL", MEMBERS["m2"]) == []
    # Without the C option the phones are not told "answered elsewhere" (as Asterisk).
    assert core.sent("CANCEL", MEMBERS["m1"])[0].request.headers.get("Reason") is None
    await until(lambda: "CONNECT" in pbx.log.events())
    connect = next(r for r in pbx.log.rows if r["event"] == "CONNECT")
    assert connect["agent"] == "SIP/m2"


async def test_busy_member_then_caller_hangs_up(pbx: Pbx) -> None:
    core = pbx.core
    await call_in(pbx)
    await until(lambda: pbx.rung() == ["m1"])
    m1 = pbx.invites("m1")[0]
    m1.callback(reply(m1, 486))  # busy: rrmemory goes on to m2 at once
    await until(lambda: pbx.rung() == ["m1", "m2"])
    m2 = pbx.invites("m2")[0]
    m2.callback(reply(m2, 180))
    caller = next(c for c in pbx.calls.channels.values() if c.inbound)
    bye = caller_request("BYE", 2, to_tag=caller.local_tag)
    pbx.calls.on_in_dialog(bye, "tx-bye", A)
    await until(lambda: "ABANDON" in pbx.log.events())
    await until(lambda: core.sent("CANCEL", MEMBERS["m2"]))
    assert pbx.log.events() == ["QUEUESTART", "ENTERQUEUE", "RINGNOANSWER", "RINGCANCELED",
                                "ABANDON"]


# --- music on hold, device state, Local members -------------------------------------

async def test_waiting_callers_hear_the_queues_class_or_the_m_option(pbx: Pbx) -> None:
    """The queue's musicclass (jazz) while waiting; Queue(...,m(office)) instead; but a
    CHANNEL(musicclass) set in the dialplan first (preferchannelclass=yes, as
    res_musiconhold chooses for app_queue's ast_moh_start)."""
    await call_in(pbx)
    await until(lambda: pbx.rung() == ["m1"])
    caller = next(c for c in pbx.calls.channels.values() if c.inbound)
    assert caller.features.moh_class == "jazz"
    pbx.invites("m1")[0].callback(reply(pbx.invites("m1")[0], 200, body=SDP))
    await until(lambda: caller.bridged_to is not None)
    assert caller.features.moh_class is None  # the music stops for the member


@pytest.mark.parametrize("pbx, exten, heard", [
    ({"options": "m(office)"}, "6002", "office"),
    ({}, "6004", "default"),  # CHANNEL(musicclass)=default beats m(office) and jazz
], indirect=["pbx"])
async def test_the_m_option_and_channel_musicclass(pbx: Pbx, exten: str, heard: str) -> None:
    await call_in(pbx, exten)
    await until(lambda: pbx.rung() == ["m1"])
    caller = next(c for c in pbx.calls.channels.values() if c.inbound)
    await until(lambda: caller.features.moh_class == heard)


@pytest.mark.parametrize("pbx", [{"registered": ()}], indirect=True)
async def test_a_member_that_registers_is_rung_at_once(pbx: Pbx) -> None:
    """Nobody is registered: the caller waits (joinempty is off). m2 registers: the
    registry's change reaches the queue, which rings m2 at once, not at its 1 s
    recheck (the fake clock does not move)."""
    await call_in(pbx)
    await until(lambda: "ENTERQUEUE" in pbx.log.events())
    assert pbx.rung() == []
    register(pbx.location, "m2")
    pbx.sip_devices.peer_changed("m2")  # what the registrar's binding listener says
    await until(lambda: pbx.rung() == ["m2"])


@pytest.mark.parametrize("pbx", [{"registered": ("m1",)}], indirect=True)
async def test_a_member_freed_from_another_call_is_rung_at_once(pbx: Pbx) -> None:
    """ringinuse=no (the member is in a call of its own): the queue waits; the moment
    that call ends, the device state says NOT_INUSE and the member rings."""
    for m in pbx.queues.engine.queues["support"].members:
        m.ringinuse = False
    busy = _FakeLeg(pbx.sip_devices, "m1")
    assert pbx.devices.state("SIP/m1").name == "INUSE"
    await call_in(pbx)
    await until(lambda: "ENTERQUEUE" in pbx.log.events())
    await asyncio.sleep(0.05)
    assert pbx.rung() == []
    busy.end()
    await until(lambda: pbx.rung() == ["m1"])


class _FakeLeg:
    """A call leg of `peer`'s phone, up (what SipDevices hears from a real leg)."""

    def __init__(self, devices: SipDevices, peer: str) -> None:
        from pbx.channel import CallerId, ChannelState

        self.devices = devices
        self.peer = devices.config().sip.peers[peer]
        self.name = f"SIP/{peer}-busy"
        self.inbound = True
        self.state = ChannelState.UP
        self.held = False
        self.callerid = CallerId("6001", "")
        self.created_at = time.time()
        devices.leg_changed(self)  # type: ignore[arg-type]

    def end(self) -> None:
        from pbx.channel import ChannelState

        self.state = ChannelState.HUNGUP
        self.devices.leg_changed(self)  # type: ignore[arg-type]


async def test_a_member_reached_through_a_local_channel(pbx: Pbx) -> None:
    """member => Local/m1@from-queue/n: the Local device is NOT_INUSE (the extension
    exists), the queue rings it, its `;2` dials m1's phone, m1 answers, the caller is
    bridged to the Local channel; CONNECT names the member; INUSE meanwhile."""
    assert pbx.devices.state("Local/m1@from-queue/n").name == "NOT_INUSE"
    assert pbx.devices.state("Local/nobody@from-queue").name == "INVALID"
    await call_in(pbx, "6003")
    await until(lambda: pbx.rung() == ["m1"])
    m1 = pbx.invites("m1")[0]
    m1.callback(reply(m1, 180))
    m1.callback(reply(m1, 200, body=SDP))
    await until(lambda: "CONNECT" in pbx.log.events())
    caller = next(c for c in pbx.calls.channels.values() if c.inbound)
    await until(lambda: caller.bridged_to is not None)
    assert caller.bridged_to.name.startswith("Local/m1@from-queue-")
    assert pbx.devices.state("Local/m1@from-queue/n").name == "INUSE"
    connect = next(r for r in pbx.log.rows if r["event"] == "CONNECT")
    assert (connect["queuename"], connect["agent"]) == ("viaLocal", "Maria")


async def test_a_ringing_member_is_picked_up(pbx: Pbx) -> None:
    """m1 rings for the queue; another phone dials **m1 (PickupChan): it answers the
    queue call in m1's place (CONNECT, bridged with the caller) and m1's phone gets a
    CANCEL saying the call was completed elsewhere."""
    from tests.unit.core.test_pickup import REASON, C, picker_request

    core = pbx.core
    await call_in(pbx)
    await until(lambda: pbx.rung() == ["m1"])
    m1 = pbx.invites("m1")[0]
    m1.callback(reply(m1, 180))
    pbx.calls.on_invite(picker_request("6001", "**m1"), "tx-c", C)
    [cancel] = await until(lambda: core.sent("CANCEL", MEMBERS["m1"]))
    assert cancel.request.headers.get("Reason") == REASON
    m1.callback(reply(m1, 487))
    await until(lambda: "CONNECT" in pbx.log.events())
    caller = min((c for c in pbx.calls.channels.values() if c.inbound),
                 key=lambda c: c.created_at)
    picker = await until(lambda: caller.bridged_to)
    assert picker.inbound and picker is not caller  # the picker's own call, from C
    await until(lambda: [r for r in core.answers("tx-c") if r.status == 200])


async def test_a_member_transfers_the_caller_on(pbx: Pbx) -> None:
    """The queue call is Dial's bridge: the member's phone transfers the caller
    (REFER), Queue() returns with the caller at the target in its own dialplan, and
    the queue_log says BLINDTRANSFER with the target, as app_queue writes it."""
    from pbx.sip.message import Request, parse_message

    core = pbx.core
    await call_in(pbx)
    await until(lambda: pbx.rung() == ["m1"])
    m1 = pbx.invites("m1")[0]
    m1.callback(reply(m1, 200, tag="m1-tag", body=SDP))
    await until(lambda: "CONNECT" in pbx.log.events())
    caller = next(c for c in pbx.calls.channels.values() if c.inbound)
    leg = await until(lambda: caller.bridged_to)
    port = MEMBERS["m1"].port
    refer = parse_message((
        "REFER sip:pbx@127.0.0.1:5060 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKm1refer;rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:m1@127.0.0.1>;tag=m1-tag\r\n"
        f"To: <sip:6001@127.0.0.1>;tag={leg.local_tag}\r\n"
        f"Call-ID: {leg.call_id}\r\nCSeq: 50 REFER\r\n"
        f"Contact: <sip:m1@127.0.0.1:{port}>\r\n"
        "Refer-To: <sip:7999@127.0.0.1>\r\nContent-Length: 0\r\n\r\n").encode())
    assert isinstance(refer, Request)
    pbx.calls.on_in_dialog(refer, "tx-refer-m1", MEMBERS["m1"])
    assert core.answers("tx-refer-m1")[0].status == 202
    await until(lambda: caller.variables.get("SENT") == "yes")
    assert caller.exten == "7999" and caller.variables["BLINDTRANSFER"] == leg.name
    ended = next(r for r in pbx.log.rows if r["event"] == "BLINDTRANSFER")
    assert ended["agent"] == "SIP/m1" and ended["data"].startswith("7999|internal|"), ended
    assert not {"COMPLETECALLER", "COMPLETEAGENT"} & set(pbx.log.events())
