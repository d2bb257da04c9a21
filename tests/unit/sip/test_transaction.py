"""Transaction machines on a fake clock, with stand-in message objects.

The stand-ins carry exactly the attributes the layer reads (see the module
docstring of pbx.sip.transaction); tests with real parsed messages live in
test_transaction_messages.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from pbx.sip.timers import TimerHeap
from pbx.sip.transaction import (
    ACCEPTED,
    COMPLETED,
    CONFIRMED,
    PROCEEDING,
    AckReceived,
    CancelReceived,
    ClientTransaction,
    DeliverRequest,
    DeliverResponse,
    Send,
    ServerTransaction,
    Terminated,
    Timeout,
    TransactionLayer,
    TransportError,
    check_max_forwards,
    new_branch,
)

PEER = ("192.0.2.10", 5060)


@dataclass
class Via:
    branch: str | None
    host: str = "192.0.2.10"
    port: int | None = 5060
    transport: str = "UDP"


@dataclass
class Addr:
    tag: str | None


class Headers:
    def __init__(self, items: list[tuple[str, str]]) -> None:
        self._items = items

    def get(self, name: str) -> str | None:
        for k, v in self._items:
            if k.lower() == name.lower():
                return v
        return None

    def get_all(self, name: str) -> list[str]:
        return [v for k, v in self._items if k.lower() == name.lower()]


@dataclass
class Req:
    method: str
    branch: str | None = field(default_factory=new_branch)
    cseq_num: int = 1
    call_id: str = "call-1@example.com"
    from_tag: str | None = "ftag"
    to_tag: str | None = None
    uri: str = "sip:bob@example.com"
    max_forwards: int | None = 70
    via_host: str = "192.0.2.10"
    routes: tuple[str, ...] = ()

    @property
    def top_via(self) -> Via:
        return Via(self.branch, self.via_host)

    @property
    def cseq(self) -> tuple[int, str]:
        cseq_method = "INVITE" if self.method == "ACK" else self.method
        return (self.cseq_num, cseq_method if self.method != "CANCEL" else "CANCEL")

    @property
    def from_addr(self) -> Addr:
        return Addr(self.from_tag)

    @property
    def to_addr(self) -> Addr:
        return Addr(self.to_tag)

    @property
    def headers(self) -> Headers:
        via = f"SIP/2.0/UDP {self.via_host}:5060;branch={self.branch}"
        items = [
            ("Via", via + ", SIP/2.0/UDP proxy.example.com;branch=z9hG4bKprox"),
            ("From", f"<sip:alice@example.com>;tag={self.from_tag}"),
            ("To", "<sip:bob@example.com>" + (f";tag={self.to_tag}" if self.to_tag else "")),
            ("Call-ID", self.call_id),
            ("CSeq", f"{self.cseq_num} {self.method}"),
        ]
        items += [("Route", r) for r in self.routes]
        return Headers(items)

    def to_bytes(self) -> bytes:
        return f"{self.method} {self.uri} SIP/2.0\r\nVia: {self.branch}\r\n\r\n".encode()


@dataclass
class Resp:
    status: int
    request: Req
    to_tag: str | None = "totag"

    @property
    def top_via(self) -> Via:
        return self.request.top_via

    @property
    def cseq(self) -> tuple[int, str]:
        return self.request.cseq

    @property
    def headers(self) -> Headers:
        return Headers([("To", f"<sip:bob@example.com>;tag={self.to_tag}")])

    def to_bytes(self) -> bytes:
        return f"SIP/2.0 {self.status} X\r\nVia: {self.request.branch}\r\n\r\n".encode()


def fake_make_response(
    req: Any, status: int, reason: str | None = None, *, to_tag: str | None = None
) -> Resp:
    return Resp(status, req, to_tag=to_tag)


def make_layer(**kw: Any) -> TransactionLayer:
    return TransactionLayer(make_response=fake_make_response, **kw)


def sends(actions: list[Any]) -> list[bytes]:
    return [a.data for a in actions if isinstance(a, Send)]


def run_clock(layer: TransactionLayer, until: float) -> list[tuple[float, Any]]:
    """Drive the layer's timers like the edge would, recording (time, action)."""
    out: list[tuple[float, Any]] = []
    while (t := layer.next_deadline()) is not None and t <= until:
        out.extend((t, a) for a in layer.timeout_due(t))
    return out


