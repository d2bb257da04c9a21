"""Transfers through the real B2BUA on a fake SIP core (test_b2bua's FakeCore).

REFER blind and attended (RFC 3515, 5589), including an attended transfer to a
call that still rings, and INVITE with Replaces (RFC 3891) taking over a leg in
a bridge or picking up a ringing one. The phones are the test: it answers every
request the PBX sends and checks each message as a strict peer would.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pbx.calls import CallManager
from pbx.config import load_config
from pbx.location import Binding, Location
from pbx.sip.address import Address
from pbx.sip.auth import DigestAuthenticator
from pbx.sip.message import Request, parse_message
from tests.unit.core.test_b2bua import HOLD_SDP, SDP, FakeCore, Sent, reply, until

SIP_CONF = """\
[general]
context=default

[phone](!)
type=friend
host=dynamic
context=internal

[6001](phone)
callerid="Alice" <6001>
[6002](phone)
callerid="Bob" <6002>
[6003](phone)
callerid="Carol" <6003>
[6004](phone)
"""

DIALPLAN = """\
[internal]
exten => _600X,1,Dial(SIP/${EXTEN},20)
 same => n,Hangup()
exten => 999,1,Answer()
 same => n,Playback(tt-weasels)
 same => n,Hangup()
"""

A = Address("udp", "127.0.0.1", 41001)
B = Address("udp", "127.0.0.1", 41002)
C = Address("udp", "127.0.0.1", 41003)
D = Address("udp", "127.0.0.1", 41004)
PHONES = {"6001": A, "6002": B, "6003": C, "6004": D}


@dataclass
class Call:
    """One call a phone made: its Call-ID, its tag, the PBX's tag once answered."""

    call_id: str
    tag: str
    user: str
    to: str
    source: Address
    tx: str
    pbx_tag: str = ""
    cseq: int = 1


