"""RFC 3261 section 17 transaction machines, sans-I/O.

The :class:`TransactionLayer` never touches a socket, a clock or an event loop.
Every entry point takes ``now`` (seconds, any monotonic origin) and returns a
list of *actions* (small dataclasses) for the edge to carry out: send these
bytes, hand this request to the core, report this timeout. Timers are entries
in one :class:`~pbx.sip.timers.TimerHeap`; the edge asks :meth:`next_deadline`
and calls :meth:`timeout_due` when it passes (one ``loop.call_at`` for all).

Matching rules:

* client transactions: top Via branch + CSeq method (17.1.3);
* server transactions: top Via branch + sent-by + method, ACK matching the
  INVITE (17.2.3); CANCEL is its own non-INVITE transaction and is linked to
  the INVITE server transaction with the same branch and sent-by;
* RFC 2543 peers (branch without the ``z9hG4bK`` cookie): Request-URI, From
  tag, Call-ID, CSeq number, top Via and To tag (the To tag is left out when
  matching an ACK to an initial INVITE, whose To had no tag).

2xx handling follows RFC 6026: an INVITE server transaction that sent a 2xx
stays "accepted" for timer L to absorb INVITE retransmissions and passes
matching ACKs to the core; an INVITE client transaction stays "accepted" for
timer M and passes 2xx retransmissions to the core (which re-sends its ACK).

Messages are duck-typed against ``pbx.sip.message``: the layer reads
``method``, ``status``, ``top_via.branch/host/port/transport``, ``cseq``,
``call_id``, ``from_addr.tag``, ``to_addr.tag``, ``uri``, ``headers`` and
``to_bytes()``; nothing else.
"""

from __future__ import annotations

import enum
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pbx.sip.timers import TimerHandle, TimerHeap

__all__ = [
    "ACCEPTED",
    "CALLING",
    "COMPLETED",
    "CONFIRMED",
    "MAGIC_COOKIE",
    "PROCEEDING",
    "TERMINATED",
    "TRYING",
    "AckReceived",
    "Action",
    "CancelReceived",
    "ClientTransaction",
    "DeliverRequest",
    "DeliverResponse",
    "Send",
    "ServerTransaction",
    "Terminated",
    "Timeout",
    "Transaction",
    "TransactionLayer",
    "TransportError",
    "TxState",
    "build_ack",
    "build_cancel_bytes",
    "check_max_forwards",
    "new_branch",
]

MAGIC_COOKIE = "z9hG4bK"

class TxState(enum.StrEnum):
    """Transaction states (17.1, 17.2, RFC 6026 Accepted).

    Members are singletons compared with ``is`` on the hot path; as ``str``
    they print as the RFC's names in logs and reprs.
    """

    CALLING = "calling"
    TRYING = "trying"
    PROCEEDING = "proceeding"
    COMPLETED = "completed"
    CONFIRMED = "confirmed"
    ACCEPTED = "accepted"
    TERMINATED = "terminated"


CALLING = TxState.CALLING
TRYING = TxState.TRYING
PROCEEDING = TxState.PROCEEDING
COMPLETED = TxState.COMPLETED
CONFIRMED = TxState.CONFIRMED
ACCEPTED = TxState.ACCEPTED
TERMINATED = TxState.TERMINATED


def new_branch() -> str:
    """A fresh RFC 3261 branch: the magic cookie plus 64 random bits."""
    return MAGIC_COOKIE + secrets.token_hex(8)


# --------------------------------------------------------------------- actions


@dataclass(slots=True)
class Send:
    """Send ``data`` to ``dest`` (whatever address form the transport uses).

    ``tx`` is the client transaction sending a request: when the transport
    cannot deliver (a TCP connect fails), the edge reports it with
    :meth:`TransactionLayer.transport_error` (RFC 3261 8.1.3.1).
    """

    data: bytes
    dest: Any
    tx: ClientTransaction | None = field(default=None, compare=False)


@dataclass(slots=True)
class DeliverRequest:
    """A new request for the core, with the server transaction that owns it."""

    request: Any
    server_tx: ServerTransaction
    source: Any


