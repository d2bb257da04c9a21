"""A challenged INVITE (a provider's 401/407) on the fake clock: answered once with the
peer's credentials in a new INVITE (CSeq + 1, same Call-ID, From tag and To, new
branch); a second challenge, a missing or wrong-realm credential fails the call."""

from __future__ import annotations

import pytest

from pbx.sip.address import Address
from pbx.sip.auth import build_challenge, parse_authorization, verify_response
from pbx.sip.invite import (
    Accepted,
    Challenged,
    Failed,
    InviteSettings,
    SendRequest,
    SendStateless,
    UsageState,
)
from pbx.sip.invite_usage import InviteUsage
from pbx.sip.message import Request, Response
from pbx.sip.requests import new_request
from pbx.sip_model import OutboundAuth
from tests.unit.sip.test_invite import (
    LOCAL,
    SDP_A,
    SDP_B,
    Edge,
    only,
    parsed_stateless,
    reply,
    sent,
    wire,
)

PROVIDER = Address("udp", "127.0.0.1", 5070)
SETTINGS = InviteSettings(t1=0.5, t2=4.0, session_expires=0)
CREDS = OutboundAuth("office", "pwoffice")


def trunk_uac(edge: Edge, credentials: OutboundAuth | None = CREDS
              ) -> tuple[InviteUsage, Request]:
    invite = new_request("INVITE", "sip:2565550100@127.0.0.1:5070", local=LOCAL,
                         from_user="office", realm_host="pbx.test", from_tag="ourtag",
                         to_uri="sip:2565550100@127.0.0.1:5070", body=SDP_A,
                         content_type="application/sdp")
    usage, actions = InviteUsage.uac(invite, dest=PROVIDER, local=LOCAL,
                                     contact="<sip:office@127.0.0.1:5060>", timers=edge.heap,
                                     timer_owner=edge, settings=SETTINGS,
                                     credentials=credentials)
    edge.usage = usage
    return usage, wire(only(actions, SendRequest).request)


def challenge(req: Request, status: int, *, realm: str = "pbx.test", nonce: str = "n1",
              qop: str | None = "auth") -> Response:
    header = "WWW-Authenticate" if status == 401 else "Proxy-Authenticate"
    value = build_challenge(realm, nonce, qop=qop, opaque="op")
    return reply(req, status, to_tag="prov", extra=[(header, value)])


@pytest.mark.parametrize("status,header", [(401, "Authorization"),
                                           (407, "Proxy-Authorization")])
def test_challenge_is_answered_once_in_a_new_invite(status: int, header: str) -> None:
    edge = Edge()
    usage, first = trunk_uac(edge)
    usage.on_response(reply(first, 100, to_tag=None), edge.now)
    out = usage.on_response(challenge(first, status), edge.now)
    assert [type(a) for a in out] == [SendRequest, Challenged]
    assert out[1].status == status and out[1].realm == "pbx.test"
    second = wire(out[0].request)
    assert out[0].dest == PROVIDER
    # 8.1.3.5: same Call-ID, From (tag), To, Request-URI and body; CSeq + 1; new branch.
    assert second.call_id == first.call_id and second.from_addr.tag == "ourtag"
    assert second.headers.get("To") == first.headers.get("To")
    assert str(second.uri) == str(first.uri) and second.body == SDP_A
    assert second.cseq == (first.cseq[0] + 1, "INVITE")
    assert second.top_via.branch != first.top_via.branch
    creds = parse_authorization(second.headers.get(header) or "")
    assert creds is not None and creds.username == "office" and creds.realm == "pbx.test"
    assert creds.uri == "sip:2565550100@127.0.0.1:5070" and creds.opaque == "op"
    assert creds.qop == "auth" and creds.nc == "00000001"
    assert verify_response(creds, "INVITE", "pwoffice")
    # The answer to the new INVITE is ACKed with its CSeq.
    out = usage.on_response(reply(second, 200, body=SDP_B), edge.now)
    ack = parsed_stateless(only(out, SendStateless))
    assert ack.cseq == (second.cseq[0], "ACK") and ack.call_id == first.call_id
    assert any(isinstance(a, Accepted) for a in out)
    assert usage.state is UsageState.CONFIRMED


def test_a_second_challenge_fails_the_call() -> None:
    edge = Edge()
    usage, first = trunk_uac(edge)
    second = wire(sent(usage.on_response(challenge(first, 407), edge.now), SendRequest)[0]
                  .request)
    out = usage.on_response(challenge(second, 407, nonce="n2"), edge.now)
    failed = only(out, Failed)
    assert failed.status == 407 and not sent(out, SendRequest)
    assert usage.state is UsageState.TERMINATED


@pytest.mark.parametrize("credentials,realm,qop", [
    (None, "pbx.test", "auth"),  # nothing to answer with
    (OutboundAuth("office", "pwoffice", realm="other.example"), "pbx.test", "auth"),
    (CREDS, "pbx.test", "auth-int"),  # a qop we cannot compute
])
def test_a_challenge_we_cannot_answer_fails_at_once(credentials, realm, qop) -> None:
    edge = Edge()
    usage, first = trunk_uac(edge, credentials)
    out = usage.on_response(challenge(first, 401, realm=realm, qop=qop), edge.now)
    assert only(out, Failed).status == 401 and not sent(out, SendRequest)


def test_cancel_after_the_retry_cancels_the_new_invite() -> None:
    edge = Edge()
    usage, first = trunk_uac(edge)
    second = wire(sent(usage.on_response(challenge(first, 401), edge.now), SendRequest)[0]
                  .request)
    assert usage.cancel(edge.now, "SIP;cause=487") == []  # 9.1: no provisional yet
    out = usage.on_response(reply(second, 180, to_tag="callee"), edge.now)
    cancel = wire(only(out, SendRequest).request)
    assert cancel.method == "CANCEL" and cancel.cseq == (second.cseq[0], "CANCEL")
    assert cancel.top_via.branch == second.top_via.branch


def test_a_challenge_after_cancel_was_asked_for_is_not_answered() -> None:
    edge = Edge()
    usage, first = trunk_uac(edge)
    usage.cancel(edge.now)
    out = usage.on_response(challenge(first, 407), edge.now)
    assert only(out, Failed).status == 407 and not sent(out, SendRequest)


def test_the_retried_invite_timing_out_fails_with_408() -> None:
    edge = Edge()
    usage, first = trunk_uac(edge)
    second = wire(sent(usage.on_response(challenge(first, 401), edge.now), SendRequest)[0]
                  .request)
    # The first transaction's end says nothing about the new INVITE.
    assert usage.on_failure("INVITE", first.cseq[0], edge.now) == []
    out = usage.on_failure("INVITE", second.cseq[0], edge.now)
    assert only(out, Failed).status == 408
