"""The B2BUA on a fake SIP core and a fake clock.

The real CallManager, legs, Dial and dialplan run; the SIP core is a fake that
records what the PBX sends and lets the test answer for the phones: 6001 calls
6002, whose phone(s) are registered bindings. Every message is checked as a
strict peer would (the CSeq of each ACK, tags, Reason on CANCEL). Media
sessions are real sockets on loopback; nothing is sent to them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pbx.calls import CallManager
from pbx.config import load_config
from pbx.location import Binding, Location
from pbx.sip.address import Address
from pbx.sip.auth import DigestAuthenticator
from pbx.sip.message import Request, Response, make_response, parse_message
from pbx.sip.timers import TimerHeap
from pbx.sip.transaction import CancelReceived

SIP_CONF = """\
[general]
context=default

[6001]
type=friend
host=dynamic
context=internal

[6002]
type=friend
host=dynamic
secret=x
context=internal
mohsuggest=jazz

[6003]
type=friend
host=dynamic
context=internal
"""

# The same two phones in pjsip.conf with moh_passthrough=yes: a hold is passed on to
# the other phone as a re-INVITE instead of music on hold.
PJSIP_PASSTHROUGH = """\
[phone](!)
type=endpoint
context=internal
allow=ulaw
moh_passthrough=yes

[6001](phone)

[6002](phone)
aors=6002

[6002]
type=aor
max_contacts=5
"""

REPO = Path(__file__).resolve().parents[3]
MOH_CONF = f"""\
[default]
mode=files
directory={REPO}/sounds/moh

[jazz]
mode=files
directory={REPO}/sounds/moh
"""

DIALPLAN = """\
[internal]
exten => 6002,1,Dial(SIP/6002,5)
 same => n,Set(RESULT=${DIALSTATUS})
 same => n,Hangup()
; a ring group through Local channels, as Asterisk users write it
exten => 7000,1,Dial(Local/6002@ring&Local/6003@ring/n,5)
 same => n,Set(RESULT=${DIALSTATUS})
 same => n,Hangup()
exten => 7001,1,Dial(Local/6002@ring,5)
 same => n,Set(RESULT=${DIALSTATUS})
 same => n,Hangup()
exten => 7009,1,Dial(Local/6009@ring,5)
 same => n,Set(RESULT=${DIALSTATUS})
 same => n,Hangup()
exten => 7010,1,Dial(Local/nowhere@ring,5)
 same => n,Set(RESULT=${DIALSTATUS})
 same => n,Hangup()
; a Local channel that dials itself: max forwards ends the loop (BUSY)
exten => 7011,1,Dial(Local/loop@ring,5)
 same => n,Set(RESULT=${DIALSTATUS})
 same => n,Hangup()
; music instead of ringback while it rings
exten => 6012,1,Dial(SIP/6002,5,m(jazz))
 same => n,Hangup()

[ring]
exten => _600X,1,Set(RING=${EXTEN})
 same => n,Dial(SIP/${EXTEN},5)