@dataclass(slots=True)
class DeliverResponse:
    """A response for the core; ``client_tx`` is None for a stray response."""

    response: Any
    client_tx: ClientTransaction | None


@dataclass(slots=True)
class Timeout:
    """Timer B/F (client: treat as 408), C (client, no final) or H (server, no ACK)."""

    tx: ClientTransaction | ServerTransaction


@dataclass(slots=True)
class TransportError:
    """The edge reported that sending for ``tx`` failed; the transaction is gone."""

    tx: ClientTransaction | ServerTransaction


@dataclass(slots=True)
class Terminated:
    """``tx`` reached Terminated and was removed from the layer."""

    tx: ClientTransaction | ServerTransaction


@dataclass(slots=True)
class CancelReceived:
    """A CANCEL; ``invite_tx`` is None when no INVITE matches (core answers 481).

    The core answers the CANCEL on ``server_tx`` (200) and, if the INVITE is
    still pending, the INVITE on ``invite_tx`` (487).
    """

    cancel: Any
    server_tx: ServerTransaction
    invite_tx: ServerTransaction | None
    source: Any


@dataclass(slots=True)
class AckReceived:
    """An ACK for a 2xx (end to end); ``invite_tx`` is set when it matched one."""

    ack: Any
    invite_tx: ServerTransaction | None
    source: Any


Action = (
    Send
    | DeliverRequest
    | DeliverResponse
    | Timeout
    | TransportError
    | Terminated
    | CancelReceived
    | AckReceived
)


# ----------------------------------------------------------------- transactions


class Transaction:
    """State shared by client and server transactions."""

    __slots__ = (
        "_end",
        "_fail",
        "_rtx",
        "interval",
        "is_invite",
        "key",
        "last",
        "method",
        "peer",
        "reliable",
        "request",
        "state",
    )

    def __init__(self, key: tuple, request: Any, method: str, peer: Any, reliable: bool) -> None:
        self.key = key
        self.request = request
        self.method = method
        self.is_invite = method == "INVITE"
        self.peer = peer
        self.reliable = reliable
        self.state: TxState | None = None
        self.last: bytes | None = None  # bytes the transaction retransmits
        self.interval = 0.0  # current retransmit interval (A, E or G)
        # One handle per timer role: retransmit (A/E/G), failure (B/F/H/C),
        # end of life (D/K/I/J/L/M). Never more than one of each is pending.
        self._rtx: TimerHandle | None = None
        self._fail: TimerHandle | None = None
        self._end: TimerHandle | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.method} {self.state} {self.key[0]}>"


class ServerTransaction(Transaction):
    """An INVITE or non-INVITE server transaction (17.2)."""

    __slots__ = ("merge_key", "retransmit_limit", "retransmits")

    def __init__(self, key: tuple, request: Any, method: str, peer: Any, reliable: bool) -> None:
        super().__init__(key, request, method, peer, reliable)
        self.merge_key: tuple | None = None
        self.retransmits = 0  # timer G re-sends of the final response so far
        self.retransmit_limit: int | None = None

    @property
    def source(self) -> Any:
        """Where the request came from (responses go back there)."""
        return self.peer


class ClientTransaction(Transaction):
    """An INVITE or non-INVITE client transaction (17.1)."""

    __slots__ = ("ack", "branch")

    def __init__(self, key: tuple, request: Any, method: str, peer: Any, reliable: bool) -> None:
        super().__init__(key, request, method, peer, reliable)
        self.branch: str = key[0]
        self.ack: bytes | None = None  # ACK for a non-2xx final, kept to re-send

    @property
    def dest(self) -> Any:
        """Where the request is sent."""
        return self.peer


# ----------------------------------------------------------------- the helpers


def _sent_by(via: Any) -> tuple[str, int]:
    port = via.port
    if not port:
        port = 5061 if str(via.transport).upper() in ("TLS", "WSS") else 5060
    return (via.host.lower(), int(port))


