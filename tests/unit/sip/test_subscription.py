"""The notifier side of a SUBSCRIBE dialog on a fake clock (RFC 6665): every NOTIFY
is checked as a strict subscriber would (CSeq, tags, Subscription-State)."""

from __future__ import annotations

from typing import Any

from pbx.sip.address import Address
from pbx.sip.message import Request, Response, make_response, parse_message
from pbx.sip.subscription import (
    NotifyNeeded,
    Respond,
    SendRequest,
    ServerSubscription,
    SubscriptionEnded,
    SubscriptionSettings,
    SubState,
)
from pbx.sip.timers import TimerHeap

LOCAL = Address("udp", "127.0.0.1", 5060)
PHONE = Address("udp", "127.0.0.1", 40000)
SETTINGS = SubscriptionSettings(min_expires=60, max_expires=3600, default_expires=3600)
CT = "application/dialog-info+xml"


def subscribe(cseq: int = 1, *, expires: int | None = 600, to_tag: str | None = None,
              event: str = "dialog", contact: str = "sip:6002@127.0.0.1:40000") -> Request:
    lines = ["SUBSCRIBE sip:6001@127.0.0.1:5060 SIP/2.0",
             f"Via: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bKs{cseq};rport",
             "Max-Forwards: 70", "From: <sip:6002@127.0.0.1>;tag=sub-tag",
             "To: <sip:6001@127.0.0.1>" + (f";tag={to_tag}" if to_tag else ""),
             "Call-ID: sub-1@127.0.0.1", f"CSeq: {cseq} SUBSCRIBE", f"Contact: <{contact}>",
             f"Event: {event}", "Accept: application/dialog-info+xml"]
    if expires is not None:
        lines.append(f"Expires: {expires}")
    msg = parse_message(("\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n").encode())
    assert isinstance(msg, Request)
    return msg


class Edge:
    """What the real edge does, on a fake clock."""

    def __init__(self) -> None:
        self.heap = TimerHeap()
        self.now = 100.0
        self.sub: ServerSubscription | None = None

    def on_timer(self, kind: str, now: float) -> list:  # pragma: no cover - not called
        raise AssertionError

    def accept(self, req: Request) -> list:
        sub, actions = ServerSubscription.accept(
            req, "tx1", local_tag="our-tag", local=LOCAL, dest=PHONE,
            contact="<sip:pbx@127.0.0.1:5060>", settings=SETTINGS, now=self.now,
            timers=self.heap, timer_owner=self)
        self.sub = sub
        return actions

    def run_until(self, t: float) -> list:
        out: list = []
        while (deadline := self.heap.next_deadline()) is not None and deadline <= t:
            self.now = deadline
            handle = self.heap.pop_one_due(deadline)
            assert handle is not None and handle.owner is self
            assert self.sub is not None
            out += self.sub.on_timer(handle.kind, self.now)
        self.now = t
        return out


def sent(actions: list[Any]) -> list[Request]:
    """NOTIFYs as the subscriber receives them (serialised and parsed again)."""
    out = []
    for a in actions:
        if isinstance(a, SendRequest):
            assert a.dest == PHONE
            msg = parse_message(a.request.to_bytes())
            assert isinstance(msg, Request)
            out.append(msg)
    return out


def answer(req: Request, status: int) -> Response:
    resp = parse_message(make_response(req, status).to_bytes())
    assert isinstance(resp, Response)
    return resp