# ---------------------------------------------------------------- timer heap


def test_timer_heap_lazy_cancel_and_order() -> None:
    heap = TimerHeap()
    a = heap.schedule(2.0, "x", "A")
    heap.schedule(1.0, "y", "B")
    heap.schedule(1.0, "z", "C")
    heap.cancel(a)
    heap.cancel(a)  # idempotent
    assert len(heap) == 2
    assert heap.next_deadline() == 1.0
    due = heap.pop_due(5.0)
    assert [h.kind for h in due] == ["B", "C"]  # ties fire in scheduling order
    assert heap.next_deadline() is None


def test_timer_heap_compacts_dead_entries() -> None:
    heap = TimerHeap()
    handles = [heap.schedule(float(i), None, "X") for i in range(5000)]
    for h in handles[:4000]:
        heap.cancel(h)
    assert len(heap) == 1000
    assert len(heap._heap) < 5000  # compaction ran
    assert heap.next_deadline() == 4000.0


# ---------------------------------------------------------------- client INVITE


def test_invite_client_udp_timer_a_schedule_then_b_timeout() -> None:
    layer = make_layer()
    req = Req("INVITE")
    tx, actions = layer.send_request(req, PEER, 0.0)
    assert sends(actions) == [req.to_bytes()]
    events = run_clock(layer, 100.0)
    resend_times = [t for t, a in events if isinstance(a, Send)]
    assert resend_times == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    timeouts = [(t, a) for t, a in events if isinstance(a, Timeout)]
    assert timeouts == [(32.0, Timeout(tx))]
    assert any(isinstance(a, Terminated) for _, a in events)
    assert len(layer) == 0
    assert layer.next_deadline() is None


def test_invite_client_reliable_no_retransmissions() -> None:
    layer = make_layer()
    layer.send_request(Req("INVITE"), PEER, 0.0, reliable=True)
    events = run_clock(layer, 100.0)
    assert [a for _, a in events if isinstance(a, Send)] == []
    assert [t for t, a in events if isinstance(a, Timeout)] == [32.0]
    assert len(layer) == 0


def test_invite_client_provisional_stops_a_and_b() -> None:
    layer = make_layer(timer_c=None)
    req = Req("INVITE")
    tx, _ = layer.send_request(req, PEER, 0.0)
    acts = layer.receive(Resp(180, req), PEER, 0.2)
    assert acts == [DeliverResponse(acts[0].response, tx)]
    assert tx.state is PROCEEDING
    assert layer.next_deadline() is None  # A and B cancelled
    assert run_clock(layer, 100.0) == []


def test_invite_client_timer_c_bounds_proceeding() -> None:
    layer = make_layer(timer_c=180.0)
    req = Req("INVITE")
    tx, _ = layer.send_request(req, PEER, 0.0)
    layer.receive(Resp(180, req), PEER, 1.0)
    layer.receive(Resp(183, req), PEER, 100.0)  # restarts C
    events = run_clock(layer, 1000.0)
    assert [(t, a) for t, a in events if isinstance(a, Timeout)] == [(280.0, Timeout(tx))]
    assert len(layer) == 0


