"""REFER (RFC 3515) and Replaces (RFC 3891) on a fake clock: what is asked, the
202, the NOTIFYs with their sipfrag bodies (in order, one at a time), the
subscription's end, Refer-Sub: false (RFC 4488) and the expiry timer."""

from __future__ import annotations

import pytest

from pbx.sip.invite import Respond, SendRequest
from pbx.sip.invite_usage import InviteUsage
from pbx.sip.message import Request, Response, make_response, parse_message
from pbx.sip.refer import ReferError, ReferFinished, ReferNotifier, parse_refer
from pbx.sip.replaces import ReplacesError, parse_replaces
from tests.unit.sip.test_invite import SDP_B, Edge, in_dialog, uas

CONTACT = "<sip:600@127.0.0.1:5060>"


def refer(cseq: int = 2, *, refer_to: str = "<sip:6003@127.0.0.1>", extra: str = "") -> Request:
    data = (
        "REFER sip:600@127.0.0.1:5060 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bKref{cseq};rport\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:6001@127.0.0.1>;tag=caller\r\n"
        "To: <sip:600@127.0.0.1>;tag=pbxtag\r\n"
        "Call-ID: call-1@127.0.0.1\r\n"
        f"CSeq: {cseq} REFER\r\n"
        "Contact: <sip:6001@127.0.0.1:40000>\r\n"
        f"Refer-To: {refer_to}\r\n"
        "Referred-By: <sip:6001@127.0.0.1>\r\n"
        f"{extra}Content-Length: 0\r\n\r\n").encode()
    msg = parse_message(data)
    assert isinstance(msg, Request)
    return msg


def confirmed(edge: Edge) -> InviteUsage:
    usage = uas(edge)
    usage.respond(200, "OK", edge.now, body=SDP_B)
    usage.on_ack(in_dialog("ACK", 1, to_tag="pbxtag"), edge.now)
    return usage


def notifier(edge: Edge, usage: InviteUsage, req: Request) -> ReferNotifier:
    n = ReferNotifier(req, "tx-refer", request=parse_refer(req), contact=CONTACT,
                      make_request=usage.request, timers=edge.heap, timer_owner=edge)
    edge.usage = n  # type: ignore[assignment]  # the edge fires the notifier's timers
    return n


def answer(action: SendRequest, status: int = 200) -> Response:
    resp = parse_message(make_response(parse_message(action.request.to_bytes()),
                                       status).to_bytes())
    assert isinstance(resp, Response)
    return resp


def notifies(actions: list) -> list[SendRequest]:
    return [a for a in actions if isinstance(a, SendRequest) and a.request.method == "NOTIFY"]


# --------------------------------------------------------------------------- parsing


def test_parse_blind_and_attended_refer_to() -> None:
    blind = parse_refer(refer())
    assert blind.exten == "6003" and blind.replaces is None and blind.subscribe
    assert blind.referred_by == "<sip:6001@127.0.0.1>"
    # pjsua2's xferReplaces: Replaces escaped inside the URI's headers.
    attended = parse_refer(refer(refer_to=(
        "<sip:6003@127.0.0.1:5060?Replaces=call-2%40127.0.0.1%3Bto-tag%3Dpbx2"
        "%3Bfrom-tag%3Dphone2>")))
    assert attended.replaces is not None
    assert (attended.replaces.call_id, attended.replaces.to_tag,
            attended.replaces.from_tag) == ("call-2@127.0.0.1", "pbx2", "phone2")
    assert attended.target.headers == {} and attended.exten == "6003"
    assert not parse_refer(refer(extra="Refer-Sub: false\r\n")).subscribe
    assert parse_refer(refer(refer_to="<sip:127.0.0.1>")).exten == "s"


@pytest.mark.parametrize("refer_to", ["<tel:+15551234>", "<sip:6003@127.0.0.1?Replaces=x>",
                                      "<sip:6003@127.0.0.1?Replaces=x%3Bto-tag%3Da>"])
def test_unusable_refer_to_is_400(refer_to: str) -> None:
    with pytest.raises(ReferError) as exc:
        parse_refer(refer(refer_to=refer_to))
    assert exc.value.status == 400


def test_refer_without_refer_to_is_400() -> None:
    req = refer()
    req.headers.remove("Refer-To")
    with pytest.raises(ReferError):
        parse_refer(req)


def test_parse_replaces_header() -> None:
    r = parse_replaces("98732@sip.example.com ;from-tag=r33th4x0r;to-tag=ff87ff;early-only")
    assert (r.call_id, r.to_tag, r.from_tag, r.early_only) == \
        ("98732@sip.example.com", "ff87ff", "r33th4x0r", True)
    for bad in ("", ";to-tag=a;from-tag=b", "id;to-tag=a", "id;from-tag=b"):
        with pytest.raises(ReplacesError):
            parse_replaces(bad)


# ------------------------------------------------------------------ the subscription