def test_accept_answers_200_with_tag_expiry_and_contact_then_notify_is_in_the_dialog() -> None:
    edge = Edge()
    [respond] = edge.accept(subscribe(expires=600))
    assert isinstance(respond, Respond) and respond.tx == "tx1"
    ok = respond.response
    assert ok.status == 200 and ok.to_addr.tag == "our-tag"
    assert ok.headers.get("Expires") == "600" and "pbx@" in (ok.headers.get("Contact") or "")
    sub = edge.sub
    assert sub is not None
    [notify] = sent(sub.notify(CT, b"<x/>", edge.now))
    assert str(notify.uri) == "sip:6002@127.0.0.1:40000"  # the subscriber's Contact
    assert notify.call_id == "sub-1@127.0.0.1"
    assert notify.from_addr.tag == "our-tag" and notify.to_addr.tag == "sub-tag"
    assert notify.cseq == (1, "NOTIFY")
    assert notify.headers.get("Event") == "dialog"
    assert notify.headers.get("Subscription-State") == "active;expires=600"
    assert notify.content_type == CT and notify.body == b"<x/>"
    assert notify.headers.get("Contact")


def test_expiry_capped_at_max_default_when_absent_and_too_brief_is_423() -> None:
    edge = Edge()
    [r] = edge.accept(subscribe(expires=100000))
    assert r.response.headers.get("Expires") == "3600"
    edge = Edge()
    [r] = edge.accept(subscribe(expires=None))
    assert r.response.headers.get("Expires") == "3600"
    edge = Edge()
    [r] = edge.accept(subscribe(expires=10))
    assert edge.sub is None
    assert r.response.status == 423 and r.response.headers.get("Min-Expires") == "60"


def test_one_notify_in_flight_only_the_newest_waits() -> None:
    edge = Edge()
    edge.accept(subscribe())
    sub = edge.sub
    assert sub is not None
    [first] = sent(sub.notify(CT, b"1", edge.now))
    assert sub.notify(CT, b"2", edge.now) == []
    assert sub.notify(CT, b"3", edge.now) == []  # replaces 2
    [second] = sent(sub.on_response(answer(first, 200), edge.now))
    assert second.body == b"3" and second.cseq == (2, "NOTIFY")
    assert sub.on_response(answer(second, 200), edge.now) == []
    [third] = sent(sub.notify(CT, b"4", edge.now))
    assert third.cseq == (3, "NOTIFY")


def test_refresh_in_the_dialog_resets_expiry_and_asks_for_a_notify() -> None:
    edge = Edge()
    edge.accept(subscribe(expires=600))
    sub = edge.sub
    assert sub is not None
    n1 = sent(sub.notify(CT, b"a", edge.now))[0]
    sub.on_response(answer(n1, 200), edge.now)
    edge.run_until(edge.now + 500)  # nothing due yet
    actions = sub.on_subscribe(subscribe(2, expires=600, to_tag="our-tag",
                                         contact="sip:6002@127.0.0.1:40009"), "tx2", edge.now)
    assert [type(a) for a in actions] == [Respond, NotifyNeeded]
    assert actions[0].response.status == 200
    assert actions[0].response.headers.get("Expires") == "600"
    [n2] = sent(sub.notify(CT, b"a", edge.now))
    assert str(n2.uri) == "sip:6002@127.0.0.1:40009"  # target refreshed
    assert n2.headers.get("Subscription-State") == "active;expires=600"
    sub.on_response(answer(n2, 200), edge.now)
    # The old expiry (t=700) passes without effect; the new one (t=1200) ends it.
    assert edge.run_until(1100.0) == []
    assert edge.run_until(1200.0) == [NotifyNeeded()] and sub.state is SubState.ENDING
    actions = sub.notify(CT, b"a", edge.now)
    [last] = sent(actions)
    assert last.headers.get("Subscription-State") == "terminated;reason=timeout"
    assert actions[-1] == SubscriptionEnded("timeout") and sub.state is SubState.TERMINATED