def test_invite_client_non2xx_generates_ack_and_absorbs_retransmission() -> None:
    layer = make_layer()
    req = Req("INVITE", routes=("<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"))
    tx, _ = layer.send_request(req, PEER, 0.0)
    resp = Resp(486, req, to_tag="xyz")
    acts = layer.receive(resp, PEER, 0.3)
    assert isinstance(acts[0], Send) and isinstance(acts[1], DeliverResponse)
    ack = acts[0].data.decode()
    lines = ack.split("\r\n")
    assert lines[0] == "ACK sip:bob@example.com SIP/2.0"
    assert f"Via: SIP/2.0/UDP 192.0.2.10:5060;branch={req.branch}" in lines
    assert sum(1 for ln in lines if ln.startswith("Via:")) == 1  # top Via only
    assert "To: <sip:bob@example.com>;tag=xyz" in lines
    assert "From: <sip:alice@example.com>;tag=ftag" in lines
    assert "Call-ID: call-1@example.com" in lines
    assert "CSeq: 1 ACK" in lines
    assert [ln for ln in lines if ln.startswith("Route:")] == [
        "Route: <sip:p1.example.com;lr>",
        "Route: <sip:p2.example.com;lr>",
    ]
    assert ack.endswith("Content-Length: 0\r\n\r\n")
    assert tx.state is COMPLETED
    # Retransmitted final: ACK again, core not bothered.
    again = layer.receive(resp, PEER, 1.0)
    assert again == [Send(acts[0].data, PEER)]
    # Timer D = 32 s after the response.
    events = run_clock(layer, 100.0)
    assert [t for t, a in events if isinstance(a, Terminated)] == [32.3]
    assert len(layer) == 0


def test_invite_client_non2xx_reliable_terminates_at_once() -> None:
    layer = make_layer()
    req = Req("INVITE")
    layer.send_request(req, PEER, 0.0, reliable=True)
    acts = layer.receive(Resp(603, req), PEER, 0.1)
    assert [type(a) for a in acts] == [Send, DeliverResponse, Terminated]
    assert len(layer) == 0


def test_invite_client_2xx_accepted_passes_retransmissions_to_tu() -> None:
    layer = make_layer()
    req = Req("INVITE")
    tx, _ = layer.send_request(req, PEER, 0.0)
    ok = Resp(200, req)
    assert layer.receive(ok, PEER, 0.1) == [DeliverResponse(ok, tx)]
    assert tx.state is ACCEPTED
    # 2xx retransmission goes to the TU (which re-sends its own ACK); no ACK here.
    assert layer.receive(ok, PEER, 0.6) == [DeliverResponse(ok, tx)]
    events = run_clock(layer, 100.0)
    assert [t for t, a in events if isinstance(a, Terminated)] == [pytest.approx(32.1)]
    # After M, a late 2xx is a stray response, still delivered to the core.
    assert layer.receive(ok, PEER, 40.0) == [DeliverResponse(ok, None)]
    assert len(layer) == 0


# ----------------------------------------------------------- client non-INVITE


def test_non_invite_client_timer_e_caps_at_t2_then_f() -> None:
    layer = make_layer()
    req = Req("REGISTER")
    tx, _ = layer.send_request(req, PEER, 0.0)
    events = run_clock(layer, 100.0)
    times = [t for t, a in events if isinstance(a, Send)]
    intervals = [b - a for a, b in zip([0.0, *times], times, strict=False)]
    assert intervals[:6] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert all(i == 4.0 for i in intervals[3:])
    assert times[-1] < 32.0
    assert [(t, a) for t, a in events if isinstance(a, Timeout)] == [(32.0, Timeout(tx))]
    assert len(layer) == 0


def test_non_invite_client_proceeding_retransmits_at_t2() -> None:
    layer = make_layer()
    req = Req("OPTIONS")
    layer.send_request(req, PEER, 0.0)
    layer.receive(Resp(100, req), PEER, 0.2)
    events = run_clock(layer, 10.0)
    assert [t for t, a in events if isinstance(a, Send)] == [0.5, 4.5, 8.5]


def test_non_invite_client_final_then_timer_k() -> None:
    layer = make_layer()
    req = Req("REGISTER")
    tx, _ = layer.send_request(req, PEER, 0.0)
    final = Resp(200, req)
    assert layer.receive(final, PEER, 0.7) == [DeliverResponse(final, tx)]
    assert layer.receive(final, PEER, 0.8) == []  # retransmission absorbed
    events = run_clock(layer, 100.0)
    assert [a for _, a in events if isinstance(a, Send)] == []
    assert [t for t, a in events if isinstance(a, Terminated)] == [pytest.approx(5.7)]
    assert len(layer) == 0