def phone_request(call: Call, method: str, *, headers: str = "", body: bytes = b"",
                  to_tag: bool = True, ctype: str = "application/sdp") -> Request:
    """A request from the phone that made ``call`` (INVITE first, then in its dialog)."""
    if method not in ("ACK", "CANCEL"):
        call.cseq += method != "INVITE" or bool(call.pbx_tag)
    tag = f";tag={call.pbx_tag}" if to_tag and call.pbx_tag else ""
    port = call.source.port
    data = (
        f"{method} sip:{call.to}@127.0.0.1:5060 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{call.tag}{call.cseq}{method};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:{call.user}@127.0.0.1>;tag={call.tag}\r\n"
        f"To: <sip:{call.to}@127.0.0.1>{tag}\r\n"
        f"Call-ID: {call.call_id}\r\n"
        f"CSeq: {call.cseq} {method}\r\n"
        f"Contact: <sip:{call.user}@127.0.0.1:{port}>\r\n"
        f"{headers}"
        + (f"Content-Type: {ctype}\r\n" if body else "")
        + f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    msg = parse_message(data)
    assert isinstance(msg, Request)
    return msg


@dataclass
class Pbx:
    core: FakeCore
    calls: CallManager
    location: Location

    def register(self, user: str) -> None:
        addr = PHONES[user]
        self.location.put(Binding(
            aor=user, contact=f"sip:{user}@{addr.host}:{addr.port}",
            expires_at=time.time() + 600, source_host=addr.host, source_port=addr.port,
            call_id=f"reg-{user}"))

    def leg(self, call_id: str) -> Any:
        return next(c for c in self.calls.channels.values() if c.call_id == call_id)

    def outbound(self, dest: Address) -> Sent:
        return self.core.sent("INVITE", dest)[-1]


@pytest.fixture
async def pbx(tmp_path: Path) -> Any:
    (tmp_path / "sip.conf").write_text(SIP_CONF)
    (tmp_path / "extensions.conf").write_text(DIALPLAN)
    (tmp_path / "pbx.yaml").write_text("rtp: {ports: [43000, 43999]}\nsip: {session_expires: 0}\n")
    config = load_config(tmp_path)
    core = FakeCore()
    location = Location()
    auth = DigestAuthenticator("pbx", b"k" * 32, lambda user: None)
    calls = CallManager(core=core, config=config, location=location, auth=auth,
                        store=None)  # type: ignore[arg-type]
    await calls.start()
    p = Pbx(core, calls, location)
    for user in PHONES:
        p.register(user)
    yield p
    await calls.stop()


async def place(pbx: Pbx, user: str, to: str, call_id: str, *, answer: bool = True,
                rings: str | None = None) -> tuple[Call, Sent]:
    """``user``'s phone calls ``to``; that phone (or ``rings``') rings (180) and, with
    ``answer``, answers; the caller ACKs. Returns the caller's call and the PBX's
    INVITE to the callee."""
    callee = rings or to
    n_before = len(pbx.core.sent("INVITE", PHONES[callee]))
    call = Call(call_id, f"{call_id}-t", user, to, PHONES[user], f"tx-{call_id}")
    pbx.calls.on_invite(phone_request(call, "INVITE", body=SDP), call.tx, call.source)
    await until(lambda: len(pbx.core.sent("INVITE", PHONES[callee])) > n_before)
    out = pbx.outbound(PHONES[callee])
    out.callback(reply(out, 180, tag=f"{callee}-tag"))
    ringing = await until(lambda: [r for r in pbx.core.answers(call.tx) if r.status == 180])
    call.pbx_tag = ringing[0].to_addr.tag or ""
    if answer:
        out.callback(reply(out, 200, tag=f"{callee}-tag", body=SDP,
                           contact=f"<sip:{callee}@127.0.0.1:{PHONES[callee].port}>"))
        await until(lambda: [r for r in pbx.core.answers(call.tx) if r.status == 200])
        pbx.calls.on_ack(phone_request(call, "ACK"), None, call.source)
    return call, out


def notifies(pbx: Pbx, dest: Address) -> list[Sent]:
    return pbx.core.sent("NOTIFY", dest)


async def answer_notifies(pbx: Pbx, dest: Address, want: list[bytes]) -> None:
    """The transferer's phone answers every NOTIFY; their sipfrag bodies are ``want``."""
    for i, body in enumerate(want):
        # (A park's final NOTIFY waits for the space to be said to the transferer.)
        sent = await until(lambda i=i: len(notifies(pbx, dest)) > i and notifies(pbx, dest),
                           timeout=8.0)
        n = sent[i]
        assert n.request.body == body, [s.request.body for s in sent]
        n.callback(reply(n, 200, tag="ignored"))


def refer(call: Call, refer_to: str, extra: str = "") -> Request:
    return phone_request(call, "REFER", headers=f"Refer-To: {refer_to}\r\n"
                         f"Referred-By: <sip:{call.user}@127.0.0.1>\r\n{extra}")


def bye_from(pbx: Pbx, call: Call) -> None:
    pbx.calls.on_in_dialog(phone_request(call, "BYE"), f"tx-bye-{call.call_id}", call.source)


# ----------------------------------------------------------------------------- blind


async def test_blind_refer_by_the_caller_sends_the_callee_to_the_target(pbx: Pbx) -> None:
    core = pbx.core
    call, to_b = await place(pbx, "6001", "6002", "a1")
    a_leg = pbx.leg("a1")
    b_leg = a_leg.bridge.other(a_leg)
    started = time.perf_counter()
    pbx.calls.on_in_dialog(refer(call, "<sip:6003@127.0.0.1>"), "tx-refer", A)
    assert core.answers("tx-refer")[0].status == 202
    to_c = await until(lambda: core.sent("INVITE", C))
    elapsed = time.perf_counter() - started
    assert elapsed < 0.1, f"the transferee's INVITE left {elapsed * 1000:.1f} ms after the REFER"
    # The transferee calls the target as itself (Bob), in the transferer's context.
    invite = to_c[0].request
    assert invite.from_addr.uri.user == "6002" and invite.from_addr.display == "Bob"
    assert b_leg.variables["BLINDTRANSFER"] == a_leg.name
    assert a_leg.variables["BLINDTRANSFER"] == b_leg.name
    assert b_leg.transfer["role"] == "transferee" and b_leg.transfer["target"] == "6003@internal"
    to_c[0].callback(reply(to_c[0], 180, tag="c-tag"))
    to_c[0].callback(reply(to_c[0], 200, tag="c-tag", body=SDP))
    await answer_notifies(pbx, A, [b"SIP/2.0 100 Trying\r\n", b"SIP/2.0 180 Ringing\r\n",
                                   b"SIP/2.0 200 OK\r\n"])
    final = notifies(pbx, A)[-1].request
    assert final.headers.get("Subscription-State") == "terminated;reason=noresource"
    c_leg = await until(lambda: b_leg.bridge and b_leg.bridge.other(b_leg))
    assert c_leg.peer.name == "6003" and b_leg.relay is not None and b_leg.relay.active
    # The transferer's phone hangs up after the final NOTIFY: the PBX sends no BYE of its own.
    bye_from(pbx, call)
    await until(lambda: a_leg.hungup.is_set())
    assert core.answers(f"tx-bye-{call.call_id}")[-1].status == 200
    assert core.sent("BYE", A) == [] and core.sent("BYE", B) == []
    # B's phone never saw the transfer: no re-INVITE, no BYE, and it still talks (to Carol).
    assert len(core.sent("INVITE", B)) == 1 and to_b.request.call_id == b_leg.call_id


async def test_blind_refer_by_the_callee_sends_the_caller_on(pbx: Pbx) -> None:
    """The callee transfers: the caller's dialplan continues at the target (a jump),
    its Dial reports the transfer; the transferer's leg is hung up by the PBX
    when its phone does not hang up within the grace."""
    core = pbx.core
    _call, _to_b = await place(pbx, "6001", "6002", "a1")
    a_leg = pbx.leg("a1")
    b_leg = a_leg.bridge.other(a_leg)
    # B's phone sends REFER in the dialog the PBX's INVITE made with it.
    req = _from_callee(b_leg, "REFER", "Refer-To: <sip:999@127.0.0.1>\r\n")
    pbx.calls.on_in_dialog(req, "tx-refer-b", B)
    assert core.answers("tx-refer-b")[0].status == 202
    # The caller goes to 999: Answer (already up), Playback: voice flows -> 200.
    await answer_notifies(pbx, B, [b"SIP/2.0 100 Trying\r\n", b"SIP/2.0 200 OK\r\n"])
    await until(lambda: a_leg.lastapp == "Playback")
    assert a_leg.variables["BLINDTRANSFER"] == b_leg.name and a_leg.exten == "999"
    # B's phone does not hang up: the PBX BYEs it after the grace.
    bye = await until(lambda: core.sent("BYE", B), timeout=4.0)
    assert bye[0].request.call_id == b_leg.call_id
    assert a_leg.state.value == "Up"


async def test_blind_refer_to_a_missing_extension_is_refused_by_notify(pbx: Pbx) -> None:
    core = pbx.core
    call, _ = await place(pbx, "6001", "6002", "a1")
    a_leg = pbx.leg("a1")
    pbx.calls.on_in_dialog(refer(call, "<sip:4711@127.0.0.1>"), "tx-refer", A)
    assert core.answers("tx-refer")[0].status == 202
    await answer_notifies(pbx, A, [b"SIP/2.0 100 Trying\r\n", b"SIP/2.0 404 Not Found\r\n"])
    assert a_leg.bridge is not None and a_leg.relay.active  # the call goes on


async def test_refer_with_refer_sub_false_gets_no_notify(pbx: Pbx) -> None:
    core = pbx.core
    call, _ = await place(pbx, "6001", "6002", "a1")
    pbx.calls.on_in_dialog(refer(call, "<sip:6003@127.0.0.1>", "Refer-Sub: false\r\n"),
                           "tx-refer", A)
    ok = core.answers("tx-refer")[0]
    assert ok.status == 202 and ok.headers.get("Refer-Sub") == "false"
    await until(lambda: core.sent("INVITE", C))
    assert notifies(pbx, A) == []


async def test_refer_without_refer_to_is_400_and_outside_a_call_481(pbx: Pbx) -> None:
    core = pbx.core
    call, _ = await place(pbx, "6001", "6002", "a1")
    bad = phone_request(call, "REFER")
    pbx.calls.on_in_dialog(bad, "tx-bad", A)
    assert core.answers("tx-bad")[0].status == 400
    stray = Call("nope", "x", "6001", "6002", A, "tx", pbx_tag="zz")
    pbx.calls.on_in_dialog(refer(stray, "<sip:6003@127.0.0.1>"), "tx-stray", A)
    assert core.answers("tx-stray")[0].status == 481


# -------------------------------------------------------------------------- attended


async def test_attended_refer_with_replaces_joins_the_two_other_parties(pbx: Pbx) -> None:
    core = pbx.core
    call1, _ = await place(pbx, "6001", "6002", "a1")
    call2, _ = await place(pbx, "6001", "6003", "a2")
    x1, x2 = pbx.leg("a1"), pbx.leg("a2")
    p1, p2 = x1.bridge.other(x1), x2.bridge.other(x2)
    replaces = f"a2%3Bto-tag%3D{call2.pbx_tag}%3Bfrom-tag%3D{call2.tag}"
    started = time.perf_counter()
    pbx.calls.on_in_dialog(refer(call1, f"<sip:6003@127.0.0.1?Replaces={replaces}>"),
                           "tx-refer", A)
    elapsed = time.perf_counter() - started
    assert core.answers("tx-refer")[0].status == 202
    assert p1.bridge is p2.bridge and p1.bridge.other(p1) is p2
    assert p1.relay is p2.relay and p1.relay.active
    assert elapsed < 0.1
    await answer_notifies(pbx, A, [b"SIP/2.0 100 Trying\r\n", b"SIP/2.0 200 OK\r\n"])
    assert p1.variables["ATTENDEDTRANSFER"] == x1.name
    assert p2.variables["ATTENDEDTRANSFER"] == x2.name
    assert "BLINDTRANSFER" not in p1.variables
    # The transferer's phone hangs up both calls.
    bye_from(pbx, call1)
    bye_from(pbx, call2)
    await until(lambda: x1.hungup.is_set() and x2.hungup.is_set())
    assert p1.state.value == "Up" and p2.state.value == "Up" and p1.bridge.other(p1) is p2
    # Either remaining party hanging up ends the other.
    pbx.calls.on_in_dialog(_from_callee(p1, "BYE", cseq=60), "tx-bye-b", B)
    await until(lambda: core.sent("BYE", C))


async def test_attended_transfer_from_a_held_call_ends_its_music(pbx: Pbx) -> None:
    """Alice holds Bob (he hears music on hold), calls Carol and transfers: Bob's music
    stops and he talks to Carol."""
    call1, _ = await place(pbx, "6001", "6002", "a1")
    x1 = pbx.leg("a1")
    p1 = x1.bridge.other(x1)
    pbx.calls.on_invite(phone_request(call1, "INVITE", body=HOLD_SDP), "tx-hold", A)
    await until(lambda: p1.features.moh_class == "default" and p1.media.generating)
    call2, _ = await place(pbx, "6001", "6003", "a2")
    x2 = pbx.leg("a2")
    p2 = x2.bridge.other(x2)
    replaces = f"a2%3Bto-tag%3D{call2.pbx_tag}%3Bfrom-tag%3D{call2.tag}"
    pbx.calls.on_in_dialog(refer(call1, f"<sip:6003@127.0.0.1?Replaces={replaces}>"),
                           "tx-refer", A)
    assert p1.bridge is p2.bridge and p1.relay.active
    assert p1.features.moh_class is None and not p1.media.generating
    assert p2.features.moh_class is None


async def test_a_party_joining_one_that_holds_hears_music(pbx: Pbx) -> None:
    """Carol's phone has put Alice on hold when Alice transfers Bob to her: Bob joins a
    party that holds, so he hears music on hold until Carol resumes."""
    call1, _ = await place(pbx, "6001", "6002", "a1")
    call2, _ = await place(pbx, "6001", "6003", "a2")
    x1, x2 = pbx.leg("a1"), pbx.leg("a2")
    p1, p2 = x1.bridge.other(x1), x2.bridge.other(x2)
    sdp = "Content-Type: application/sdp\r\n"
    pbx.calls.on_invite(_from_callee(p2, "INVITE", sdp, cseq=70, body=HOLD_SDP), "tx-c-hold", C)
    await until(lambda: p2.holding and x2.features.moh_class == "default")
    pbx.calls.on_ack(_from_callee(p2, "ACK", cseq=70), None, C)
    replaces = f"a2%3Bto-tag%3D{call2.pbx_tag}%3Bfrom-tag%3D{call2.tag}"
    pbx.calls.on_in_dialog(refer(call1, f"<sip:6003@127.0.0.1?Replaces={replaces}>"),
                           "tx-refer", A)
    assert p1.bridge is p2.bridge
    assert p1.features.moh_class == "default" and p1.media.generating
    resume = SDP.replace(b"o=- 1 1", b"o=- 1 3")
    pbx.calls.on_invite(_from_callee(p2, "INVITE", sdp, cseq=71, body=resume), "tx-c-on", C)
    await until(lambda: not p2.holding and p1.features.moh_class is None)


async def test_attended_transfer_to_a_ringing_call_rings_on_for_the_transferee(
        pbx: Pbx) -> None:
    core = pbx.core
    call1, _ = await place(pbx, "6001", "6002", "a1")
    call2, to_c = await place(pbx, "6001", "6003", "a2", answer=False)
    x1, _x2 = pbx.leg("a1"), pbx.leg("a2")
    p1 = x1.bridge.other(x1)
    replaces = f"a2%3Bto-tag%3D{call2.pbx_tag}%3Bfrom-tag%3D{call2.tag}"
    pbx.calls.on_in_dialog(refer(call1, f"<sip:6003@127.0.0.1?Replaces={replaces}>"),
                           "tx-refer", A)
    await answer_notifies(pbx, A, [b"SIP/2.0 100 Trying\r\n", b"SIP/2.0 200 OK\r\n"])
    # The transferer's ringing call ends (the PBX refuses its INVITE); Carol still rings.
    await until(lambda: [r for r in core.answers(call2.tx) if r.status >= 300])
    assert core.sent("CANCEL", C) == [] and p1.bridge is None
    assert p1.player.playing_tone  # Bob hears the ring tone (indications.conf) in band
    to_c.callback(reply(to_c, 200, tag="6003-tag", body=SDP))
    p2 = await until(lambda: p1.bridge and p1.bridge.other(p1))
    assert p2.peer.name == "6003" and not p1.player.playing
    assert p1.variables["ATTENDEDTRANSFER"] == x1.name


# --------------------------------------------------------------------- INVITE/Replaces


async def test_invite_with_replaces_takes_over_a_bridged_leg(pbx: Pbx) -> None:
    core = pbx.core
    _, to_b = await place(pbx, "6001", "6002", "a1")
    a_leg = pbx.leg("a1")
    b_leg = a_leg.bridge.other(a_leg)
    # Phone D takes over Bob's call: Replaces names the PBX's dialog with Bob.
    take = Call("d1", "d1-t", "6004", "6002", D, "tx-d1")
    invite = phone_request(take, "INVITE", body=SDP, headers=(
        f"Replaces: {b_leg.call_id};to-tag={b_leg.local_tag};from-tag=6002-tag\r\n"))
    pbx.calls.on_invite(invite, take.tx, D)
    ok = await until(lambda: [r for r in core.answers(take.tx) if r.status == 200])
    take.pbx_tag = ok[0].to_addr.tag or ""
    pbx.calls.on_ack(phone_request(take, "ACK"), None, D)
    d_leg = pbx.leg("d1")
    assert a_leg.bridge.other(a_leg) is d_leg and d_leg.relay.active
    bye = await until(lambda: core.sent("BYE", B))  # the replaced leg is ended
    assert bye[0].request.call_id == to_b.request.call_id


async def test_invite_with_replaces_picks_up_a_ringing_call(pbx: Pbx) -> None:
    core = pbx.core
    call, to_b = await place(pbx, "6001", "6002", "a1", answer=False)
    b_leg = pbx.leg(to_b.request.call_id)
    take = Call("d1", "d1-t", "6004", "6002", D, "tx-d1")
    invite = phone_request(take, "INVITE", body=SDP, headers=(
        f"Replaces: {b_leg.call_id};to-tag={b_leg.local_tag};from-tag=6002-tag;early-only\r\n"))
    pbx.calls.on_invite(invite, take.tx, D)
    await until(lambda: [r for r in core.answers(take.tx) if r.status == 200])
    # The caller is answered and talks to D; Bob's phone stops ringing (CANCEL, with Reason).
    await until(lambda: [r for r in core.answers(call.tx) if r.status == 200])
    cancel = await until(lambda: core.sent("CANCEL", B))
    assert cancel[0].request.headers.get("Reason") == \
        'SIP;cause=200;text="Call completed elsewhere"'
    a_leg, d_leg = pbx.leg("a1"), pbx.leg("d1")
    await until(lambda: a_leg.bridge is not None)
    assert a_leg.bridge.other(a_leg) is d_leg


@pytest.mark.parametrize(("header", "status"), [
    ("nosuch;to-tag=a;from-tag=b", 481),
    ("garbage", 400),
])
async def test_invite_with_replaces_refused(pbx: Pbx, header: str, status: int) -> None:
    take = Call("d1", "d1-t", "6004", "6002", D, "tx-d1")
    invite = phone_request(take, "INVITE", body=SDP, headers=f"Replaces: {header}\r\n")
    pbx.calls.on_invite(invite, take.tx, D)
    final = await until(lambda: [r for r in pbx.core.answers(take.tx) if r.status >= 300])
    assert final[0].status == status


async def test_early_only_replaces_of_a_confirmed_call_is_486(pbx: Pbx) -> None:
    await place(pbx, "6001", "6002", "a1")
    a_leg = pbx.leg("a1")
    b_leg = a_leg.bridge.other(a_leg)
    take = Call("d1", "d1-t", "6004", "6002", D, "tx-d1")
    invite = phone_request(take, "INVITE", body=SDP, headers=(
        f"Replaces: {b_leg.call_id};to-tag={b_leg.local_tag};from-tag=6002-tag;early-only\r\n"))
    pbx.calls.on_invite(invite, take.tx, D)
    final = await until(lambda: [r for r in pbx.core.answers(take.tx) if r.status >= 300])
    assert final[0].status == 486


def _from_callee(leg: Any, method: str, headers: str = "", cseq: int = 50,
                 body: bytes = b"") -> Request:
    """A request from the phone of an outbound leg, in the PBX's dialog with it."""
    peer = leg.peer.name
    port = PHONES[peer].port
    data = (
        f"{method} sip:pbx@127.0.0.1:5060 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{peer}{method}{cseq};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:{peer}@127.0.0.1>;tag={peer}-tag\r\n"
        f"To: <sip:6001@127.0.0.1>;tag={leg.local_tag}\r\n"
        f"Call-ID: {leg.call_id}\r\n"
        f"CSeq: {cseq} {method}\r\n"
        f"Contact: <sip:{peer}@127.0.0.1:{port}>\r\n"
        f"{headers}Content-Length: {len(body)}\r\n\r\n").encode() + body
    msg = parse_message(data)
    assert isinstance(msg, Request)
    return msg


async def test_cdr_shows_a_blind_transfer(tmp_path: Path) -> None:
    """The transferer's record says what it did; the transferee gets a record of its
    own from the transfer on (dst = the target, same linkedid as the first call)."""
    from pbx.store import Store

    (tmp_path / "sip.conf").write_text(SIP_CONF)
    (tmp_path / "extensions.conf").write_text(DIALPLAN)
    (tmp_path / "pbx.yaml").write_text("rtp: {ports: [43000, 43999]}\nsip: {session_expires: 0}\n")
    store = await Store.open(tmp_path / "cdr.sqlite3")
    core = FakeCore()
    location = Location()
    calls = CallManager(core=core, config=load_config(tmp_path), location=location,
                        auth=DigestAuthenticator("pbx", b"k" * 32, lambda user: None),
                        store=store)
    await calls.start()
    pbx = Pbx(core, calls, location)
    for user in PHONES:
        pbx.register(user)
    try:
        call, _ = await place(pbx, "6001", "6002", "a1")
        a_leg = pbx.leg("a1")
        b_leg = a_leg.bridge.other(a_leg)
        pbx.calls.on_in_dialog(refer(call, "<sip:6003@127.0.0.1>"), "tx-refer", A)
        to_c = await until(lambda: core.sent("INVITE", C))
        to_c[0].callback(reply(to_c[0], 200, tag="c-tag", body=SDP))
        await answer_notifies(pbx, A, [b"SIP/2.0 100 Trying\r\n", b"SIP/2.0 200 OK\r\n"])
        bye_from(pbx, call)
        c_leg = await until(lambda: b_leg.bridge and b_leg.bridge.other(b_leg))
        pbx.calls.on_in_dialog(_from_callee(c_leg, "BYE"), "tx-c-bye", C)
        deadline = time.monotonic() + 3.0
        while len(got := await store.cdrs()) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        first = next(r for r in got if r["channel"] == a_leg.name)
        second = next(r for r in got if r["channel"] == b_leg.name)
        assert first["transfer"] == {"type": "blind", "role": "transferer",
                                     "transferer": a_leg.name, "transferee": b_leg.name,
                                     "target": "6003@internal"}
        assert first["dstchannel"] == b_leg.name and first["disposition"] == "ANSWERED"
        assert second["transfer"]["role"] == "transferee"
        assert second["dst"] == "6003" and second["dcontext"] == "internal"
        assert second["dstchannel"] == c_leg.name and second["src"] == "6002"
        assert second["linkedid"] == first["linkedid"] == a_leg.uniqueid
        assert second["start"] >= first["start"]
    finally:
        await calls.stop()
        await store.close()
