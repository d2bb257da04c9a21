"""Transaction layer with real parsed messages (pbx.sip.message)."""

from __future__ import annotations

from pathlib import Path

from pbx.sip.message import Request, Response, make_response, parse_message
from pbx.sip.transaction import (
    COMPLETED,
    CONFIRMED,
    AckReceived,
    CancelReceived,
    DeliverRequest,
    DeliverResponse,
    Send,
    Terminated,
    Timeout,
    TransactionLayer,
    build_cancel_bytes,
    check_max_forwards,
    new_branch,
)

PEER = ("192.0.2.10", 5060)
TORTURE = Path(__file__).resolve().parents[2] / "torture"


def request(
    method: str,
    branch: str,
    *,
    cseq: int = 1,
    to_tag: str | None = None,
    call_id: str = "a84b4c76e66710@pc33.example.com",
    max_forwards: int = 70,
    extra: str = "",
) -> Request:
    to = "<sip:bob@example.com>" + (f";tag={to_tag}" if to_tag else "")
    cseq_method = "INVITE" if method == "ACK" else method
    data = (
        f"{method} sip:bob@example.com SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP pc33.example.com:5060;branch={branch}\r\n"
        f"Max-Forwards: {max_forwards}\r\n"
        f"To: {to}\r\n"
        "From: Alice <sip:alice@example.com>;tag=1928301774\r\n"
        f"Call-ID: {call_id}\r\n"
        f"CSeq: {cseq} {cseq_method}\r\n"
        "Contact: <sip:alice@pc33.example.com>\r\n"
        f"{extra}"
        "Content-Length: 0\r\n\r\n"
    ).encode()
    msg = parse_message(data)
    assert isinstance(msg, Request)
    return msg


def reparse(data: bytes) -> Response | Request:
    return parse_message(data)


def drain(layer: TransactionLayer, until: float) -> list[tuple[float, object]]:
    out: list[tuple[float, object]] = []
    while (t := layer.next_deadline()) is not None and t <= until:
        out.extend((t, a) for a in layer.timeout_due(t))
    return out


def test_uac_invite_rejected_ack_is_well_formed() -> None:
    layer = TransactionLayer()
    branch = new_branch()
    inv = request(
        "INVITE",
        branch,
        extra="Route: <sip:p1.example.com;lr>\r\nRoute: <sip:p2.example.com;lr>\r\n",
    )
    # Outgoing requests carry our own Via on top; the layer keys on it.
    tx, actions = layer.send_request(inv, PEER, 0.0)
    assert actions == [Send(inv.to_bytes(), PEER)]
    busy = reparse(make_response(inv, 486, to_tag="callee1").to_bytes())
    acts = layer.receive(busy, PEER, 0.2)
    assert isinstance(acts[0], Send) and acts[1] == DeliverResponse(busy, tx)
    ack = reparse(acts[0].data)
    assert isinstance(ack, Request) and ack.method == "ACK"
    assert str(ack.uri) == "sip:bob@example.com"
    assert ack.cseq == (1, "ACK")
    assert ack.call_id == inv.call_id
    assert ack.from_addr.tag == "1928301774"
    assert ack.to_addr.tag == "callee1"
    assert [v.branch for v in ack.vias] == [branch]
    assert [str(r.uri) for r in ack.routes] == ["sip:p1.example.com;lr", "sip:p2.example.com;lr"]
    assert ack.max_forwards == 70
    assert tx.state is COMPLETED


def test_uac_cancel_bytes_match_invite() -> None:
    layer = TransactionLayer()
    branch = new_branch()
    inv = request("INVITE", branch)
    itx, _ = layer.send_request(inv, PEER, 0.0)
    layer.receive(reparse(make_response(inv, 180, to_tag="x").to_bytes()), PEER, 0.1)
    cancel = reparse(build_cancel_bytes(itx))
    assert isinstance(cancel, Request)
    assert cancel.method == "CANCEL" and cancel.cseq == (1, "CANCEL")
    assert cancel.top_via.branch == branch and cancel.to_addr.tag is None
    ctx, acts = layer.send_request(cancel, PEER, 0.5)
    assert len(acts) == 1
    ok = reparse(make_response(cancel, 200).to_bytes())
    assert layer.receive(ok, PEER, 0.6)[0] == DeliverResponse(ok, ctx)
    terminated = reparse(make_response(inv, 487, to_tag="x").to_bytes())
    acts = layer.receive(terminated, PEER, 0.7)
    assert [type(a) for a in acts] == [Send, DeliverResponse]