def test_202_then_100_trying_then_ringing_then_final_200_in_order() -> None:
    edge = Edge()
    usage = confirmed(edge)
    n = notifier(edge, usage, refer())
    out = n.accept(edge.now)
    accepted = next(a for a in out if isinstance(a, Respond)).response
    assert accepted.status == 202 and accepted.headers.get("Contact") == CONTACT
    first = notifies(out)
    assert len(first) == 1
    trying = first[0].request
    assert trying.headers.get("Event") == "refer"
    assert trying.headers.get("Subscription-State") == "active;expires=600"
    assert trying.headers.get("Content-Type") == "message/sipfrag;version=2.0"
    assert trying.body == b"SIP/2.0 100 Trying\r\n"
    # In the INVITE dialog: its tags, its Call-ID, its next CSeq; to the phone.
    assert trying.call_id == "call-1@127.0.0.1" and trying.to_addr.tag == "caller"
    assert trying.from_addr.tag == "pbxtag" and trying.cseq == (1, "NOTIFY")
    assert first[0].dest == usage.dest
    # The target rings, then answers, before the phone answered the first NOTIFY:
    # nothing goes until it does, then only the newest state (no stale 180 after 200).
    assert n.progress(180, None, edge.now) == []
    assert n.finish(200, None, edge.now) == []
    out = n.on_response(answer(first[0]), edge.now)
    final = notifies(out)
    assert len(final) == 1 and final[0].request.body == b"SIP/2.0 200 OK\r\n"
    assert final[0].request.headers.get("Subscription-State") == \
        "terminated;reason=noresource"
    assert final[0].request.cseq == (2, "NOTIFY")
    assert not n.finished
    out = n.on_response(answer(final[0]), edge.now)
    assert out == [ReferFinished(200)] and n.finished
    assert edge.advance(700.0) == []  # the expiry timer was cancelled


def test_ringing_is_notified_when_the_line_is_free() -> None:
    edge = Edge()
    usage = confirmed(edge)
    n = notifier(edge, usage, refer())
    trying = notifies(n.accept(edge.now))[0]
    assert n.on_response(answer(trying), edge.now) == []
    ringing = notifies(n.progress(180, None, edge.now))[0]
    assert ringing.request.body == b"SIP/2.0 180 Ringing\r\n"
    assert ringing.request.headers.get("Subscription-State").startswith("active")
    n.on_response(answer(ringing), edge.now)
    busy = notifies(n.finish(486, None, edge.now))[0]
    assert busy.request.body == b"SIP/2.0 486 Busy Here\r\n"
    assert n.on_response(answer(busy), edge.now) == [ReferFinished(486)]


def test_refer_sub_false_gets_202_with_refer_sub_and_no_notify() -> None:
    edge = Edge()
    usage = confirmed(edge)
    n = notifier(edge, usage, refer(extra="Refer-Sub: false\r\n"))
    out = n.accept(edge.now)
    resp = next(a for a in out if isinstance(a, Respond)).response
    assert resp.status == 202 and resp.headers.get("Refer-Sub") == "false"
    assert notifies(out) == [] and ReferFinished(0) in out
    assert n.progress(180, None, edge.now) == [] and n.finish(200, None, edge.now) == []


def test_the_phone_dropping_the_subscription_ends_it() -> None:
    edge = Edge()
    usage = confirmed(edge)
    n = notifier(edge, usage, refer())
    trying = notifies(n.accept(edge.now))[0]
    assert n.on_response(answer(trying, 481), edge.now) == [ReferFinished(487)]
    assert n.finish(200, None, edge.now) == []  # nothing more is sent


def test_a_lost_notify_ends_the_subscription() -> None:
    edge = Edge()
    usage = confirmed(edge)
    n = notifier(edge, usage, refer())
    trying = notifies(n.accept(edge.now))[0]
    assert n.on_failure(trying.request.cseq[0] + 5, edge.now) == []  # not ours
    assert n.on_failure(trying.request.cseq[0], edge.now) == [ReferFinished(487)]


def test_expiry_sends_terminated_timeout_with_the_last_state() -> None:
    edge = Edge()
    usage = confirmed(edge)
    n = notifier(edge, usage, refer())
    n.on_response(answer(notifies(n.accept(edge.now))[0]), edge.now)
    n.on_response(answer(notifies(n.progress(180, None, edge.now))[0]), edge.now)
    out = edge.advance(600.0)
    last = notifies(out)
    assert len(last) == 1
    assert last[0].request.headers.get("Subscription-State") == "terminated;reason=timeout"
    assert last[0].request.body == b"SIP/2.0 180 Ringing\r\n"
    assert n.on_response(answer(last[0]), edge.now) == [ReferFinished(180)]


def test_second_refer_of_a_dialog_names_its_cseq_in_event() -> None:
    edge = Edge()
    usage = confirmed(edge)
    req = refer(cseq=7)
    n = ReferNotifier(req, "tx", request=parse_refer(req), contact=CONTACT,
                      make_request=usage.request, timers=edge.heap, timer_owner=edge,
                      event_id=7)
    assert notifies(n.accept(edge.now))[0].request.headers.get("Event") == "refer;id=7"


def test_no_notify_once_the_dialog_is_over() -> None:
    edge = Edge()
    usage = confirmed(edge)
    n = notifier(edge, usage, refer())
    trying = notifies(n.accept(edge.now))[0]
    usage.on_request(in_dialog("BYE", 3, to_tag="pbxtag"), "tx-bye", edge.now)
    assert n.on_response(answer(trying), edge.now) == []
    assert n.finish(200, None, edge.now) == [ReferFinished(200)]


def test_reject_answers_the_refer() -> None:
    edge = Edge()
    usage = confirmed(edge)
    n = notifier(edge, usage, refer())
    out = n.reject(603, "Declined")
    assert out[0].response.status == 603 and out[1] == ReferFinished(603)
