"""The INVITE dialog usage on a fake clock: every message it sends is checked
the way a strict peer checks it (CSeq of each ACK, tags, Request-URI)."""

from __future__ import annotations

import pytest

from pbx.sip.address import Address
from pbx.sip.invite import (
    Accepted,
    AckReceived,
    AckTimeout,
    Cancelled,
    Failed,
    InviteSettings,
    OfferAnswered,
    OfferFailed,
    OfferReceived,
    OtherRequest,
    Progress,
    RemoteBye,
    Respond,
    SendRequest,
    SendStateless,
    SessionExpired,
    UsageState,
)
from pbx.sip.invite_usage import InviteUsage
from pbx.sip.message import Request, Response, make_response, parse_message
from pbx.sip.requests import new_request
from pbx.sip.timers import TimerHeap

LOCAL = Address("udp", "127.0.0.1", 5060)
PHONE = Address("udp", "127.0.0.1", 40000)
SDP_A = (b"v=0\r\no=a 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
         b"m=audio 4000 RTP/AVP 0\r\n")
SDP_B = SDP_A.replace(b"4000", b"4002")
SETTINGS = InviteSettings(t1=0.5, t2=4.0, session_expires=0)


class Edge:
    """What the real edge does, on a fake clock: fires the usage's timers."""

    def __init__(self) -> None:
        self.heap = TimerHeap()
        self.now = 100.0
        self.usage: InviteUsage | None = None
        self.fired: list[tuple[float, str]] = []

    def run_until(self, t: float) -> list:
        out: list = []
        while (deadline := self.heap.next_deadline()) is not None and deadline <= t:
            self.now = deadline
            handle = self.heap.pop_one_due(deadline)
            assert handle is not None and handle.owner is self
            self.fired.append((deadline, handle.kind))
            assert self.usage is not None
            out += self.usage.on_timer(handle.kind, self.now)
        self.now = t
        return out

    def advance(self, dt: float) -> list:
        return self.run_until(self.now + dt)


def wire(msg: Request | Response) -> Request | Response:
    """Through the wire: what the peer or the PBX parses."""
    return parse_message(msg.to_bytes())