exten => loop,1,Dial(Local/loop@ring,5)
"""

A = Address("udp", "127.0.0.1", 40001)
B1 = Address("udp", "127.0.0.1", 40002)
B2 = Address("udp", "127.0.0.1", 40003)
SDP = (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       b"m=audio 41000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
       b"a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n")
HOLD_SDP = SDP.replace(b"sendrecv", b"sendonly").replace(b"o=- 1 1", b"o=- 1 2")


@dataclass
class Sent:
    request: Request
    dest: Address
    callback: Callable[[Response | None], None]
    on_failure: Callable[[int], None] | None


@dataclass
class FakeCore:
    """The Signalling port and what CallManager registers on the SIP core."""

    t: float = 1000.0
    timers: TimerHeap = field(default_factory=TimerHeap)
    requests: list[Sent] = field(default_factory=list)
    responses: list[tuple[Any, Response]] = field(default_factory=list)
    stateless: list[tuple[Request | Response, Address]] = field(default_factory=list)
    handlers: dict = field(default_factory=dict)
    ack_handler: Any = None
    cancel_handler: Any = None
    stray_response_handler: Any = None

    def now(self) -> float:
        return self.t

    def respond(self, tx: Any, response: Response) -> None:
        self.responses.append((tx, parse_message(response.to_bytes())))

    def send_trying(self, tx: Any) -> None:
        pass

    def send_request(self, req: Request, dest: Address, callback: Any,
                     on_failure: Any = None) -> Sent:
        sent = Sent(parse_message(req.to_bytes()), dest, callback, on_failure)
        self.requests.append(sent)
        return sent

    def forget(self, tx: Any) -> None:
        pass

    def send_bytes(self, data: bytes, dest: Address) -> None:
        self.stateless.append((parse_message(data), dest))

    def local_address(self, transport: str = "udp", family: int = 4,
                      toward: str | None = None) -> Address:
        return Address(transport, "127.0.0.1", 5060)

    def allow_header(self) -> str:
        return "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE"

    def advance(self, seconds: float) -> None:
        """Move the fake clock, firing every timer that falls due on the way."""
        end = self.t + seconds
        while (deadline := self.timers.next_deadline()) is not None and deadline <= end:
            self.t = deadline
            handle = self.timers.pop_one_due(deadline)
            assert handle is not None
            handle.owner.on_timer(handle.kind, self.t)
        self.t = end

    # --- what the test looks at ---------------------------------------------------
    def sent(self, method: str, dest: Address | None = None) -> list[Sent]:
        return [s for s in self.requests if s.request.method == method
                and (dest is None or s.dest == dest)]

    def acks(self, dest: Address) -> list[Request]:
        return [m for m, d in self.stateless if d == dest and m.method == "ACK"]

    def answers(self, tx: Any) -> list[Response]:
        return [r for t, r in self.responses if t == tx]


def reply(sent: Sent, status: int, *, tag: str = "b-tag", body: bytes = b"",
          contact: str = "<sip:6002@127.0.0.1:40002>") -> Response:
    """The callee phone's answer to a request the PBX sent it."""
    headers = [("Contact", contact)] if 100 < status < 300 else []
    resp = make_response(sent.request, status, to_tag=tag if status > 100 else None,
                         headers=headers, body=body,
                         content_type="application/sdp" if body else None)
    out = parse_message(resp.to_bytes())
    assert isinstance(out, Response)
    return out