def test_uas_register_and_retransmission() -> None:
    layer = TransactionLayer()
    reg = request("REGISTER", new_branch())
    (deliver,) = layer.receive(reg, PEER, 0.0)
    assert isinstance(deliver, DeliverRequest)
    resp = make_response(reg, 200, to_tag="reg1")
    assert layer.respond(reg, resp, 0.01) == [Send(resp.to_bytes(), PEER)]
    again = parse_message(reg.to_bytes())
    assert layer.receive(again, PEER, 0.5) == [Send(resp.to_bytes(), PEER)]
    drain(layer, 100.0)
    assert len(layer) == 0


def test_uas_invite_busy_ack_cancel() -> None:
    layer = TransactionLayer()
    branch = new_branch()
    inv = request("INVITE", branch)
    stx = layer.receive(inv, PEER, 0.0)[0].server_tx
    trying = layer.send_trying(stx, 0.0)
    assert reparse(trying[0].data).status == 100
    cancel = request("CANCEL", branch)
    (got,) = layer.receive(cancel, PEER, 0.3)
    assert isinstance(got, CancelReceived) and got.invite_tx is stx
    layer.respond(got.server_tx, make_response(cancel, 200, to_tag="t1"), 0.3)
    layer.respond(stx, make_response(inv, 487, to_tag="t1"), 0.3)
    ack = request("ACK", branch, to_tag="t1")
    assert layer.receive(ack, PEER, 0.4) == []
    assert stx.state is CONFIRMED
    drain(layer, 100.0)
    assert len(layer) == 0


def test_uas_invite_2xx_ack_goes_to_tu() -> None:
    layer = TransactionLayer()
    inv = request("INVITE", new_branch())
    stx = layer.receive(inv, PEER, 0.0)[0].server_tx
    layer.respond(stx, make_response(inv, 200, to_tag="t2"), 0.1)
    ack = request("ACK", new_branch(), to_tag="t2")
    assert layer.receive(ack, PEER, 0.2) == [AckReceived(ack, None, PEER)]


def test_uas_merged_request_482_via_make_response() -> None:
    layer = TransactionLayer()
    first = request("INVITE", new_branch())
    assert isinstance(layer.receive(first, PEER, 0.0)[0], DeliverRequest)
    second = request("INVITE", new_branch())
    (send,) = layer.receive(second, PEER, 0.05)
    resp = reparse(send.data)
    assert isinstance(resp, Response)
    assert resp.status == 482 and resp.to_addr.tag
    assert resp.top_via.branch == second.top_via.branch


def test_uas_timer_h_real_message() -> None:
    layer = TransactionLayer()
    inv = request("INVITE", new_branch())
    stx = layer.receive(inv, PEER, 0.0)[0].server_tx
    layer.respond(stx, make_response(inv, 404, to_tag="t"), 0.0)
    events = drain(layer, 100.0)
    assert (32.0, Timeout(stx)) in events and (32.0, Terminated(stx)) in events


def test_rfc2543_invite_from_torture_vector() -> None:
    data = (TORTURE / "inv2543.dat").read_bytes()
    inv = parse_message(data)
    layer = TransactionLayer()
    (deliver,) = layer.receive(inv, PEER, 0.0)
    assert isinstance(deliver, DeliverRequest)
    assert layer.receive(parse_message(data), PEER, 0.5) == []  # same transaction
    stx = deliver.server_tx
    layer.respond(stx, make_response(inv, 486, to_tag="busy1"), 0.6)
    ack = parse_message(
        b"ACK sip:UserB@example.com SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP iftgw.example.com\r\n"
        b"From: <sip:+13035551111@ift.client.example.net;user=phone>\r\n"
        b"To: sip:+16505552222@ss1.example.net;user=phone;tag=busy1\r\n"
        b"Call-ID: inv2543.1717@ift.client.example.com\r\n"
        b"CSeq: 56 ACK\r\n\r\n"
    )
    assert layer.receive(ack, PEER, 0.7) == []
    assert stx.state is CONFIRMED


def test_max_forwards_zero_options_vs_forward() -> None:
    opt = request("OPTIONS", new_branch(), max_forwards=0)
    assert check_max_forwards(opt, forwarding=False) is None
    assert check_max_forwards(opt, forwarding=True) == (483, "Too Many Hops")