def phone_invite(cseq: int = 1, body: bytes = SDP_A, extra: str = "") -> Request:
    data = (
        "INVITE sip:600@127.0.0.1 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bKinv1;rport\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:6001@127.0.0.1>;tag=caller\r\n"
        "To: <sip:600@127.0.0.1>\r\n"
        "Call-ID: call-1@127.0.0.1\r\n"
        f"CSeq: {cseq} INVITE\r\n"
        "Contact: <sip:6001@127.0.0.1:40000>\r\n"
        "Allow: INVITE, ACK, BYE, CANCEL, UPDATE\r\n"
        f"{extra}"
        "Content-Type: application/sdp\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    msg = parse_message(data)
    assert isinstance(msg, Request)
    return msg


def in_dialog(method: str, cseq: int, *, to_tag: str, body: bytes = b"",
              branch: str = "z9hG4bKx") -> Request:
    """A request from the phone in the dialog the PBX answered."""
    ctype = "Content-Type: application/sdp\r\n" if body else ""
    data = (
        f"{method} sip:600@127.0.0.1:5060 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:40000;branch={branch}{cseq}{method};rport\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:6001@127.0.0.1>;tag=caller\r\n"
        f"To: <sip:600@127.0.0.1>;tag={to_tag}\r\n"
        "Call-ID: call-1@127.0.0.1\r\n"
        f"CSeq: {cseq} {method}\r\n"
        "Contact: <sip:6001@127.0.0.1:40000>\r\n"
        f"{ctype}Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    msg = parse_message(data)
    assert isinstance(msg, Request)
    return msg


def uas(edge: Edge, invite: Request | None = None,
        settings: InviteSettings = SETTINGS) -> InviteUsage:
    usage = InviteUsage.uas(invite or phone_invite(), "tx-inv", reply_to=PHONE, local=LOCAL,
                            contact="<sip:600@127.0.0.1:5060>", local_tag="pbxtag",
                            timers=edge.heap, timer_owner=edge, settings=settings)
    edge.usage = usage
    return usage


def uac(edge: Edge, settings: InviteSettings = SETTINGS) -> tuple[InviteUsage, Request]:
    invite = new_request("INVITE", "sip:6002@127.0.0.1:40002", local=LOCAL, from_user="6001",
                         to_uri="sip:6002@127.0.0.1", body=SDP_A,
                         content_type="application/sdp")
    usage, actions = InviteUsage.uac(invite, dest=Address("udp", "127.0.0.1", 40002),
                                     local=LOCAL, contact="<sip:pbx@127.0.0.1:5060>",
                                     timers=edge.heap, timer_owner=edge, settings=settings)
    edge.usage = usage
    assert [type(a) for a in actions] == [SendRequest]
    return usage, actions[0].request


def reply(req: Request, status: int, *, to_tag: str | None = "callee", body: bytes = b"",
          extra: list[tuple[str, str]] | None = None) -> Response:
    """The callee's response to a request of ours, as parsed off the wire."""
    headers = [("Contact", "<sip:6002@127.0.0.1:40002>")] if 100 < status < 300 else []
    headers += extra or []
    resp = make_response(wire(req), status, to_tag=to_tag, headers=headers, body=body,
                         content_type="application/sdp" if body else None)
    out = wire(resp)
    assert isinstance(out, Response)
    return out


def sent(actions: list, kind: type) -> list:
    return [a for a in actions if isinstance(a, kind)]


def only(actions: list, kind: type):
    found = sent(actions, kind)
    assert len(found) == 1, actions
    return found[0]


def parsed_stateless(action: SendStateless) -> Request | Response:
    return parse_message(action.data)


# ------------------------------------------------------------------ UAS side


def test_uas_2xx_is_retransmitted_doubling_to_t2_until_the_ack() -> None:
    edge = Edge()
    usage = uas(edge)
    out = usage.respond(180, "Ringing", edge.now)
    ringing = only(out, Respond).response
    assert ringing.status == 180 and ringing.to_addr.tag == "pbxtag"
    assert ringing.headers.get("Contact") == "<sip:600@127.0.0.1:5060>"
    start = edge.now
    out = usage.respond(200, "OK", edge.now, body=SDP_B)
    ok = only(out, Respond).response
    assert ok.status == 200 and ok.body == SDP_B and usage.state is UsageState.ACCEPTED
    rtx = edge.advance(10.0)
    times = [round(t - start, 3) for t, kind in edge.fired if kind == "2xx"]
    assert times == [0.5, 1.5, 3.5, 7.5]  # T1, then doubling, capped at T2 = 4
    assert all(parse_message(a.data).status == 200 for a in rtx)
    assert {a.dest for a in rtx} == {PHONE}
    ack = in_dialog("ACK", 1, to_tag="pbxtag")
    out = usage.on_ack(ack, edge.now)
    assert [type(a) for a in out] == [AckReceived] and usage.state is UsageState.CONFIRMED
    assert edge.advance(60.0) == []  # nothing more: no retransmission, no ACK timeout


def test_uas_lost_ack_ends_the_call_with_bye_after_64_t1() -> None:
    edge = Edge()
    usage = uas(edge)
    usage.respond(200, "OK", edge.now, body=SDP_B)
    out = edge.advance(32.0)
    assert any(isinstance(a, AckTimeout) for a in out)
    bye = only(out, SendRequest).request
    assert bye.method == "BYE" and bye.cseq == (1, "BYE")
    assert bye.to_addr.tag == "caller" and bye.from_addr.tag == "pbxtag"
    assert str(bye.uri) == "sip:6001@127.0.0.1:40000"  # the caller's Contact
    assert usage.state is UsageState.TERMINATED


def test_uas_hangup_before_the_ack_waits_for_it_then_sends_bye() -> None:
    edge = Edge()
    usage = uas(edge)
    usage.respond(200, "OK", edge.now, body=SDP_B)
    assert usage.hangup(edge.now) == []  # 15: no BYE before the ACK of our 2xx
    out = usage.on_ack(in_dialog("ACK", 1, to_tag="pbxtag"), edge.now)
    assert only(out, SendRequest).request.method == "BYE"


def test_uas_cancel_before_answer_gets_487_and_nothing_after_answer() -> None:
    edge = Edge()
    usage = uas(edge)
    usage.respond(180, "Ringing", edge.now)
    out = usage.on_cancel(edge.now)
    assert only(out, Respond).response.status == 487
    assert any(isinstance(a, Cancelled) for a in out)
    assert usage.state is UsageState.TERMINATED
    edge2 = Edge()
    answered = uas(edge2)
    answered.respond(200, "OK", edge2.now, body=SDP_B)
    assert answered.on_cancel(edge2.now) == []


def test_uas_unanswered_hangup_sends_the_final_response() -> None:
    edge = Edge()
    usage = uas(edge)
    out = usage.hangup(edge.now, status=486, reason_phrase="Busy Here")
    assert only(out, Respond).response.status == 486
    assert usage.hangup(edge.now) == []


def test_remote_reinvite_hold_and_resume_with_fresh_cseq_and_acks() -> None:
    edge = Edge()
    usage = uas(edge)
    usage.respond(200, "OK", edge.now, body=SDP_B)
    usage.on_ack(in_dialog("ACK", 1, to_tag="pbxtag"), edge.now)
    for n, cseq in enumerate((2, 3, 4, 5, 6, 7)):
        reinvite = in_dialog("INVITE", cseq, to_tag="pbxtag", body=SDP_A)
        out = usage.on_request(reinvite, f"tx{n}", edge.now)
        assert [type(a) for a in out] == [OfferReceived]
        out = usage.answer_offer(200, edge.now, body=SDP_B)
        ok = only(out, Respond).response
        assert ok.cseq == (cseq, "INVITE") and ok.to_addr.tag == "pbxtag"
        out = usage.on_ack(in_dialog("ACK", cseq, to_tag="pbxtag"), edge.now)
        assert [type(a) for a in out] == [AckReceived]
    assert edge.advance(40.0) == []  # every 2xx was ACKed: nothing retransmitted


def test_remote_update_with_sdp_and_refresh_without() -> None:
    edge = Edge()
    usage = uas(edge)
    usage.respond(200, "OK", edge.now, body=SDP_B)
    usage.on_ack(in_dialog("ACK", 1, to_tag="pbxtag"), edge.now)
    out = usage.on_request(in_dialog("UPDATE", 2, to_tag="pbxtag", body=SDP_A), "txu",
                           edge.now)
    assert [type(a) for a in out] == [OfferReceived]
    resp = only(usage.answer_offer(200, edge.now, body=SDP_B), Respond).response
    assert resp.cseq == (2, "UPDATE") and resp.body == SDP_B
    out = usage.on_request(in_dialog("UPDATE", 3, to_tag="pbxtag"), "txr", edge.now)
    assert only(out, Respond).response.status == 200


def test_out_of_order_and_unknown_requests() -> None:
    edge = Edge()
    usage = uas(edge)
    usage.respond(200, "OK", edge.now, body=SDP_B)
    usage.on_ack(in_dialog("ACK", 1, to_tag="pbxtag"), edge.now)
    info = in_dialog("INFO", 5, to_tag="pbxtag")
    assert [type(a) for a in usage.on_request(info, "t", edge.now)] == [OtherRequest]
    old = usage.on_request(in_dialog("INFO", 4, to_tag="pbxtag"), "t2", edge.now)
    assert only(old, Respond).response.status == 500


def test_bye_from_the_remote() -> None:
    edge = Edge()
    usage = uas(edge)
    usage.respond(200, "OK", edge.now, body=SDP_B)
    usage.on_ack(in_dialog("ACK", 1, to_tag="pbxtag"), edge.now)
    out = usage.on_request(in_dialog("BYE", 2, to_tag="pbxtag"), "txb", edge.now)
    assert only(out, Respond).response.status == 200
    assert any(isinstance(a, RemoteBye) for a in out)
    assert usage.state is UsageState.TERMINATED
    again = usage.on_request(in_dialog("BYE", 3, to_tag="pbxtag"), "txb2", edge.now)
    assert only(again, Respond).response.status == 481


# ------------------------------------------------------------------ UAC side


def test_uac_answer_is_acked_with_the_invites_cseq_and_retransmissions_reacked() -> None:
    edge = Edge()
    usage, invite = uac(edge)
    out = usage.on_response(reply(invite, 180), edge.now)
    assert [type(a) for a in out] == [Progress]
    ok = reply(invite, 200, body=SDP_B)
    out = usage.on_response(ok, edge.now)
    ack_action = only(out, SendStateless)
    ack = parsed_stateless(ack_action)
    assert ack.method == "ACK" and ack.cseq == (invite.cseq[0], "ACK")
    assert ack.to_addr.tag == "callee" and str(ack.uri) == "sip:6002@127.0.0.1:40002"
    assert any(isinstance(a, Accepted) for a in out)
    again = usage.on_response(ok, edge.now)
    assert [a.data for a in again] == [ack_action.data]  # same ACK for the retransmission


def test_uac_reinvite_hold_resume_three_times_every_ack_has_its_invites_cseq() -> None:
    edge = Edge()
    usage, invite = uac(edge)
    usage.on_response(reply(invite, 200, body=SDP_B), edge.now)
    seen = []
    for _ in range(6):
        out = usage.offer(SDP_A, edge.now)
        reinvite = only(out, SendRequest).request
        assert reinvite.method == "INVITE" and reinvite.to_addr.tag == "callee"
        resp = reply(reinvite, 200, body=SDP_B)
        out = usage.on_response(resp, edge.now)
        ack = parsed_stateless(only(out, SendStateless))
        assert ack.cseq == (reinvite.cseq[0], "ACK")  # the bug baresip and pjsua2 saw
        assert any(isinstance(a, OfferAnswered) for a in out)
        seen.append(reinvite.cseq[0])
        # A retransmitted 2xx of this re-INVITE is ACKed again, with the same CSeq.
        again = usage.on_response(resp, edge.now)
        assert parsed_stateless(only(again, SendStateless)).cseq == (reinvite.cseq[0], "ACK")
    assert seen == list(range(invite.cseq[0] + 1, invite.cseq[0] + 7))


def test_cancel_waits_for_a_provisional_then_goes_with_its_reason() -> None:
    edge = Edge()
    usage, invite = uac(edge)
    reason = 'SIP;cause=200;text="Call completed elsewhere"'
    assert usage.cancel(edge.now, reason) == []  # 9.1: not before a provisional
    out = usage.on_response(reply(invite, 100, to_tag=None), edge.now)
    cancel = only(out, SendRequest).request
    assert cancel.method == "CANCEL" and cancel.cseq == (invite.cseq[0], "CANCEL")
    assert cancel.top_via.branch == invite.top_via.branch
    assert cancel.headers.get("Reason") == reason
    assert str(cancel.uri) == str(invite.uri)
    out = usage.on_response(reply(invite, 487), edge.now)
    assert [type(a) for a in out] == [Failed] and out[0].status == 487


def test_cancel_after_a_provisional_goes_at_once_and_once() -> None:
    edge = Edge()
    usage, invite = uac(edge)
    usage.on_response(reply(invite, 180), edge.now)
    out = usage.cancel(edge.now)
    assert only(out, SendRequest).request.method == "CANCEL"
    assert usage.cancel(edge.now) == []


def test_late_2xx_after_cancel_is_acked_then_byed() -> None:
    edge = Edge()
    usage, invite = uac(edge)
    usage.on_response(reply(invite, 180), edge.now)
    usage.cancel(edge.now)
    out = usage.on_response(reply(invite, 200, body=SDP_B), edge.now)
    ack = parsed_stateless(only(out, SendStateless))
    bye = only(out, SendRequest).request
    assert ack.cseq == (invite.cseq[0], "ACK") and bye.method == "BYE"
    assert bye.cseq[0] == invite.cseq[0] + 1 and bye.to_addr.tag == "callee"
    assert any(isinstance(a, Failed) for a in out)


def test_second_fork_answer_is_acked_and_byed() -> None:
    edge = Edge()
    usage, invite = uac(edge)
    usage.on_response(reply(invite, 200, body=SDP_B, to_tag="fork1"), edge.now)
    out = usage.on_response(reply(invite, 200, body=SDP_B, to_tag="fork2"), edge.now)
    ack = parsed_stateless(only(out, SendStateless))
    assert ack.to_addr.tag == "fork2"
    bye = only(out, SendRequest).request
    assert bye.method == "BYE" and bye.to_addr.tag == "fork2"
    assert usage.dialog is not None and usage.dialog.remote_tag == "fork1"


def test_rejection_timeout_and_transport_error() -> None:
    edge = Edge()
    usage, invite = uac(edge)
    out = usage.on_response(reply(invite, 486), edge.now)
    assert [(type(a), a.status) for a in out] == [(Failed, 486)]
    edge2 = Edge()
    usage2, invite2 = uac(edge2)
    assert usage2.on_failure("INVITE", invite2.cseq[0], edge2.now, status=503) == [
        Failed(503, None)]


def test_glare_491_both_ways_and_the_back_off() -> None:
    edge = Edge()
    usage, invite = uac(edge)
    usage.on_response(reply(invite, 200, body=SDP_B), edge.now)
    ours = only(usage.offer(SDP_A, edge.now), SendRequest).request
    # The remote's re-INVITE crosses ours: it gets 491.
    theirs = in_dialog("INVITE", 7, to_tag="callee", body=SDP_B)
    theirs.headers.set("From", "<sip:6002@127.0.0.1>;tag=callee")
    out = usage.on_request(theirs, "txg", edge.now)
    assert only(out, Respond).response.status == 491
    # Ours gets 491: the owner of the Call-ID waits 2.1-4 s, then tries again.
    assert usage.on_response(reply(ours, 491), edge.now) == []
    start = edge.now
    out = edge.advance(5.0)
    retry = only(out, SendRequest).request
    waited = next(t - start for t, kind in edge.fired if kind == "glare")
    assert 2.1 <= waited <= 4.0
    assert retry.cseq[0] == ours.cseq[0] + 1 and retry.body == SDP_A


def test_offer_while_busy_waits_and_the_newest_wins() -> None:
    edge = Edge()
    usage, invite = uac(edge)
    usage.on_response(reply(invite, 200, body=SDP_B), edge.now)
    first = only(usage.offer(b"first", edge.now), SendRequest).request
    assert usage.offer(b"second", edge.now) == []
    assert usage.offer(b"third", edge.now) == []
    out = usage.on_response(reply(first, 200, body=SDP_B), edge.now)
    nxt = only(out, SendRequest).request
    assert nxt.body == b"third" and nxt.cseq[0] == first.cseq[0] + 1


def test_reinvite_error_keeps_the_call_and_408_ends_it() -> None:
    edge = Edge()
    usage, invite = uac(edge)
    usage.on_response(reply(invite, 200, body=SDP_B), edge.now)
    r1 = only(usage.offer(SDP_A, edge.now), SendRequest).request
    out = usage.on_response(reply(r1, 488), edge.now)
    assert [type(a) for a in out] == [OfferFailed] and usage.state is UsageState.CONFIRMED
    r2 = only(usage.offer(SDP_A, edge.now), SendRequest).request
    out = usage.on_failure("INVITE", r2.cseq[0], edge.now)
    assert any(isinstance(a, OfferFailed) for a in out)
    assert only(out, SendRequest).request.method == "BYE"


# ------------------------------------------------------------- session timers


def test_session_timer_uas_expects_refreshes_and_byes_when_none_comes() -> None:
    edge = Edge()
    settings = InviteSettings(session_expires=1800, min_se=90)
    invite = phone_invite(extra="Supported: timer\r\nSession-Expires: 120;refresher=uac\r\n")
    usage = uas(edge, invite, settings)
    ok = only(usage.respond(200, "OK", edge.now, body=SDP_B), Respond).response
    assert ok.headers.get("Session-Expires") == "120;refresher=uac"
    assert ok.headers.get("Require") == "timer"
    usage.on_ack(in_dialog("ACK", 1, to_tag="pbxtag"), edge.now)
    assert edge.advance(70.0) == []
    # A refresh (UPDATE without SDP) pushes the expiry back.
    usage.on_request(in_dialog("UPDATE", 2, to_tag="pbxtag"), "txr", edge.now)
    assert edge.advance(70.0) == []
    out = edge.advance(20.0)  # 120 - min(32, 40) = 88 s after the refresh
    assert any(isinstance(a, SessionExpired) for a in out)
    assert only(out, SendRequest).request.method == "BYE"


def test_session_timer_uac_refreshes_at_half_with_update_when_allowed() -> None:
    edge = Edge()
    settings = InviteSettings(session_expires=1800, min_se=90)
    usage, invite = uac(edge, settings)
    assert invite.headers.get("Session-Expires") == "1800"
    ok = reply(invite, 200, body=SDP_B, extra=[("Session-Expires", "600;refresher=uac"),
                                              ("Allow", "INVITE, ACK, BYE, UPDATE")])
    usage.on_response(ok, edge.now)
    out = edge.advance(299.0)
    assert out == []
    out = edge.advance(2.0)
    update = only(out, SendRequest).request
    assert update.method == "UPDATE" and update.body == b""
    assert update.headers.get("Session-Expires") == "600;refresher=uac"
    out = usage.on_response(reply(update, 200, extra=[("Session-Expires",
                                                      "600;refresher=uac")]), edge.now)
    assert out == []
    assert only(edge.advance(301.0), SendRequest).request.method == "UPDATE"


def test_session_timer_refresh_by_reinvite_repeats_our_sdp() -> None:
    edge = Edge()
    settings = InviteSettings(session_expires=1800, min_se=90)
    usage, invite = uac(edge, settings)
    ok = reply(invite, 200, body=SDP_B, extra=[("Session-Expires", "200;refresher=uac")])
    usage.on_response(ok, edge.now)
    refresh = only(edge.advance(101.0), SendRequest).request
    assert refresh.method == "INVITE" and refresh.body == SDP_A
    out = usage.on_response(reply(refresh, 200, body=SDP_B), edge.now)
    assert parsed_stateless(only(out, SendStateless)).cseq == (refresh.cseq[0], "ACK")


@pytest.mark.parametrize("status", [408, 481])
def test_refresh_failure_that_kills_the_dialog(status: int) -> None:
    edge = Edge()
    usage, invite = uac(edge)
    usage.on_response(reply(invite, 200, body=SDP_B), edge.now)
    r = only(usage.offer(SDP_A, edge.now), SendRequest).request
    out = usage.on_response(reply(r, status), edge.now)
    assert only(out, SendRequest).request.method == "BYE"