def caller_request(method: str, cseq: int, *, to_tag: str | None = None,
                   body: bytes = b"", branch: str | None = None, exten: str = "6002") -> Request:
    """A request from 6001's phone."""
    tag = f";tag={to_tag}" if to_tag else ""
    data = (
        f"{method} sip:{exten}@127.0.0.1:5060 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:40001;branch={branch or f'z9hG4bKa{cseq}{method}'};rport\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:6001@127.0.0.1>;tag=a-tag\r\n"
        f"To: <sip:6002@127.0.0.1>{tag}\r\n"
        "Call-ID: call-a@127.0.0.1\r\n"
        f"CSeq: {cseq} {method}\r\n"
        "Contact: <sip:6001@127.0.0.1:40001>\r\n"
        + ("Content-Type: application/sdp\r\n" if body else "")
        + f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    msg = parse_message(data)
    assert isinstance(msg, Request)
    return msg


def callee_request(method: str, leg_invite: Request, cseq: int, *, tag: str = "b-tag",
                   body: bytes = b"") -> Request:
    """A request from 6002's phone in the dialog of the PBX's INVITE ``leg_invite``."""
    data = (
        f"{method} sip:6001@127.0.0.1:5060 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:40002;branch=z9hG4bKb{cseq}{method};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:6002@127.0.0.1>;tag={tag}\r\n"
        f"To: {leg_invite.headers.get('From')}\r\n"
        f"Call-ID: {leg_invite.call_id}\r\n"
        f"CSeq: {cseq} {method}\r\n"
        "Contact: <sip:6002@127.0.0.1:40002>\r\n"
        + ("Content-Type: application/sdp\r\n" if body else "")
        + f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    msg = parse_message(data)
    assert isinstance(msg, Request)
    return msg


async def until(cond: Callable[[], Any], timeout: float = 3.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        await asyncio.sleep(0.002)
    raise AssertionError("condition not met in time")


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    (tmp_path / "sip.conf").write_text(SIP_CONF)
    (tmp_path / "musiconhold.conf").write_text(MOH_CONF)
    (tmp_path / "extensions.conf").write_text(DIALPLAN)
    (tmp_path / "pbx.yaml").write_text(
        "rtp: {ports: [42000, 42999]}\nsip: {session_expires: 0}\n")
    return tmp_path


@dataclass
class Pbx:
    core: FakeCore
    calls: CallManager
    location: Location
    seen: list = field(default_factory=list)  # every leg indexed, ended ones too

    def register_b(self, *addrs: Address, reachable: bool | None = None,
                   aor: str = "6002") -> None:
        for i, addr in enumerate(addrs):
            self.location.put(Binding(
                aor=aor, contact=f"sip:{aor}@{addr.host}:{addr.port}",
                expires_at=time.time() + 600, source_host=addr.host, source_port=addr.port,
                call_id=f"reg{i}", reachable=reachable))

    def leg(self, name_prefix: str) -> Any:
        return next(c for c in self.calls.channels.values() if c.name.startswith(name_prefix))


@pytest.fixture
def passthrough_dir(tmp_path: Path) -> Path:
    (tmp_path / "pjsip.conf").write_text(PJSIP_PASSTHROUGH)
    (tmp_path / "musiconhold.conf").write_text(MOH_CONF)
    (tmp_path / "extensions.conf").write_text(DIALPLAN)
    (tmp_path / "pbx.yaml").write_text(
        "rtp: {ports: [42000, 42999]}\nsip: {session_expires: 0}\n")
    return tmp_path


async def _pbx(config_dir: Path) -> Iterator[Pbx]:
    config = load_config(config_dir)
    core = FakeCore()
    location = Location()
    auth = DigestAuthenticator("pbx", b"k" * 32, lambda user: None)
    calls = CallManager(core=core, config=config, location=location, auth=auth,
                        store=None)  # type: ignore[arg-type]
    await calls.start()
    p = Pbx(core, calls, location)
    add = calls.add

    def add_and_keep(call_id: str, local_tag: str, leg: Any) -> None:
        p.seen.append(leg)
        add(call_id, local_tag, leg)

    calls.add = add_and_keep  # type: ignore[method-assign]
    yield p
    await calls.stop()


@pytest.fixture
async def pbx(config_dir: Path) -> Iterator[Pbx]:
    async for p in _pbx(config_dir):
        yield p


@pytest.fixture
async def passthrough(passthrough_dir: Path) -> Iterator[Pbx]:
    async for p in _pbx(passthrough_dir):
        yield p


async def start_call(pbx: Pbx, addrs: tuple[Address, ...] = (B1,)) -> Request:
    """6001 calls 6002; returns A's INVITE once the PBX rang every B contact."""
    pbx.register_b(*addrs)
    invite = caller_request("INVITE", 1, body=SDP)
    pbx.calls.on_invite(invite, "tx-a", A)
    await until(lambda: len(pbx.core.sent("INVITE")) == len(addrs))
    return invite


async def answer_call(pbx: Pbx) -> tuple[Sent, str]:
    """B answers, A ACKs the PBX's 200: the call is up; returns B's INVITE and A's To tag."""
    core = pbx.core
    b_invite = core.sent("INVITE", B1)[0]
    b_invite.callback(reply(b_invite, 180))
    b_invite.callback(reply(b_invite, 200, body=SDP))
    ok = await until(lambda: [r for r in core.answers("tx-a") if r.status == 200])
    a_tag = ok[0].to_addr.tag
    pbx.calls.on_ack(caller_request("ACK", 1, to_tag=a_tag), None, A)
    return b_invite, a_tag


# ----------------------------------------------------------------------------- tests


async def test_answered_call_acks_b_and_a_gets_200_retransmitted_until_its_ack(
        pbx: Pbx) -> None:
    core = pbx.core
    await start_call(pbx)
    b_invite = core.sent("INVITE", B1)[0]
    assert b_invite.request.headers.get("Session-Expires") is None  # session_expires: 0
    b_invite.callback(reply(b_invite, 180))
    await until(lambda: [r for r in core.answers("tx-a") if r.status == 180])
    ok_b = reply(b_invite, 200, body=SDP)
    b_invite.callback(ok_b)
    ok = await until(lambda: [r for r in core.answers("tx-a") if r.status == 200])
    ack = core.acks(B1)
    assert [a.cseq for a in ack] == [(b_invite.request.cseq[0], "ACK")]
    assert ack[0].to_addr.tag == "b-tag" and str(ack[0].uri) == "sip:6002@127.0.0.1:40002"
    # B retransmits its 200 (our ACK was lost): the same ACK goes again.
    b_invite.callback(ok_b)
    assert len(core.acks(B1)) == 2 and core.acks(B1)[1].cseq == ack[0].cseq
    # A's 200 goes again at T1, 2*T1 while A's ACK does not come.
    before = len(core.stateless)
    core.advance(1.6)
    retransmitted = [m for m, d in core.stateless[before:] if d == A]
    assert [m.status for m in retransmitted] == [200, 200]
    pbx.calls.on_ack(caller_request("ACK", 1, to_tag=ok[0].to_addr.tag), None, A)
    before = len(core.stateless)
    core.advance(10.0)
    assert not [m for m, d in core.stateless[before:] if d == A]


def _hold_or_resume(pbx: Pbx, holder: str, body: bytes, b_invite: Sent, a_tag: str,
                    cseqs: dict[str, int]) -> tuple[Request, Response, Address]:
    """The holder's phone sends a re-INVITE (hold or resume); returns it, our answer
    and where the other phone is."""
    cseqs[holder] += 1
    cseq = cseqs[holder]
    if holder == "a":
        req = caller_request("INVITE", cseq, to_tag=a_tag, body=body)
        pbx.calls.on_invite(req, f"tx-a{cseq}", A)
        return req, pbx.core.answers(f"tx-a{cseq}")[-1], B1
    req = callee_request("INVITE", b_invite.request, cseq, body=body)
    pbx.calls.on_invite(req, f"tx-b{cseq}", B1)
    return req, pbx.core.answers(f"tx-b{cseq}")[-1], A


def _ack(pbx: Pbx, holder: str, b_invite: Sent, a_tag: str, cseq: int) -> None:
    if holder == "a":
        pbx.calls.on_ack(caller_request("ACK", cseq, to_tag=a_tag), None, A)
    else:
        pbx.calls.on_ack(callee_request("ACK", b_invite.request, cseq), None, B1)


async def test_hold_from_either_side_gives_the_other_music_on_hold(pbx: Pbx) -> None:
    """Asterisk's default: the held party hears music on hold (the holder's
    mohsuggest class, else default), no re-INVITE goes to it, the bridge stops
    forwarding the holder's audio into it; resuming stops the music. Three
    rounds from either side; every 200 is ACKed with its own CSeq."""
    core = pbx.core
    await start_call(pbx)
    b_invite, a_tag = await answer_call(pbx)
    a_leg, b_leg = pbx.leg("SIP/6001"), pbx.leg("SIP/6002")
    cseqs = {"a": 1, "b": 1}
    for round_ in range(3):
        for holder in ("a", "b"):
            hearer = b_leg if holder == "a" else a_leg
            # 6002 suggests jazz (mohsuggest): what 6001 hears when 6002 holds.
            klass = "jazz" if holder == "b" else "default"
            for body in (HOLD_SDP, SDP):
                n_sent = len(core.requests)
                req, resp, _ = _hold_or_resume(pbx, holder, body, b_invite, a_tag, cseqs)
                assert resp.status == 200 and resp.cseq == (req.cseq[0], "INVITE"), resp
                want = b"a=recvonly" if body is HOLD_SDP else b"a=sendrecv"
                assert want in resp.body, (round_, holder, resp.body)
                # No re-INVITE to the other phone: it hears music instead.
                assert [s for s in core.requests[n_sent:] if s.request.method == "INVITE"] == []
                if body is HOLD_SDP:
                    assert hearer.features.moh_class == klass, (round_, holder)
                    assert hearer.media.generating  # the bridge forwards nothing into it
                    listeners = pbx.calls.moh.streams[klass].listeners
                    assert [lst.session for lst in listeners] == [hearer.media]
                    playing = pbx.calls.moh.streams[klass]
                    await until(lambda: playing.sent > 0)  # noqa: B023 - music flows
                else:
                    assert hearer.features.moh_class is None
                    assert not hearer.media.generating
                    assert len(pbx.calls.moh.streams[klass]) == 0
                _ack(pbx, holder, b_invite, a_tag, cseqs[holder])
    # The PBX itself sent no re-INVITE in either dialog.
    assert core.sent("INVITE", A) == [] and len(core.sent("INVITE", B1)) == 1
    before = len(core.stateless)
    core.advance(40.0)
    assert not [m for m, _ in core.stateless[before:] if m.status]  # no 200 left unACKed


async def test_hangup_while_held_stops_the_music(pbx: Pbx) -> None:
    core = pbx.core
    await start_call(pbx)
    b_invite, a_tag = await answer_call(pbx)
    a_leg = pbx.leg("SIP/6001")
    cseqs = {"a": 1, "b": 1}
    _hold_or_resume(pbx, "b", HOLD_SDP, b_invite, a_tag, cseqs)
    assert a_leg.features.moh_class == "jazz"
    pbx.calls.on_in_dialog(callee_request("BYE", b_invite.request, 3), "tx-bye", B1)
    await until(lambda: core.sent("BYE", A))
    assert a_leg.features.moh_class is None and len(pbx.calls.moh.streams["jazz"]) == 0


async def test_moh_passthrough_reflects_the_hold_every_ack_has_its_cseq(
        passthrough: Pbx) -> None:
    """pjsip.conf moh_passthrough=yes: the hold is passed on to the other phone in
    a re-INVITE of the PBX's own, whose 200 is ACKed with that re-INVITE's CSeq."""
    pbx = passthrough
    core = pbx.core
    await start_call(pbx)
    b_invite, a_tag = await answer_call(pbx)
    cseqs = {"a": 1, "b": 1}
    for round_ in range(3):
        for holder in ("a", "b"):
            for body in (HOLD_SDP, SDP):
                n_sent = len(core.requests)
                req, resp, dest = _hold_or_resume(pbx, holder, body, b_invite, a_tag, cseqs)
                assert resp.status == 200 and resp.cseq == (req.cseq[0], "INVITE"), resp
                reinvite = [s for s in core.requests[n_sent:] if s.request.method == "INVITE"]
                assert len(reinvite) == 1 and reinvite[0].dest == dest
                offered = b"a=sendonly" if body is HOLD_SDP else b"a=sendrecv"
                assert offered in reinvite[0].request.body, round_
                answer = SDP.replace(b"sendrecv", b"recvonly") if body is HOLD_SDP else SDP
                tag = "b-tag" if dest == B1 else "a-tag"
                reinvite[0].callback(reply(reinvite[0], 200, tag=tag, body=answer))
                assert core.acks(dest)[-1].cseq == (reinvite[0].request.cseq[0], "ACK")
                _ack(pbx, holder, b_invite, a_tag, cseqs[holder])
    assert pbx.calls.moh.streams == {}  # no music played
    for dest in (A, B1):
        seqs = [s.request.cseq[0] for s in core.sent("INVITE", dest)]
        assert seqs == sorted(set(seqs)) and len(seqs) >= 6, seqs
    before = len(core.stateless)
    core.advance(40.0)
    assert not [m for m, _ in core.stateless[before:] if m.status]


async def test_caller_cancels_before_b_answered_anything_then_after_a_provisional(
        pbx: Pbx) -> None:
    core = pbx.core
    await start_call(pbx)
    b_invite = core.sent("INVITE", B1)[0]
    cancel = caller_request("CANCEL", 1)
    pbx.calls.on_cancel(CancelReceived(cancel, "tx-cancel", "tx-a", A))
    await until(lambda: [r for r in core.answers("tx-a") if r.status == 487])
    await asyncio.sleep(0.01)
    assert core.sent("CANCEL") == []  # 9.1: not before B sent a provisional
    b_invite.callback(reply(b_invite, 100))
    cancels = core.sent("CANCEL", B1)
    assert len(cancels) == 1
    assert cancels[0].request.cseq == (b_invite.request.cseq[0], "CANCEL")
    assert cancels[0].request.top_via.branch == b_invite.request.top_via.branch
    # B answers anyway (the 200 crossed the CANCEL): ACK it, then BYE it.
    b_invite.callback(reply(b_invite, 200, body=SDP))
    assert core.acks(B1)[-1].cseq == (b_invite.request.cseq[0], "ACK")
    byes = core.sent("BYE", B1)
    assert len(byes) == 1 and byes[0].request.to_addr.tag == "b-tag"


async def test_cancel_after_ringing_goes_at_once(pbx: Pbx) -> None:
    core = pbx.core
    await start_call(pbx)
    b_invite = core.sent("INVITE", B1)[0]
    b_invite.callback(reply(b_invite, 180))
    await until(lambda: [r for r in core.answers("tx-a") if r.status == 180])
    pbx.calls.on_cancel(CancelReceived(caller_request("CANCEL", 1), "tx-c", "tx-a", A))
    await until(lambda: core.sent("CANCEL", B1))
    b_invite.callback(reply(b_invite, 487))
    assert [r.status for r in core.answers("tx-a")][-1] == 487


async def test_lost_ack_from_the_caller_ends_both_legs(pbx: Pbx) -> None:
    core = pbx.core
    await start_call(pbx)
    b_invite = core.sent("INVITE", B1)[0]
    b_invite.callback(reply(b_invite, 200, body=SDP))
    await until(lambda: [r for r in core.answers("tx-a") if r.status == 200])
    core.advance(33.0)  # 64*T1 without A's ACK
    await until(lambda: core.sent("BYE", A) and core.sent("BYE", B1))
    assert core.sent("BYE", B1)[0].request.cseq[0] == b_invite.request.cseq[0] + 1


async def test_glare_a_reinvite_crossing_ours_gets_491(passthrough: Pbx) -> None:
    pbx = passthrough
    core = pbx.core
    await start_call(pbx)
    b_invite, a_tag = await answer_call(pbx)
    # B holds: the PBX re-INVITEs A and waits for A's answer...
    pbx.calls.on_invite(callee_request("INVITE", b_invite.request, 2, body=HOLD_SDP),
                        "tx-b2", B1)
    to_a = core.sent("INVITE", A)[-1]
    # ...while A's own re-INVITE crosses it: 491 (14.1).
    pbx.calls.on_invite(caller_request("INVITE", 2, to_tag=a_tag, body=HOLD_SDP), "tx-a2", A)
    assert core.answers("tx-a2")[-1].status == 491
    # A refuses ours with 491 too: we try again after the back-off, 0-2 s since
    # A owns that dialog's Call-ID, with a new CSeq.
    to_a.callback(reply(to_a, 491, tag="a-tag"))
    core.advance(2.1)
    retry = core.sent("INVITE", A)[-1]
    assert retry is not to_a and retry.request.cseq[0] == to_a.request.cseq[0] + 1


async def test_fork_loser_gets_cancel_with_reason(pbx: Pbx) -> None:
    core = pbx.core
    await start_call(pbx, (B1, B2))
    first, second = core.sent("INVITE", B1)[0], core.sent("INVITE", B2)[0]
    second.callback(reply(second, 180, tag="b2"))
    first.callback(reply(first, 200, body=SDP))
    cancels = await until(lambda: core.sent("CANCEL", B2))
    assert cancels[0].request.headers.get("Reason") == \
        'SIP;cause=200;text="Call completed elsewhere"'
    assert core.sent("CANCEL", B1) == []


async def test_unreachable_contact_is_not_rung_and_dial_ends_at_once(pbx: Pbx) -> None:
    core = pbx.core
    pbx.register_b(B1, reachable=False)
    started = time.monotonic()
    pbx.calls.on_invite(caller_request("INVITE", 1, body=SDP), "tx-a", A)
    final = await until(lambda: [r for r in core.answers("tx-a") if r.status >= 300])
    assert time.monotonic() - started < 1.0
    assert core.sent("INVITE") == [] and final[0].status == 480


async def test_tcp_connect_failure_fails_the_leg_at_once(pbx: Pbx) -> None:
    core = pbx.core
    await start_call(pbx)
    b_invite = core.sent("INVITE", B1)[0]
    a_leg = pbx.leg("SIP/6001")
    assert b_invite.on_failure is not None
    started = time.monotonic()
    b_invite.on_failure(503)  # what SipCore reports when the TCP connect is refused
    final = await until(lambda: [r for r in core.answers("tx-a") if r.status >= 300])
    # Hangup() takes the callee's cause (34: 503), as Asterisk's does.
    assert time.monotonic() - started < 1.0 and final[0].status == 503
    assert a_leg.variables.get("RESULT") == "CONGESTION"


# ------------------------------------------------------------------- Local channels


async def test_local_ring_group_first_answer_wins_the_other_is_cancelled_elsewhere(
        pbx: Pbx) -> None:
    """Dial(Local/6002@ring&Local/6003@ring/n): each Local runs [ring], whose Dial
    rings a phone. 6003 rings (the caller hears 180), 6002 answers (the caller gets
    200 and is bridged through the Local pair), 6003 gets a CANCEL that says the
    call was completed elsewhere, as from a SIP fork."""
    core = pbx.core
    pbx.register_b(B1)
    pbx.register_b(B2, aor="6003")
    pbx.calls.on_invite(caller_request("INVITE", 1, body=SDP, exten="7000"), "tx-a", A)
    await until(lambda: core.sent("INVITE", B1) and core.sent("INVITE", B2))
    to_b1, to_b2 = core.sent("INVITE", B1)[0], core.sent("INVITE", B2)[0]
    assert to_b2.request.uri.user == "6003"
    to_b2.callback(reply(to_b2, 180, tag="b2"))
    await until(lambda: [r for r in core.answers("tx-a") if r.status == 180])
    to_b1.callback(reply(to_b1, 200, body=SDP))
    ok = await until(lambda: [r for r in core.answers("tx-a") if r.status == 200])
    cancels = await until(lambda: core.sent("CANCEL", B2))
    assert cancels[0].request.headers.get("Reason") == \
        'SIP;cause=200;text="Call completed elsewhere"'
    assert core.acks(B1)[-1].cseq == (to_b1.request.cseq[0], "ACK")
    a_leg = pbx.leg("SIP/6001")
    outer = a_leg.bridged_to
    assert outer is not None and outer.name.startswith("Local/6002@ring-") \
        and outer.name.endswith(";1")
    inner = outer.other
    assert inner.bridged_to is pbx.leg("SIP/6002") and inner.variables["RING"] == "6002"
    assert a_leg.dst_channel is outer  # the CDR names the Local channel
    # The caller hangs up: the BYE goes through the pair to 6002.
    pbx.calls.on_ack(caller_request("ACK", 1, to_tag=ok[0].to_addr.tag, exten="7000"),
                     None, A)
    pbx.calls.on_in_dialog(caller_request("BYE", 2, to_tag=ok[0].to_addr.tag, exten="7000"),
                           "tx-bye", A)
    await until(lambda: core.sent("BYE", B1))


@pytest.mark.parametrize(("exten", "answer", "status"), [
    ("7001", 486, "BUSY"),  # its Dial got BUSY: the Local channel is busy
    ("7009", None, "CHANUNAVAIL"),  # 6009 is not registered: CHANUNAVAIL
    ("7010", None, "CHANUNAVAIL"),  # no extension for the Local channel at all
    ("7011", None, "BUSY"),  # 20 Local hops: the last Dial refuses (max forwards)
])
async def test_dialstatus_propagates_through_a_local_channel(
        pbx: Pbx, exten: str, answer: int | None, status: str) -> None:
    core = pbx.core
    pbx.register_b(B1)
    pbx.calls.on_invite(caller_request("INVITE", 1, body=SDP, exten=exten), "tx-a", A)
    if answer is not None:
        to_b1 = (await until(lambda: core.sent("INVITE", B1)))[0]
        to_b1.callback(reply(to_b1, answer))
    final = await until(lambda: [r for r in core.answers("tx-a") if r.status >= 300])
    assert final[0].status != 200
    caller = next(c for c in pbx.seen if c.name.startswith("SIP/6001"))
    assert caller.variables.get("RESULT") == status


async def test_dial_m_plays_music_to_the_caller_while_it_rings(pbx: Pbx) -> None:
    """Dial(...,m(jazz)): a 183 with SDP opens early media and the caller hears the
    jazz class; the callee's 180 is not passed on; the answer stops the music."""
    core = pbx.core
    pbx.register_b(B1)
    pbx.calls.on_invite(caller_request("INVITE", 1, body=SDP, exten="6012"), "tx-a", A)
    to_b1 = (await until(lambda: core.sent("INVITE", B1)))[0]
    early = await until(lambda: [r for r in core.answers("tx-a") if r.status == 183])
    assert b"m=audio" in early[0].body
    a_leg = pbx.leg("SIP/6001")
    assert a_leg.features.moh_class == "jazz"
    await until(lambda: pbx.calls.moh.streams["jazz"].sent > 0)
    to_b1.callback(reply(to_b1, 180))
    await asyncio.sleep(0.05)
    assert not [r for r in core.answers("tx-a") if r.status == 180]
    to_b1.callback(reply(to_b1, 200, body=SDP))
    await until(lambda: [r for r in core.answers("tx-a") if r.status == 200])
    assert a_leg.features.moh_class is None and not a_leg.media.generating
    assert len(pbx.calls.moh.streams["jazz"]) == 0


async def test_hold_and_resume_by_a_reinvite_without_sdp(pbx: Pbx) -> None:
    """B re-INVITEs without SDP: the PBX offers in its 200 and B's ACK answers,
    sendonly (a hold: A hears music) then sendrecv (resumed: the music stops)."""
    core = pbx.core
    await start_call(pbx)
    b_invite, _ = await answer_call(pbx)
    a_leg = pbx.leg("SIP/6001")
    for cseq, answer, klass in ((2, HOLD_SDP, "jazz"), (3, SDP, None)):
        pbx.calls.on_invite(callee_request("INVITE", b_invite.request, cseq), f"tx-b{cseq}", B1)
        ok = core.answers(f"tx-b{cseq}")[-1]
        assert ok.status == 200 and b"m=audio" in ok.body  # our offer
        pbx.calls.on_ack(callee_request("ACK", b_invite.request, cseq, body=answer), None, B1)
        assert a_leg.features.moh_class == klass
    assert core.sent("INVITE", A) == []