def test_unsubscribe_gets_200_and_a_terminated_notify_then_481() -> None:
    edge = Edge()
    edge.accept(subscribe())
    sub = edge.sub
    assert sub is not None
    sub.on_response(answer(sent(sub.notify(CT, b"a", edge.now))[0], 200), edge.now)
    actions = sub.on_subscribe(subscribe(2, expires=0, to_tag="our-tag"), "tx2", edge.now)
    assert actions[0].response.status == 200 and actions[0].response.headers.get("Expires") == "0"
    assert isinstance(actions[1], NotifyNeeded)
    out = sub.notify(CT, b"a", edge.now)
    assert sent(out)[0].headers.get("Subscription-State") == "terminated;reason=timeout"
    assert out[-1] == SubscriptionEnded("timeout")
    again = sub.on_subscribe(subscribe(3, to_tag="our-tag"), "tx3", edge.now)
    assert again[0].response.status == 481
    assert len(edge.heap) == 0  # no timer left behind


def test_fetch_with_expires_zero_sends_one_terminated_notify() -> None:
    edge = Edge()
    [r] = edge.accept(subscribe(expires=0))
    assert r.response.status == 200 and r.response.headers.get("Expires") == "0"
    sub = edge.sub
    assert sub is not None and len(edge.heap) == 0
    out = sub.notify(CT, b"now", edge.now)
    assert sent(out)[0].headers.get("Subscription-State") == "terminated;reason=timeout"
    assert out[-1] == SubscriptionEnded("timeout")


def test_old_cseq_wrong_event_and_too_brief_refresh() -> None:
    edge = Edge()
    edge.accept(subscribe(5))
    sub = edge.sub
    assert sub is not None
    old = sub.on_subscribe(subscribe(4, to_tag="our-tag"), "tx", edge.now)
    assert old[0].response.status == 500
    bad = sub.on_subscribe(subscribe(6, to_tag="our-tag", event="presence"), "tx", edge.now)
    assert bad[0].response.status == 489
    brief = sub.on_subscribe(subscribe(7, to_tag="our-tag", expires=5), "tx", edge.now)
    assert brief[0].response.status == 423 and sub.state is SubState.ACTIVE


def test_481_or_no_answer_to_a_notify_ends_it_silently() -> None:
    edge = Edge()
    edge.accept(subscribe())
    sub = edge.sub
    assert sub is not None
    n = sent(sub.notify(CT, b"a", edge.now))[0]
    assert sub.on_response(answer(n, 481), edge.now) == [SubscriptionEnded("rejected")]
    assert sub.notify(CT, b"b", edge.now) == [] and len(edge.heap) == 0
    edge = Edge()
    edge.accept(subscribe())
    sub = edge.sub
    assert sub is not None
    sent(sub.notify(CT, b"a", edge.now))
    sub.notify(CT, b"b", edge.now)  # waits behind the first
    assert sub.on_failure(408, edge.now) == [SubscriptionEnded("giveup")]
    assert sub.state is SubState.TERMINATED


def test_terminate_from_our_side_waits_for_the_notify_in_flight() -> None:
    edge = Edge()
    edge.accept(subscribe())
    sub = edge.sub
    assert sub is not None
    n = sent(sub.notify(CT, b"a", edge.now))[0]
    assert sub.terminate("noresource", edge.now) == []
    out = sub.on_response(answer(n, 200), edge.now)
    [last] = sent(out)
    assert last.headers.get("Subscription-State") == "terminated;reason=noresource"
    assert last.body == b"a" and out[-1] == SubscriptionEnded("noresource")


def test_a_callable_body_is_made_only_when_its_notify_goes() -> None:
    edge = Edge()
    edge.accept(subscribe())
    sub = edge.sub
    assert sub is not None
    made: list[int] = []

    def render(n: int) -> bytes:
        made.append(n)
        return str(n).encode()

    first = sent(sub.notify(CT, lambda: render(1), edge.now))[0]
    sub.notify(CT, lambda: render(2), edge.now)
    sub.notify(CT, lambda: render(3), edge.now)
    assert made == [1]  # 2 was replaced by 3 before it could go
    [second] = sent(sub.on_response(answer(first, 200), edge.now))
    assert made == [1, 3] and second.body == b"3"