def test_non_invite_client_reliable() -> None:
    layer = make_layer()
    req = Req("REGISTER")
    layer.send_request(req, PEER, 0.0, reliable=True)
    assert run_clock(layer, 10.0) == []
    acts = layer.receive(Resp(401, req), PEER, 11.0)
    assert [type(a) for a in acts] == [DeliverResponse, Terminated]  # K = 0
    assert len(layer) == 0 and layer.next_deadline() is None


def test_client_rejects_ack_duplicate_and_legacy_branch() -> None:
    layer = make_layer()
    with pytest.raises(ValueError):
        layer.send_request(Req("ACK"), PEER, 0.0)
    with pytest.raises(ValueError):
        layer.send_request(Req("OPTIONS", branch="oldstyle"), PEER, 0.0)
    req = Req("OPTIONS")
    layer.send_request(req, PEER, 0.0)
    with pytest.raises(ValueError):
        layer.send_request(req, PEER, 0.0)


def test_response_matches_on_cseq_method_too() -> None:
    layer = make_layer()
    inv = Req("INVITE")
    itx, _ = layer.send_request(inv, PEER, 0.0)
    cancel = Req("CANCEL", branch=inv.branch)
    ctx, _ = layer.send_request(cancel, PEER, 1.0)
    acts = layer.receive(Resp(200, cancel), PEER, 1.1)
    assert acts[0] == DeliverResponse(acts[0].response, ctx)
    assert itx.state != COMPLETED


def test_transport_error_drops_transaction() -> None:
    layer = make_layer()
    tx, _ = layer.send_request(Req("INVITE"), PEER, 0.0, reliable=True)
    acts = layer.transport_error(tx)
    assert acts == [TransportError(tx), Terminated(tx)]
    assert len(layer) == 0 and layer.next_deadline() is None


# -------------------------------------------------------- server non-INVITE


def test_non_invite_server_absorbs_retransmission_and_resends_last_response() -> None:
    layer = make_layer()
    req = Req("REGISTER")
    acts = layer.receive(req, PEER, 0.0)
    assert len(acts) == 1 and isinstance(acts[0], DeliverRequest)
    stx = acts[0].server_tx
    assert isinstance(stx, ServerTransaction) and acts[0].source == PEER
    # Retransmission before any response: absorbed silently.
    assert layer.receive(req, PEER, 0.5) == []
    resp = Resp(200, req)
    assert layer.respond(stx, resp, 0.6) == [Send(resp.to_bytes(), PEER)]
    # Retransmission after the final: the final again, core not bothered.
    assert layer.receive(req, PEER, 1.0) == [Send(resp.to_bytes(), PEER)]
    # A second final is refused by the machine.
    assert layer.respond(stx, Resp(500, req), 1.1) == []
    events = run_clock(layer, 100.0)
    assert [t for t, a in events if isinstance(a, Terminated)] == [pytest.approx(32.6)]
    assert len(layer) == 0


def test_non_invite_server_provisional_then_final_by_request() -> None:
    layer = make_layer()
    req = Req("OPTIONS")
    layer.receive(req, PEER, 0.0)
    trying = Resp(100, req)
    assert sends(layer.respond(req, trying, 0.1)) == [trying.to_bytes()]
    assert layer.receive(req, PEER, 0.5) == [Send(trying.to_bytes(), PEER)]
    acts = layer.respond(req, Resp(200, req), 0.6)
    assert len(sends(acts)) == 1


def test_non_invite_server_reliable_timer_j_zero() -> None:
    layer = make_layer()
    req = Req("REGISTER")
    stx = layer.receive(req, PEER, 0.0, reliable=True)[0].server_tx
    acts = layer.respond(stx, Resp(200, req), 0.1)
    assert [type(a) for a in acts] == [Send, Terminated]
    assert len(layer) == 0 and layer.next_deadline() is None
    assert layer.respond(req, Resp(200, req), 0.2) == []  # late: no transaction


