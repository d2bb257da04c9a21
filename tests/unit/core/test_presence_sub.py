"""SUBSCRIBE for busy lamps on a fake SIP core and a fake clock: digest (401),
489 for unknown events, 404 without a hint, 403 with allowsubscribe=no, 406,
the first NOTIFY, a NOTIFY per change with the caller while ringing, refresh,
unsubscribe, expiry, a subscriber that is gone (481), and the hint removed."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

from pbx.channel import CallerId, ChannelState
from pbx.config import Config, load_config
from pbx.devstate import DeviceStates
from pbx.hints import HintStates
from pbx.location import Binding, Location
from pbx.presence import PresencePackage
from pbx.sip.address import Address
from pbx.sip.auth import DigestAuthenticator, build_authorization, parse_challenge
from pbx.sip.message import Request, Response, make_response, parse_message
from pbx.sip_devstate import SipDevices
from pbx.subscriptions import SubscriptionServer
from tests.unit.core.test_b2bua import FakeCore
from tests.unit.core.test_devstate import Leg

SIP_CONF = """\
[general]
context=default
minexpiry=60
maxexpiry=3600

[office](!)
type=friend
host=dynamic
context=internal

[6001](office)
secret=6001pass
[6002](office)
secret=6002pass
[6003](office)
allowsubscribe=no
[6004](office)
subscribecontext=blf
"""

EXTENSIONS = """\
[internal]
exten => 6001,hint,SIP/6001(Alice)
exten => 6002,hint,SIP/6002
exten => 6002,1,Dial(SIP/6002)
[blf]
exten => 7001,hint,SIP/6001
"""

PHONE = Address("udp", "127.0.0.1", 40002)
NS = {"d": "urn:ietf:params:xml:ns:dialog-info", "p": "urn:ietf:params:xml:ns:pidf"}


def subscribe(user: str, exten: str, *, cseq: int = 1, event: str = "dialog",
              expires: int = 600, to_tag: str | None = None, auth: str | None = None,
              accept: str | None = None, call_id: str = "sub-1") -> Request:
    lines = [f"SUBSCRIBE sip:{exten}@127.0.0.1:5060 SIP/2.0",
             f"Via: SIP/2.0/UDP 127.0.0.1:40002;branch=z9hG4bK{call_id}{cseq};rport",
             "Max-Forwards: 70", f"From: <sip:{user}@127.0.0.1>;tag=w-tag",
             f"To: <sip:{exten}@127.0.0.1>" + (f";tag={to_tag}" if to_tag else ""),
             f"Call-ID: {call_id}", f"CSeq: {cseq} SUBSCRIBE",
             f"Contact: <sip:{user}@127.0.0.1:40002>", f"Event: {event}",
             f"Expires: {expires}"]
    if accept is not None:
        lines.append(f"Accept: {accept}")
    if auth is not None:
        lines.append(f"Authorization: {auth}")
    msg = parse_message(("\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n").encode())
    assert isinstance(msg, Request)
    return msg


@dataclass
class Blf:
    core: FakeCore
    server: SubscriptionServer
    config: Config
    location: Location
    sip: SipDevices
    auth: DigestAuthenticator
    passwords: dict[str, str]

    def send(self, req: Request, tx: str) -> Response:
        self.server.on_subscribe(req, tx, PHONE)  # type: ignore[arg-type]
        return self.core.answers(tx)[-1]

    def authorized(self, user: str, exten: str, **kw: object) -> Response:
        """SUBSCRIBE, 401, SUBSCRIBE with credentials: the final answer."""
        first = self.send(subscribe(user, exten, **kw), "tx-1")  # type: ignore[arg-type]
        assert first.status == 401
        challenge = parse_challenge(first.headers.get_all("WWW-Authenticate")[0])
        auth = build_authorization(challenge, user, self.passwords[user], "SUBSCRIBE",
                                   f"sip:{exten}@127.0.0.1:5060")
        kw = {**kw, "cseq": 2, "auth": auth}
        return self.send(subscribe(user, exten, **kw), "tx-2")  # type: ignore[arg-type]

    def notifies(self) -> list[Request]:
        return [s.request for s in self.core.sent("NOTIFY")]

    def ok(self, index: int = -1) -> None:
        """The phone answers a NOTIFY with 200."""
        sent = self.core.sent("NOTIFY")[index]
        resp = parse_message(make_response(sent.request, 200).to_bytes())
        sent.callback(resp)


@pytest.fixture
def blf(tmp_path: Path) -> Blf:
    (tmp_path / "sip.conf").write_text(SIP_CONF)
    (tmp_path / "extensions.conf").write_text(EXTENSIONS)
    config = load_config(tmp_path)
    core = FakeCore()
    location = Location()
    passwords = {"6001": "6001pass", "6002": "6002pass"}
    auth = DigestAuthenticator("pbx", b"k" * 32, passwords.get, algorithms=("MD5",))
    registry = DeviceStates()
    sip = SipDevices(registry, lambda: config, location, lambda p: False)
    sip.install()
    hints = HintStates(registry, lambda: config.dialplan)
    server = SubscriptionServer(core, lambda: config, lambda: auth)  # type: ignore[arg-type]
    package = PresencePackage(hints)
    server.add_package("dialog", package)
    server.add_package("presence", package)
    server.add_package("message-summary", NoMailbox())
    return Blf(core, server, config, location, sip, auth, passwords)


class NoMailbox:
    """A package that refuses every subscription (MWI for a peer without a mailbox)."""

    def check(self, req: Request, peer: object) -> tuple[int, str] | None:
        return 404, "Not Found"


def dialog_state(notify: Request) -> str | None:
    return ET.fromstring(notify.body).findtext("d:dialog/d:state", namespaces=NS)


def test_unknown_event_is_489_with_allow_events_and_packages_decide(blf: Blf) -> None:
    r = blf.send(subscribe("6001", "6002", event="conference"), "tx")
    assert r.status == 489
    assert r.headers.get("Allow-Events") == "dialog, message-summary, presence"
    # The package's refusal comes after the digest check.
    assert blf.send(subscribe("6002", "6002", event="message-summary"), "tx2").status == 401
    assert blf.authorized("6002", "6002", event="message-summary").status == 404


def test_refusals(blf: Blf) -> None:
    assert blf.authorized("6001", "6099").status == 404  # no hint
    assert blf.send(subscribe("6003", "6001"), "tx-3").status == 403  # allowsubscribe=no
    assert blf.authorized("6001", "6002", accept="application/pidf+xml").status == 406
    assert blf.send(subscribe("6004", "6001"), "tx-4").status == 404  # not in [blf]
    assert blf.send(subscribe("6004", "7001"), "tx-5").status == 200  # subscribecontext
    # A wrong password is 403.
    first = blf.send(subscribe("6001", "6002"), "tx-6")
    challenge = parse_challenge(first.headers.get_all("WWW-Authenticate")[0])
    bad = build_authorization(challenge, "6001", "wrong", "SUBSCRIBE",
                              "sip:6002@127.0.0.1:5060")
    assert blf.send(subscribe("6001", "6002", cseq=2, auth=bad), "tx-7").status == 403
    assert blf.send(subscribe("6001", "6002", expires=5), "tx-8").status == 401


def test_dialog_lamp_follows_the_call_then_refresh_unsubscribe(blf: Blf) -> None:
    core = blf.core
    blf.location.put(Binding(aor="6002", contact="sip:6002@127.0.0.1:5072",
                             expires_at=time.time() + 600))
    ok = blf.authorized("6001", "6002", accept="application/dialog-info+xml")
    assert ok.status == 200 and ok.headers.get("Expires") == "600"
    tag = ok.to_addr.tag
    [first] = blf.notifies()
    assert first.headers.get("Event") == "dialog"
    assert first.headers.get("Subscription-State") == "active;expires=600"
    assert first.content_type == "application/dialog-info+xml"
    assert dialog_state(first) == "terminated"  # idle
    doc = ET.fromstring(first.body)
    assert doc.get("version") == "0" and doc.get("entity") == "sip:6002@127.0.0.1"
    blf.ok()
    # 6001 calls 6002: ringing, with the caller; answered; held; hung up.
    leg = Leg("SIP/6002-1", blf.config.sip.peers["6002"], False,
              callerid=CallerId("6001", "Alice"))
    blf.sip.leg_changed(leg)
    ringing = blf.notifies()[-1]
    assert dialog_state(ringing) == "early"
    remote = ET.fromstring(ringing.body).find("d:dialog/d:remote/d:identity", NS)
    assert remote is not None and remote.text == "sip:6001@127.0.0.1"
    assert remote.get("display") == "Alice"
    assert ET.fromstring(ringing.body).get("version") == "1"
    # While that NOTIFY is unanswered, the answer and the hold coalesce into one.
    leg.state = ChannelState.UP
    blf.sip.leg_changed(leg)
    leg.held = True
    blf.sip.leg_changed(leg)
    assert len(blf.notifies()) == 2
    blf.ok()
    held = blf.notifies()[-1]
    assert dialog_state(held) == "confirmed" and b"+sip.rendering" in held.body
    blf.ok()
    leg.state = ChannelState.HUNGUP
    blf.sip.leg_changed(leg)
    assert dialog_state(blf.notifies()[-1]) == "terminated"
    blf.ok()
    versions = [ET.fromstring(n.body).get("version") for n in blf.notifies()]
    assert versions == ["0", "1", "2", "3"]
    assert [n.cseq[0] for n in blf.notifies()] == [1, 2, 3, 4]
    # A refresh 500 s later: 200, a NOTIFY with the new expiry.
    core.advance(500)
    r = blf.send(subscribe("6001", "6002", cseq=3, to_tag=tag, expires=600), "tx-r")
    assert r.status == 200 and r.headers.get("Expires") == "600"
    assert blf.notifies()[-1].headers.get("Subscription-State") == "active;expires=600"
    blf.ok()
    # Unsubscribe: 200, a last NOTIFY terminated, then 481 for the dialog.
    r = blf.send(subscribe("6001", "6002", cseq=4, to_tag=tag, expires=0), "tx-u")
    assert r.status == 200
    assert blf.notifies()[-1].headers.get("Subscription-State") == \
        "terminated;reason=timeout"
    assert blf.server.count() == 0
    r = blf.send(subscribe("6001", "6002", cseq=5, to_tag=tag), "tx-x")
    assert r.status == 481
    assert len(core.timers) == 0


def test_expiry_sends_the_last_notify_and_forgets(blf: Blf) -> None:
    ok = blf.authorized("6001", "6002", expires=120)
    assert ok.headers.get("Expires") == "120"
    blf.ok()
    blf.core.advance(119)
    assert len(blf.notifies()) == 1
    blf.core.advance(2)
    last = blf.notifies()[-1]
    assert last.headers.get("Subscription-State") == "terminated;reason=timeout"
    assert blf.server.count() == 0


def test_presence_pidf_and_a_subscriber_that_is_gone(blf: Blf) -> None:
    ok = blf.authorized("6002", "6001", event="presence", accept="application/pidf+xml")
    assert ok.status == 200
    [n] = blf.notifies()
    assert n.content_type == "application/pidf+xml"
    assert ET.fromstring(n.body).findtext("p:tuple/p:status/p:basic", namespaces=NS) == \
        "closed"  # 6001 is not registered
    blf.ok()
    blf.location.put(Binding(aor="6001", contact="sip:6001@127.0.0.1:5071",
                             expires_at=time.time() + 600))
    blf.sip.peer_changed("6001")
    n2 = blf.notifies()[-1]
    assert ET.fromstring(n2.body).findtext("p:note", namespaces=NS) == "Ready"
    sent = blf.core.sent("NOTIFY")[-1]
    sent.callback(parse_message(make_response(sent.request, 481).to_bytes()))
    assert blf.server.count() == 0


def test_hint_removed_by_a_reload_ends_the_subscription(blf: Blf, tmp_path: Path) -> None:
    blf.authorized("6001", "6002")
    blf.ok()
    (tmp_path / "extensions.conf").write_text("[internal]\nexten => 1,1,NoOp()\n")
    blf.config.dialplan = load_config(tmp_path).dialplan
    hints = blf.server.packages["dialog"].hints  # type: ignore[attr-defined]
    hints.refresh()
    last = blf.notifies()[-1]
    assert last.headers.get("Subscription-State") == "terminated;reason=noresource"
    assert blf.server.count() == 0 and hints.watchers("internal", "6002") == 0


async def test_mwi_rides_the_same_subscription_layer(blf: Blf) -> None:
    """message-summary: the first NOTIFY carries the counts, a change is told in the
    dialog, a refresh re-reads the counts, an unsubscribe ends both sides."""
    import asyncio

    from pbx.mwi_sip import MwiSip
    from voicemail.mwi import MwiNotifier

    counts = {"6002@default": (1, 0)}
    notifier = MwiNotifier(clock=blf.core.now)

    async def read(box: str) -> tuple[int, int]:
        return counts.get(box, (0, 0))

    notifier.counts = read
    tasks: list[asyncio.Task] = []
    mwi = MwiSip(signalling=blf.core, config=lambda: blf.config,  # type: ignore[arg-type]
                 location=blf.location, mwi=notifier,
                 spawn=lambda c: tasks.append(asyncio.ensure_future(c)))
    notifier.send_notify = mwi.send_notify
    blf.config.sip.peers["6002"].mailbox = "6002@default"
    notifier.set_peers({"6002": "6002@default"})
    blf.server.packages["message-summary"] = mwi

    async def settle() -> None:
        while tasks:
            await tasks.pop(0)

    ok = blf.authorized("6002", "6002", event="message-summary")
    assert ok.status == 200
    await settle()
    [first] = blf.notifies()
    assert first.content_type == "application/simple-message-summary"
    assert b"Messages-Waiting: yes" in first.body and b"Voice-Message: 1/0" in first.body
    assert first.headers.get("Subscription-State") == "active;expires=600"
    blf.ok()
    counts["6002@default"] = (0, 1)
    await notifier.mailbox_changed("6002@default")
    assert b"Voice-Message: 0/1" in blf.notifies()[-1].body
    blf.ok()
    tag = ok.to_addr.tag
    blf.core.advance(300)
    r = blf.send(subscribe("6002", "6002", cseq=3, to_tag=tag, event="message-summary"),
                 "tx-r")
    assert r.status == 200
    await settle()
    assert blf.notifies()[-1].headers.get("Subscription-State") == "active;expires=600"
    blf.ok()
    r = blf.send(subscribe("6002", "6002", cseq=4, to_tag=tag, event="message-summary",
                           expires=0), "tx-u")
    assert r.status == 200
    await settle()
    assert blf.notifies()[-1].headers.get("Subscription-State") == \
        "terminated;reason=timeout"
    assert blf.server.count() == 0 and notifier.subscriptions() == []
