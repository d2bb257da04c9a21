"""SIP MESSAGE through the dialplan on a fake SIP core: 407 digest as INVITE, 415,
404 without an extension, MessageSend to every contact of the peer, and what
the sender is told (202, 404, 480, the phone's own refusal, 408)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dialplan.services import DialplanServices
from pbx import messaging as messaging_mod
from pbx.calls import CallManager
from pbx.config import load_config
from pbx.location import Binding, Location
from pbx.messaging import Messaging, destination_peer
from pbx.sip.address import Address
from pbx.sip.auth import DigestAuthenticator, build_authorization, parse_challenge
from pbx.sip.message import Request, Response, parse_message
from tests.unit.core.test_b2bua import FakeCore, reply, until

SIP_CONF = """\
[general]
context=default

[office](!)
type=friend
host=dynamic
context=internal
outofcall_message_context=messages

[6001](office)
secret=6001pass
callerid="Alice" <6001>
[6002](office)
[6003](office)
[7000](office)
outofcall_message_context=other
"""

DIALPLAN = """\
[internal]
[other]
exten => _X.,1,Set(GLOBAL(SEEN)=${MESSAGE(body)})
[messages]
exten => _X.,1,Set(GLOBAL(LAST)=${MESSAGE(from)}|${MESSAGE(to)}|${CALLERID(name)}|\
${MESSAGE_DATA(X-Priority)})
 same => n,MessageSend(pjsip:${EXTEN},${MESSAGE(from)})
 same => n,Set(GLOBAL(STATUS)=${MESSAGE_SEND_STATUS})