def _legacy_key(req: Any, method: str, to_tag: str | None) -> tuple:
    via = req.top_via
    return (
        "2543",
        str(req.uri),
        to_tag,
        req.from_addr.tag,
        req.call_id,
        req.cseq[0],
        (str(via.transport).upper(), *_sent_by(via), via.branch),
        method,
    )


def _split_first(value: str) -> str:
    """First element of a comma-separated header value (commas in quotes kept)."""
    if "," not in value:
        return value.strip()
    quoted = False
    escaped = False
    for i, ch in enumerate(value):
        if escaped:
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            return value[:i].strip()
    return value.strip()


def _request_uri(tx: ClientTransaction) -> str:
    # Take the Request-URI from the bytes actually sent: it is exactly what the
    # peer saw, whatever form the Uri object would print.
    first = tx.last.split(b"\r\n", 1)[0] if tx.last else b""
    parts = first.split(b" ")
    if len(parts) == 3:
        return parts[1].decode("utf-8", "replace")
    return str(tx.request.uri)


def _ack_like(tx: ClientTransaction, method: str, to_value: str | None) -> bytes:
    req = tx.request
    h = req.headers
    vias = h.get_all("Via")
    lines = [
        f"{method} {_request_uri(tx)} SIP/2.0",
        "Via: " + _split_first(vias[0]),
        "Max-Forwards: 70",
        "From: " + h.get("From"),
        "To: " + (to_value if to_value is not None else h.get("To")),
        "Call-ID: " + h.get("Call-ID"),
        f"CSeq: {req.cseq[0]} {method}",
    ]
    lines.extend("Route: " + r for r in h.get_all("Route"))
    lines.append("Content-Length: 0")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape")


def build_ack(tx: ClientTransaction, response: Any) -> bytes:
    """ACK for a non-2xx final response (17.1.1.3), built from the original INVITE.

    Same Request-URI, Call-ID, From and CSeq number, the INVITE's top Via only,
    To from the response (with its tag), and the INVITE's Route headers.
    """
    return _ack_like(tx, "ACK", response.headers.get("To"))


def build_cancel_bytes(tx: ClientTransaction) -> bytes:
    """CANCEL for a pending INVITE client transaction (9.1), as bytes.

    Parse it with ``parse_message`` and pass it to :meth:`send_request`: it
    shares the INVITE's branch, and the CSeq method keeps the keys apart.
    """
    return _ack_like(tx, "CANCEL", None)


def check_max_forwards(req: Any, forwarding: bool) -> tuple[int, str] | None:
    """Return ``(483, "Too Many Hops")`` when ``req`` must not be forwarded.

    Only a request the PBX would forward is refused: a UAS handles a
    Max-Forwards 0 request itself (8.2, OPTIONS with Max-Forwards 0 is answered).
    """
    if not forwarding:
        return None
    mf = req.max_forwards
    if mf is not None and mf <= 0:
        return (483, "Too Many Hops")
    return None


# ------------------------------------------------------------------- the layer