def test_server_matching_uses_sent_by() -> None:
    layer = make_layer()
    a = Req("OPTIONS", branch="z9hG4bKsame", via_host="192.0.2.1", from_tag="a")
    b = Req("OPTIONS", branch="z9hG4bKsame", via_host="192.0.2.2", from_tag="b")
    assert isinstance(layer.receive(a, PEER, 0.0)[0], DeliverRequest)
    assert isinstance(layer.receive(b, PEER, 0.0)[0], DeliverRequest)
    assert len(layer.server) == 2


# ------------------------------------------------------------- server INVITE


def test_invite_server_resends_provisional_on_retransmission() -> None:
    layer = make_layer()
    req = Req("INVITE")
    stx = layer.receive(req, PEER, 0.0)[0].server_tx
    assert layer.receive(req, PEER, 0.1) == []  # nothing sent yet
    acts = layer.send_trying(stx, 0.1)
    assert sends(acts) == [Resp(100, req).to_bytes()]
    ringing = Resp(180, req)
    layer.respond(stx, ringing, 0.2)
    assert layer.receive(req, PEER, 0.5) == [Send(ringing.to_bytes(), PEER)]


def test_invite_server_sends_100_itself_only_when_the_tu_is_slow() -> None:
    """17.2.1: no answer from the TU within 200 ms -> 100 Trying; a call answered
    sooner costs no 100 at all."""
    layer = make_layer()
    slow = Req("INVITE")
    stx = layer.receive(slow, PEER, 0.0)[0].server_tx
    fired = run_clock(layer, 0.3)
    assert [t for t, a in fired if isinstance(a, Send)] == [0.2]
    assert [a.data for _, a in fired if isinstance(a, Send)] == [Resp(100, slow).to_bytes()]
    assert stx.state is PROCEEDING
    fast = Req("INVITE", branch="z9hG4bKfast", call_id="call-2@example.com")
    ftx = layer.receive(fast, PEER, 1.0)[0].server_tx
    layer.respond(ftx, Resp(200, fast), 1.1)
    assert not [a for _, a in run_clock(layer, 1.5) if isinstance(a, Send)]


def test_invite_server_non2xx_retransmits_with_g_until_ack_then_i() -> None:
    layer = make_layer()
    req = Req("INVITE")
    stx = layer.receive(req, PEER, 0.0)[0].server_tx
    busy = Resp(486, req)
    assert layer.respond(stx, busy, 1.0) == [Send(busy.to_bytes(), PEER)]
    assert stx.state is COMPLETED
    events = run_clock(layer, 9.0)
    # G: T1, 2T1, 4T1, then capped at T2.
    assert [t for t, a in events if isinstance(a, Send)] == [1.5, 2.5, 4.5, 8.5]
    # Retransmitted INVITE gets the final again.
    assert layer.receive(req, PEER, 9.0) == [Send(busy.to_bytes(), PEER)]
    ack = Req("ACK", branch=req.branch, to_tag="totag")
    assert layer.receive(ack, PEER, 9.5) == []  # absorbed, not for the TU
    assert stx.state is CONFIRMED
    assert layer.receive(ack, PEER, 9.6) == []  # retransmitted ACK absorbed
    events = run_clock(layer, 100.0)
    assert [a for _, a in events if isinstance(a, Send)] == []  # G stopped
    assert [t for t, a in events if isinstance(a, Terminated)] == [14.5]  # I = T4
    assert len(layer) == 0


def test_invite_server_timer_h_without_ack() -> None:
    layer = make_layer()
    req = Req("INVITE")
    stx = layer.receive(req, PEER, 0.0)[0].server_tx
    layer.respond(stx, Resp(404, req), 0.0)
    events = run_clock(layer, 100.0)
    assert [(t, a) for t, a in events if isinstance(a, Timeout)] == [(32.0, Timeout(stx))]
    send_times = [t for t, a in events if isinstance(a, Send)]
    assert send_times[:4] == [0.5, 1.5, 3.5, 7.5] and send_times[-1] < 32.0
    assert len(layer) == 0


