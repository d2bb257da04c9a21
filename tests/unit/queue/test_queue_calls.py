"""Queue() through the real call core on the fake SIP core and clock of the B2BUA
tests: the caller's INVITE runs the dialplan into Queue(); the members are registered
phones whose INVITEs the test answers. Who is rung is read from the INVITEs the PBX
sends; the queue_log from what the service writes."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dialplan.services import DialplanServices
from pbx.calls import CallManager
from pbx.config import load_config
from pbx.location import Binding, Location
from pbx.queue.devstate import CallsDeviceState
from pbx.queue.music import PromptLoopMusic
from pbx.queue.service import QueueService
from pbx.sip.address import Address
from pbx.sip.auth import DigestAuthenticator
from tests.unit.core.test_b2bua import SDP, FakeCore, Sent, caller_request, reply, until

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
"""

QUEUES = """\
[support]
strategy={strategy}
timeout=15
retry=5
member => SIP/m1
member => SIP/m2
member => SIP/m3
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

    def invites(self, member: str) -> list[Sent]:
        return self.core.sent("INVITE", MEMBERS[member])

    def rung(self) -> list[str]:
        """The members rung so far, in order."""
        by_addr = {a: m for m, a in MEMBERS.items()}
        return [by_addr[s.dest] for s in self.core.requests
                if s.request.method == "INVITE" and s.dest in by_addr]


async def make_pbx(tmp: Path, strategy: str = "rrmemory", options: str = "",
                   timeout: str = "") -> AsyncIterator[Pbx]:
    (tmp / "sip.conf").write_text(SIP_CONF)
    (tmp / "extensions.conf").write_text(DIALPLAN.format(options=options, timeout=timeout))
    (tmp / "queues.conf").write_text(QUEUES.format(strategy=strategy))
    (tmp / "pbx.yaml").write_text("rtp: {ports: [43000, 43999]}\nsip: {session_expires: 0}\n")
    config = load_config(tmp)
    core = FakeCore()
    location = Location()
    for i, (name, addr) in enumerate(MEMBERS.items()):
        location.put(Binding(aor=name, contact=f"sip:{name}@{addr.host}:{addr.port}",
                             expires_at=time.time() + 600, source_host=addr.host,
                             source_port=addr.port, call_id=f"reg{i}"))
    services = DialplanServices()
    calls = CallManager(core=core, config=config, location=location,  # type: ignore[arg-type]
                        auth=DigestAuthenticator("pbx", b"k" * 32, lambda user: None),
                        store=None, dialplan_services=services)
    await calls.start()
    log = Log()
    import asyncio

    devstate = CallsDeviceState(
        legs=lambda: calls.channels.values(), peers=lambda: config.sip.peers,
        contacts=lambda name: len(location.lookup(name, time.time())),
        unreachable=lambda peer: False, call_soon=asyncio.get_running_loop().call_soon)
    queues = QueueService(legs=calls.legs, timers=core.timers,  # type: ignore[arg-type]
                          now=core.now, devstate=devstate, music=PromptLoopMusic(),
                          store=log)
    await queues.start(config.queues)
    services.queues = queues
    yield Pbx(core, calls, queues, log)
    await queues.stop()
    await calls.stop()


@pytest.fixture
async def pbx(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Pbx]:
    async for p in make_pbx(tmp_path, getattr(request, "param", "rrmemory")):
        yield p


async def call_in(pbx: Pbx) -> None:
    pbx.calls.on_invite(caller_request("INVITE", 1, body=SDP), "tx-a", A)


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