exten => 9999,1,MessageSend(sip:nobody)
"""

A = Address("udp", "127.0.0.1", 40001)
B1 = Address("udp", "127.0.0.1", 40002)
B2 = Address("udp", "127.0.0.1", 40003)


def test_destinations() -> None:
    assert destination_peer("pjsip:6002") == ("6002", "")
    assert destination_peer("sip:6002@127.0.0.1:5060") == ("6002", "")
    assert destination_peer("PJSIP/6002") == ("6002", "")
    assert destination_peer("pjsip:6002/sip:6002@10.0.0.1") == ("6002", "")
    assert destination_peer("xmpp:bob@example.com") == (None, "INVALID_PROTOCOL")
    assert destination_peer("sip:") == (None, "INVALID_URI")


def message(user: str, to: str, body: bytes = b"hello", *, cseq: int = 1,
            content_type: str = "text/plain", auth: str | None = None,
            extra: str = "") -> Request:
    data = (
        f"MESSAGE sip:{to}@127.0.0.1:5060 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:40001;branch=z9hG4bKm{cseq}x{to};rport\r\n"
        "Max-Forwards: 70\r\n"
        f'From: "Al" <sip:{user}@127.0.0.1:40001>;tag=m-tag\r\n'
        f"To: <sip:{to}@127.0.0.1:5060>\r\n"
        f"Call-ID: msg-{to}-{cseq}\r\n"
        f"CSeq: {cseq} MESSAGE\r\n"
        f"Content-Type: {content_type}\r\n"
        + (f"Proxy-Authorization: {auth}\r\n" if auth else "")
        + extra
        + f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    msg = parse_message(data)
    assert isinstance(msg, Request)
    return msg


@dataclass
class Im:
    core: FakeCore
    messaging: Messaging
    location: Location
    services: DialplanServices
    auth: DigestAuthenticator

    def register(self, name: str, *addrs: Address) -> None:
        for addr in addrs:
            self.location.put(Binding(aor=name, contact=f"sip:{name}@{addr.host}:{addr.port}",
                                      expires_at=time.time() + 600, source_host=addr.host,
                                      source_port=addr.port))

    async def final(self, tx: str) -> Response:
        got = await until(lambda: [r for r in self.core.answers(tx) if r.status >= 200])
        return got[0]


@pytest.fixture
async def im(tmp_path: Path) -> AsyncIterator[Im]:
    (tmp_path / "sip.conf").write_text(SIP_CONF)
    (tmp_path / "extensions.conf").write_text(DIALPLAN)
    config = load_config(tmp_path)
    core = FakeCore()
    location = Location()
    auth = DigestAuthenticator("pbx", b"k" * 32, {"6001": "6001pass"}.get,
                               algorithms=("MD5",))
    services = DialplanServices()
    calls = CallManager(core=core, config=config, location=location,  # type: ignore[arg-type]
                        auth=auth, store=None, dialplan_services=services)
    im = Messaging(signalling=core, config=lambda: config,  # type: ignore[arg-type]
                   location=location, identify=calls.identify, spawn=calls.spawn,
                   dialplan_services=services, in_dialog=calls.on_in_dialog)
    services.messages = im
    yield Im(core, im, location, services, auth)
    await calls.stop()


async def authorized(im: Im, to: str, tx: str, **kw: object) -> None:
    """6001 sends to `to`: 407, then again with credentials."""
    im.messaging.on_message(message("6001", to, **kw), "tx-0", A)  # type: ignore[arg-type]
    challenge = im.core.answers("tx-0")[-1]
    assert challenge.status == 407
    ch = parse_challenge(challenge.headers.get_all("Proxy-Authenticate")[0])
    auth = build_authorization(ch, "6001", "6001pass", "MESSAGE", f"sip:{to}@127.0.0.1:5060")
    im.messaging.on_message(message("6001", to, cseq=2, auth=auth, **kw),  # type: ignore[arg-type]
                            tx, A)


async def test_message_is_routed_and_delivered_to_every_contact(im: Im) -> None:
    im.register("6002", B1, B2)
    await authorized(im, "6002", "tx-1", body="héllo 6002".encode(),
                     extra="X-Priority: high\r\n")
    sent = await until(lambda: im.core.sent("MESSAGE") if len(im.core.sent("MESSAGE")) == 2
                       else None)
    assert {s.dest for s in sent} == {B1, B2}
    out = sent[0].request
    assert out.body == "héllo 6002".encode() and out.content_type == "text/plain"
    assert out.from_addr.uri.user == "6001" and out.from_addr.display == "Al"
    assert out.headers.get("X-Priority") == "high"
    assert im.services.globals["LAST"] == \
        '"Al" <sip:6001@127.0.0.1>|sip:6002@127.0.0.1:5060|Alice|high'
    sent[0].callback(reply(sent[0], 486))  # one phone refuses, the other takes it
    sent[1].callback(reply(sent[1], 200))
    final = await im.final("tx-1")
    assert final.status == 202
    assert im.services.globals["STATUS"] == "SUCCESS"


async def test_what_the_sender_is_told(im: Im) -> None:
    # 404: no such extension in the message context (6001's is [messages]; 6003's too).
    im.messaging.on_message(message("6003", "abc"), "tx-a", A)
    assert (await im.final("tx-a")).status == 404
    # 404: MessageSend to a peer nobody knows; 480: a known one with no contact.
    im.messaging.on_message(message("6003", "9999"), "tx-b", A)
    assert (await im.final("tx-b")).status == 404
    im.messaging.on_message(message("6003", "6002"), "tx-c", A)
    assert (await im.final("tx-c")).status == 480
    assert im.services.globals["STATUS"] == "FAILURE"
    # The phone's own refusal is passed on.
    im.register("6002", B1)
    im.messaging.on_message(message("6003", "6002", cseq=2), "tx-d", A)
    [sent] = await until(lambda: im.core.sent("MESSAGE"))
    sent.callback(reply(sent, 486))
    assert (await im.final("tx-d")).status == 486
    # 415: not text/plain (Asterisk's rule).
    im.messaging.on_message(message("6003", "6002", content_type="text/html"), "tx-e", A)
    final = im.core.answers("tx-e")[-1]
    assert final.status == 415 and final.headers.get("Accept") == "text/plain"
    # 513: too large.
    im.messaging.on_message(message("6003", "6002", b"x" * 5000), "tx-f", A)
    assert im.core.answers("tx-f")[-1].status == 513
    # A context without MessageSend takes the message: 202.
    im.messaging.on_message(message("7000", "42", b"kept"), "tx-g", A)
    assert (await im.final("tx-g")).status == 202
    assert im.services.globals["SEEN"] == "kept"


async def test_a_phone_that_does_not_answer_is_408(im: Im,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(messaging_mod, "SEND_WAIT", 0.05)
    im.register("6002", B1)
    im.messaging.on_message(message("6003", "6002"), "tx", A)
    assert (await im.final("tx")).status == 408


async def test_a_slow_dialplan_is_answered_202_and_goes_on(
        im: Im, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(messaging_mod, "DIALPLAN_WAIT", 0.05)
    im.register("6002", B1)
    im.messaging.on_message(message("6003", "6002"), "tx", A)
    assert (await im.final("tx")).status == 202  # before the phone answered
    [sent] = await until(lambda: im.core.sent("MESSAGE"))
    sent.callback(reply(sent, 200))
    await until(lambda: im.services.globals.get("STATUS") == "SUCCESS")
    await asyncio.sleep(0)
    assert im.messaging.in_flight == 0


async def test_wrong_password_is_403(im: Im) -> None:
    im.messaging.on_message(message("6001", "6002"), "tx-0", A)
    ch = parse_challenge(im.core.answers("tx-0")[-1].headers.get_all("Proxy-Authenticate")[0])
    bad = build_authorization(ch, "6001", "nope", "MESSAGE", "sip:6002@127.0.0.1:5060")
    im.messaging.on_message(message("6001", "6002", cseq=2, auth=bad), "tx-1", A)
    assert im.core.answers("tx-1")[-1].status == 403