def test_invite_server_reliable_no_g_and_i_zero() -> None:
    layer = make_layer()
    req = Req("INVITE")
    stx = layer.receive(req, PEER, 0.0, reliable=True)[0].server_tx
    layer.respond(stx, Resp(486, req), 0.0)
    ack = Req("ACK", branch=req.branch, to_tag="totag")
    assert layer.receive(ack, PEER, 0.1, reliable=True) == [Terminated(stx)]
    assert len(layer) == 0


def test_invite_server_2xx_accepted_ack_to_tu_and_timer_l() -> None:
    layer = make_layer()
    req = Req("INVITE")
    stx = layer.receive(req, PEER, 0.0)[0].server_tx
    ok = Resp(200, req)
    assert layer.respond(stx, ok, 1.0) == [Send(ok.to_bytes(), PEER)]
    assert stx.state is ACCEPTED
    # INVITE retransmission absorbed: the TU retransmits 2xx itself.
    assert layer.receive(req, PEER, 1.2) == []
    assert layer.respond(stx, ok, 1.5) == [Send(ok.to_bytes(), PEER)]
    # A 2xx ACK has its own branch: end to end, straight to the TU.
    ack = Req("ACK", to_tag="totag")
    assert layer.receive(ack, PEER, 1.6) == [AckReceived(ack, None, PEER)]
    # An ACK that does match the INVITE while Accepted also goes to the TU.
    ack2 = Req("ACK", branch=req.branch, to_tag="totag")
    assert layer.receive(ack2, PEER, 1.7) == [AckReceived(ack2, stx, PEER)]
    events = run_clock(layer, 100.0)
    assert [t for t, a in events if isinstance(a, Terminated)] == [33.0]  # L = 64*T1
    assert len(layer) == 0


def test_cancel_matches_invite_server_transaction() -> None:
    layer = make_layer()
    inv = Req("INVITE")
    itx = layer.receive(inv, PEER, 0.0)[0].server_tx
    cancel = Req("CANCEL", branch=inv.branch)
    acts = layer.receive(cancel, PEER, 1.0)
    assert len(acts) == 1 and isinstance(acts[0], CancelReceived)
    got = acts[0]
    assert got.invite_tx is itx and got.server_tx is not itx
    assert got.server_tx.method == "CANCEL"
    # Core answers 200 to the CANCEL and 487 to the INVITE.
    assert sends(layer.respond(got.server_tx, Resp(200, cancel), 1.0))
    assert sends(layer.respond(itx, Resp(487, inv), 1.0))
    ack = Req("ACK", branch=inv.branch, to_tag="totag")
    layer.receive(ack, PEER, 1.1)
    run_clock(layer, 100.0)
    assert len(layer) == 0


def test_cancel_without_invite() -> None:
    layer = make_layer()
    cancel = Req("CANCEL")
    acts = layer.receive(cancel, PEER, 0.0)
    assert isinstance(acts[0], CancelReceived) and acts[0].invite_tx is None


# --------------------------------------------------------------- RFC 2543


def test_rfc2543_matching_without_magic_cookie() -> None:
    layer = make_layer()
    inv = Req("INVITE", branch=None)
    stx = layer.receive(inv, PEER, 0.0)[0].server_tx
    assert layer.receive(inv, PEER, 0.4) == []  # retransmission matched
    layer.respond(stx, Resp(486, inv), 0.5)
    # The ACK carries the To tag of our response; the INVITE had none.
    ack = Req("ACK", branch=None, to_tag="totag")
    assert layer.receive(ack, PEER, 0.6) == []
    assert stx.state is CONFIRMED
    # A different CSeq is a different transaction.
    other = Req("INVITE", branch=None, cseq_num=2)
    assert isinstance(layer.receive(other, PEER, 0.7)[0], DeliverRequest)


# ---------------------------------------------------------- merge and loops


def test_merged_request_gets_482() -> None:
    layer = make_layer()
    first = Req("INVITE")
    assert isinstance(layer.receive(first, PEER, 0.0)[0], DeliverRequest)
    # Same From tag, Call-ID and CSeq, no To tag, other branch: forked back to us.
    second = Req("INVITE")
    assert layer.find_merged(second) is not None
    acts = layer.receive(second, PEER, 0.1)
    assert len(acts) == 1 and isinstance(acts[0], Send)
    assert acts[0].data.startswith(b"SIP/2.0 482")
    # In-dialog requests (To tag) are not merge candidates.
    assert layer.find_merged(Req("INVITE", to_tag="t")) is None