class TransactionLayer:
    """All client and server transactions of one SIP stack, plus their timers.

    ``make_response(request, status, reason)`` builds responses the layer sends
    on its own (482 for merged requests, 100 Trying); it defaults to
    ``pbx.sip.message.make_response``.
    """

    def __init__(
        self,
        *,
        t1: float = 0.5,
        t2: float = 4.0,
        t4: float = 5.0,
        timer_c: float | None = 180.0,
        reject_merged: bool = True,
        make_response: Callable[..., Any] | None = None,
        timers: TimerHeap | None = None,
        trying_after: float | None = 0.2,
        max_final_retransmits: int | None = None,
    ) -> None:
        self.t1 = t1
        # Timer G retransmissions of a non-2xx final over UDP that no provisional
        # preceded (a refusal or challenge given at once); None: until timer H (RFC
        # 3261). Such a client is still in Calling and retransmits its INVITE, which
        # gets the final again: only a spoofed source's victim loses the extra copies.
        # After a provisional the client waits for us: timer G runs as the RFC says.
        self.max_final_retransmits = max_final_retransmits
        self.t2 = t2
        self.t4 = t4
        self.timer_c = timer_c
        self.reject_merged = reject_merged
        self._make_response = make_response
        self.client: dict[tuple, ClientTransaction] = {}
        self.server: dict[tuple, ServerTransaction] = {}
        self._merge: dict[tuple, ServerTransaction] = {}
        self.timers = timers if timers is not None else TimerHeap()
        # 17.2.1: an INVITE server transaction sends 100 Trying itself when the TU
        # has not answered within 200 ms (a call answered at once needs none).
        self.trying_after = trying_after

    def __len__(self) -> int:
        """Number of live transactions (client + server)."""
        return len(self.client) + len(self.server)

    # ----------------------------------------------------------- timer plumbing

    def next_deadline(self) -> float | None:
        """Earliest pending timer deadline, or None."""
        return self.timers.next_deadline()

    def timeout_due(self, now: float) -> list[Action]:
        """Fire every timer due at ``now`` (including ones rescheduled meanwhile)."""
        actions: list[Action] = []
        pop = self.timers.pop_one_due
        while (handle := pop(now)) is not None:
            self.fire(handle, now, actions)
        return actions

    def fire(self, handle: TimerHandle, now: float, out: list[Action]) -> None:
        """Run one due timer of a transaction (the edge popped it off the heap,
        which other machines share: their entries have other owners)."""
        tx = handle.owner
        if tx.state is TERMINATED:
            return
        if isinstance(tx, ClientTransaction):
            self._fire_client(tx, handle.kind, now, out)
        else:
            self._fire_server(tx, handle.kind, now, out)

    def _at(self, tx: Transaction, delay: float, kind: str, now: float) -> TimerHandle:
        return self.timers.schedule(now + delay, tx, kind)

    def _terminate(self, tx: Transaction, actions: list[Action]) -> None:
        if tx.state is TERMINATED:
            return
        tx.state = TERMINATED
        cancel = self.timers.cancel
        cancel(tx._rtx)
        cancel(tx._fail)
        cancel(tx._end)
        tx._rtx = tx._fail = tx._end = None
        if isinstance(tx, ClientTransaction):
            if self.client.get(tx.key) is tx:
                del self.client[tx.key]
        else:
            if self.server.get(tx.key) is tx:
                del self.server[tx.key]
            self._unmerge(tx)
        actions.append(Terminated(tx))

    def _unmerge(self, tx: ServerTransaction) -> None:
        # RFC 3261 8.2.2.2 speaks of *ongoing* transactions: once answered, a
        # request with the same From tag, Call-ID and CSeq is no longer a merge.
        mk = tx.merge_key
        if mk is not None and self._merge.get(mk) is tx:
            del self._merge[mk]
        tx.merge_key = None

    def transport_error(self, tx: ClientTransaction | ServerTransaction) -> list[Action]:
        """The edge failed to send for ``tx``: report it and drop the transaction."""
        actions: list[Action] = [TransportError(tx)]
        self._terminate(tx, actions)
        return actions

    # ------------------------------------------------------------------ inputs

    def receive(self, msg: Any, source: Any, now: float, reliable: bool = False) -> list[Action]:
        """Feed one parsed message received from ``source``."""
        # pbx.sip.message classes carry is_request; duck-typed stand-ins fall
        # back to "has a status" (getattr with a default is slower on a miss).
        is_request = getattr(msg, "is_request", None)
        if is_request is None:
            is_request = getattr(msg, "status", None) is None
        if is_request:
            return self._receive_request(msg, source, now, reliable)
        return self._receive_response(msg, now)

    # ---------------------------------------------------------- client side

    def send_request(
        self, req: Any, dest: Any, now: float, reliable: bool = False
    ) -> tuple[ClientTransaction, list[Action]]:
        """Start a client transaction for ``req`` (not ACK) and send it."""
        method = req.method
        if method == "ACK":
            raise ValueError("ACK is not sent through a client transaction")
        branch = req.top_via.branch
        if not branch or not branch.startswith(MAGIC_COOKIE):
            raise ValueError(f"client request needs an RFC 3261 branch, got {branch!r}")
        key = (branch, method)
        if key in self.client:
            raise ValueError(f"client transaction {key} already exists")
        tx = ClientTransaction(key, req, method, dest, reliable)
        data = req.to_bytes()
        tx.last = data
        t1 = self.t1
        if method == "INVITE":
            tx.state = CALLING
            if not reliable:
                tx.interval = t1
                tx._rtx = self._at(tx, t1, "A", now)
            tx._fail = self._at(tx, 64 * t1, "B", now)
        else:
            tx.state = TRYING
            if not reliable:
                tx.interval = t1
                tx._rtx = self._at(tx, t1, "E", now)
            tx._fail = self._at(tx, 64 * t1, "F", now)
        self.client[key] = tx
        return tx, [Send(data, dest, tx)]

    def _receive_response(self, resp: Any, now: float) -> list[Action]:
        try:
            branch = resp.top_via.branch
            key = (branch, resp.cseq[1])
        except Exception:
            return []  # no usable Via/CSeq: nothing can match (18.1.2 drops it)
        tx = self.client.get(key)
        if tx is None:
            # 18.1.2: no match -> the core sees it (e.g. a 2xx retransmission
            # after the transaction ended, which the dialog must re-ACK).
            return [DeliverResponse(resp, None)]
        code = resp.status
        state = tx.state
        actions: list[Action] = []
        cancel = self.timers.cancel
        if tx.is_invite:
            if state is CALLING or state is PROCEEDING:
                if code < 200:
                    if state is CALLING:
                        tx.state = PROCEEDING
                        cancel(tx._rtx)
                        tx._rtx = None
                        cancel(tx._fail)
                        tx._fail = None
                    if self.timer_c is not None:
                        # Timer C restarts on every provisional (16.6 step 11),
                        # so a peer stuck ringing cannot leak the transaction.
                        cancel(tx._fail)
                        tx._fail = self._at(tx, self.timer_c, "C", now)
                    return [DeliverResponse(resp, tx)]
                cancel(tx._rtx)
                cancel(tx._fail)
                tx._rtx = tx._fail = None
                if code < 300:
                    tx.request = None  # nothing is built from it any more (small lingering)
                    tx.state = ACCEPTED
                    actions.append(DeliverResponse(resp, tx))
                    tx._end = self._at(tx, 64 * self.t1, "M", now)
                    return actions
                tx.state = COMPLETED
                tx.ack = build_ack(tx, resp)
                tx.request = None
                actions.append(Send(tx.ack, tx.peer))
                actions.append(DeliverResponse(resp, tx))
                if tx.reliable:
                    self._terminate(tx, actions)
                else:
                    tx._end = self._at(tx, 32.0, "D", now)
                return actions
            if state is ACCEPTED:
                return [DeliverResponse(resp, tx)] if 200 <= code < 300 else []
            if state is COMPLETED and code >= 300 and tx.ack is not None:
                return [Send(tx.ack, tx.peer)]
            return []
        # non-INVITE
        if state is TRYING or state is PROCEEDING:
            if code < 200:
                tx.state = PROCEEDING
                return [DeliverResponse(resp, tx)]
            cancel(tx._rtx)
            cancel(tx._fail)
            tx._rtx = tx._fail = None
            tx.request = None  # Completed only absorbs retransmissions: keep it small
            tx.state = COMPLETED
            actions.append(DeliverResponse(resp, tx))
            if tx.reliable:
                self._terminate(tx, actions)
            else:
                tx._end = self._at(tx, self.t4, "K", now)
            return actions
        return []  # Completed absorbs retransmitted finals

    def _fire_client(self, tx: ClientTransaction, kind: str, now: float, out: list[Action]) -> None:
        state = tx.state
        if kind == "A":
            if state is CALLING and tx.last is not None:
                out.append(Send(tx.last, tx.peer, tx))
                tx.interval *= 2  # A doubles without the T2 cap (17.1.1.2)
                tx._rtx = self._at(tx, tx.interval, "A", now)
        elif kind == "E":
            if (state is TRYING or state is PROCEEDING) and tx.last is not None:
                out.append(Send(tx.last, tx.peer, tx))
                tx.interval = self.t2 if state is PROCEEDING else min(2 * tx.interval, self.t2)
                tx._rtx = self._at(tx, tx.interval, "E", now)
        elif kind in ("B", "F", "C"):
            tx._fail = None
            out.append(Timeout(tx))
            self._terminate(tx, out)
        else:  # D, K, M
            tx._end = None
            self._terminate(tx, out)

    # ---------------------------------------------------------- server side

    def _server_key(self, req: Any, method: str, via: Any) -> tuple:
        branch = via.branch
        if branch and branch.startswith(MAGIC_COOKIE):
            return (branch, *_sent_by(via), method)
        return _legacy_key(req, method, req.to_addr.tag)

    def _find_invite(self, req: Any, via: Any) -> ServerTransaction | None:
        """The INVITE server transaction an ACK or CANCEL refers to."""
        tx = self.server.get(self._server_key(req, "INVITE", via))
        if tx is None and not (via.branch or "").startswith(MAGIC_COOKIE):
            # RFC 2543 ACK to an initial INVITE: the INVITE's To had no tag.
            tx = self.server.get(_legacy_key(req, "INVITE", None))
        return tx

    def _receive_request(
        self, req: Any, source: Any, now: float, reliable: bool
    ) -> list[Action]:
        try:
            via = req.top_via
        except Exception:
            return []  # cannot be answered: no Via to route a response
        method = req.method
        if method == "ACK":
            inv = self._find_invite(req, via)
            if inv is None:
                return [AckReceived(req, None, source)]
            state = inv.state
            if state is COMPLETED:
                # ACK for our non-2xx final: absorbed here (17.2.1).
                inv.state = CONFIRMED
                cancel = self.timers.cancel
                cancel(inv._rtx)
                cancel(inv._fail)
                inv._rtx = inv._fail = None
                actions: list[Action] = []
                if inv.reliable:
                    self._terminate(inv, actions)
                else:
                    inv._end = self._at(inv, self.t4, "I", now)
                return actions
            if state is ACCEPTED:
                return [AckReceived(req, inv, source)]
            return []  # Confirmed absorbs; an ACK before any final is bogus
        key = self._server_key(req, method, via)
        tx = self.server.get(key)
        if tx is not None:
            # Retransmission: resend the last response, never bother the core.
            st = tx.state
            if tx.last is not None and st is not CONFIRMED and st is not ACCEPTED:
                return [Send(tx.last, tx.peer)]
            return []
        tx = ServerTransaction(key, req, method, source, reliable)
        tx.state = PROCEEDING if method == "INVITE" else TRYING
        self.server[key] = tx
        if method == "INVITE" and self.trying_after is not None:
            tx._rtx = self._at(tx, self.trying_after, "T", now)
        if method == "CANCEL":
            return [CancelReceived(req, tx, self._find_invite(req, via), source)]
        if req.to_addr.tag is None:
            from_tag = req.from_addr.tag
            if from_tag is not None:
                mk = (from_tag, req.call_id, *req.cseq)
                other = self._merge.get(mk)
                if other is None:
                    tx.merge_key = mk
                    self._merge[mk] = tx
                elif self.reject_merged:
                    # 8.2.2.2: same request reached us by another path.
                    resp = self._response(req, 482, "Loop Detected", secrets.token_hex(6))
                    return self.respond(tx, resp, now)
        return [DeliverRequest(req, tx, source)]

    def find_merged(self, req: Any) -> ServerTransaction | None:
        """The other in-progress transaction ``req`` merges with (8.2.2.2), if any."""
        if req.to_addr.tag is not None or req.from_addr.tag is None:
            return None
        other = self._merge.get((req.from_addr.tag, req.call_id, *req.cseq))
        if other is None or other.request is req:
            return None
        return other

    def _response(self, req: Any, status: int, reason: str, to_tag: str | None = None) -> Any:
        mk = self._make_response
        if mk is None:
            from pbx.sip.message import make_response  # late: avoids an import cycle

            mk = self._make_response = make_response
        return mk(req, status, reason, to_tag=to_tag)

    def server_transaction(self, req: Any) -> ServerTransaction | None:
        """The server transaction a received request belongs to."""
        try:
            via = req.top_via
        except Exception:
            return None
        return self.server.get(self._server_key(req, req.method, via))

    def send_trying(self, tx: ServerTransaction, now: float) -> list[Action]:
        """Answer 100 Trying on ``tx`` (the TU decides when; 17.2.1 suggests 200 ms)."""
        if tx.request is None:  # already answered (Completed): nothing to send
            return []
        return self.respond(tx, self._response(tx.request, 100, "Trying"), now)

    def respond(self, tx: ServerTransaction | Any, response: Any, now: float) -> list[Action]:
        """Send ``response`` on a server transaction (or on the one of a request).

        A response the machine cannot accept (after a final, or for a
        transaction that already ended) returns no actions.
        """
        if not isinstance(tx, ServerTransaction):
            found = self.server_transaction(tx)
            if found is None:
                return []
            tx = found
        state = tx.state
        code = response.status
        actions: list[Action] = []
        if tx.is_invite:
            if state is PROCEEDING:
                if tx._rtx is not None:  # the automatic 100 is not needed any more
                    self.timers.cancel(tx._rtx)
                    tx._rtx = None
                data = response.to_bytes()
                actions.append(Send(data, tx.peer))
                if code >= 200:
                    self._unmerge(tx)
                    # Matching needs only the key from now on: drop the parsed request
                    # so lingering transactions (timers L, H) stay small.
                    tx.request = None
                if code < 200:
                    tx.last = data
                elif code < 300:
                    # RFC 6026 Accepted: the TU retransmits the 2xx itself; we
                    # only linger to absorb INVITE retransmissions.
                    tx.last = data
                    tx.state = ACCEPTED
                    tx._end = self._at(tx, 64 * self.t1, "L", now)
                else:
                    if tx.last is None:  # no provisional went out: the client retransmits
                        tx.retransmit_limit = self.max_final_retransmits
                    tx.last = data
                    tx.state = COMPLETED
                    if not tx.reliable and tx.retransmit_limit != 0:
                        tx.interval = self.t1
                        tx._rtx = self._at(tx, self.t1, "G", now)
                    tx._fail = self._at(tx, 64 * self.t1, "H", now)
            elif state is ACCEPTED and 200 <= code < 300:
                actions.append(Send(response.to_bytes(), tx.peer))
            return actions
        if state is TRYING or state is PROCEEDING:
            data = response.to_bytes()
            tx.last = data
            actions.append(Send(data, tx.peer))
            if code >= 200:
                self._unmerge(tx)
            if code < 200:
                tx.state = PROCEEDING
            else:
                tx.state = COMPLETED
                # Completed only re-sends ``last`` for timer J (32 s on UDP): drop the
                # parsed request so thousands of lingering transactions stay small
                # (and cheap for the garbage collector).
                tx.request = None
                if tx.reliable:
                    self._terminate(tx, actions)
                else:
                    tx._end = self._at(tx, 64 * self.t1, "J", now)
        return actions

    def _fire_server(self, tx: ServerTransaction, kind: str, now: float, out: list[Action]) -> None:
        if kind == "T":
            tx._rtx = None
            if tx.state is PROCEEDING and tx.last is None and tx.request is not None:
                out.extend(self.respond(tx, self._response(tx.request, 100, "Trying"), now))
        elif kind == "G":
            if tx.state is COMPLETED and tx.last is not None:
                out.append(Send(tx.last, tx.peer))
                tx.retransmits += 1
                limit = tx.retransmit_limit
                if limit is not None and tx.retransmits >= limit:
                    tx._rtx = None
                    return
                tx.interval = min(2 * tx.interval, self.t2)
                tx._rtx = self._at(tx, tx.interval, "G", now)
        elif kind == "H":
            tx._fail = None
            out.append(Timeout(tx))
            self._terminate(tx, out)
        else:  # I, J, L
            tx._end = None
            self._terminate(tx, out)