def test_merge_check_can_be_left_to_core() -> None:
    layer = make_layer(reject_merged=False)
    layer.receive(Req("OPTIONS"), PEER, 0.0)
    acts = layer.receive(Req("OPTIONS"), PEER, 0.0)
    assert isinstance(acts[0], DeliverRequest)


def test_check_max_forwards() -> None:
    assert check_max_forwards(Req("OPTIONS", max_forwards=0), forwarding=False) is None
    assert check_max_forwards(Req("INVITE", max_forwards=0), forwarding=True) == (
        483,
        "Too Many Hops",
    )
    assert check_max_forwards(Req("INVITE", max_forwards=1), forwarding=True) is None
    assert check_max_forwards(Req("INVITE", max_forwards=None), forwarding=True) is None


# ------------------------------------------------------------------ no leaks


def test_no_leak_after_mixed_load() -> None:
    layer = make_layer()
    for i in range(200):
        r = Req("REGISTER", call_id=f"c{i}")
        stx = layer.receive(r, PEER, i * 0.01)[0].server_tx
        layer.respond(stx, Resp(200, r), i * 0.01)
        inv = Req("INVITE", call_id=f"i{i}")
        ctx, _ = layer.send_request(inv, PEER, i * 0.01)
        if i % 2:
            layer.receive(Resp(486, inv), PEER, i * 0.01 + 0.1)
        sinv = Req("INVITE", call_id=f"s{i}")
        itx = layer.receive(sinv, PEER, i * 0.01)[0].server_tx
        layer.respond(itx, Resp(200 if i % 2 else 480, sinv), i * 0.01)
    assert len(layer) == 600
    run_clock(layer, 1000.0)
    assert len(layer) == 0
    assert not layer._merge
    assert layer.next_deadline() is None
    assert isinstance(ctx, ClientTransaction)


def test_invite_server_final_retransmissions_capped_but_request_retransmission_answered() -> None:
    # A spoofed INVITE must not make us send a dozen 407s to its victim.
    layer = make_layer(max_final_retransmits=2)
    req = Req("INVITE")
    stx = layer.receive(req, PEER, 0.0)[0].server_tx
    challenge = Resp(407, req)
    assert len(layer.respond(stx, challenge, 0.0)) == 1
    events = run_clock(layer, 40.0)
    assert [t for t, a in events if isinstance(a, Send)] == [0.5, 1.5]
    assert [t for t, a in events if isinstance(a, Timeout)] == [32.0]
    # A real caller that lost every answer retransmits its INVITE: answered again.
    layer2 = make_layer(max_final_retransmits=2)
    stx2 = layer2.receive(req, PEER, 0.0)[0].server_tx
    layer2.respond(stx2, challenge, 0.0)
    run_clock(layer2, 5.0)
    assert layer2.receive(req, PEER, 6.0) == [Send(challenge.to_bytes(), PEER)]
    none = make_layer(max_final_retransmits=0)
    stx3 = none.receive(req, PEER, 0.0)[0].server_tx
    none.respond(stx3, challenge, 0.0)
    assert [a for _, a in run_clock(none, 40.0) if isinstance(a, Send)] == []


def test_final_after_a_provisional_keeps_rfc_retransmissions() -> None:
    # The caller got 180 and waits (Proceeding, no INVITE retransmissions): our 486
    # must be retransmitted as RFC 3261 says, cap or not.
    layer = make_layer(max_final_retransmits=1)
    req = Req("INVITE")
    stx = layer.receive(req, PEER, 0.0)[0].server_tx
    layer.respond(stx, Resp(180, req), 0.0)
    layer.respond(stx, Resp(486, req), 1.0)
    events = run_clock(layer, 40.0)
    assert [t for t, a in events if isinstance(a, Send)][:4] == [1.5, 2.5, 4.5, 8.5]
