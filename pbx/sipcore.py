"""The SIP core: transports <-> parser <-> transaction layer <-> handlers.

All of it runs in transport callbacks: no task or future per message. One
`loop.call_at` handle drives every transaction timer (the layer's heap).
Requests are dispatched by method to handlers registered by the registrar,
the calls code and voicemail (MWI).
"""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from collections.abc import Callable
from typing import Any

from pbx.ratelog import RateLimitedLog
from pbx.sip.address import Address
from pbx.sip.message import ParseError, Request, Response, make_response, parse_message
from pbx.sip.timers import TimerHeap
from pbx.sip.transaction import (
    AckReceived,
    CancelReceived,
    ClientTransaction,
    DeliverRequest,
    DeliverResponse,
    Send,
    ServerTransaction,
    Terminated,
    Timeout,
    Transaction,
    TransactionLayer,
    TransportError,
    TxState,
)
from pbx.sip.validate import check_request, check_response
from pbx.transport.source_address import WILDCARDS, SourceAddresses

log = logging.getLogger("pbx.sip")
trace_log = logging.getLogger("pbx.sip.trace")

FINAL_RETRANSMITS = 1

# Methods the PBX implements; others known to SIP get 405, unknown ones 501.
ALLOWED_METHODS = {"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "INFO",
                   "NOTIFY", "SUBSCRIBE", "UPDATE", "PRACK", "REFER", "MESSAGE"}
SUPPORTED = {"replaces", "timer", "path", "outbound", "100rel", "norefersub"}
ACCEPTED_TYPES = {"application/sdp", "application/dtmf-relay", "application/dtmf",
                  "message/sipfrag", "text/plain", "application/simple-message-summary"}
ALLOW_HEADER = ", ".join(sorted(ALLOWED_METHODS))
ACCEPT_HEADER = "application/sdp, application/dtmf-relay, application/dtmf"

RequestHandler = Callable[[Request, ServerTransaction, Address], None]
ResponseCallback = Callable[[Response | None], None]  # None: timeout / transport error
FailureCallback = Callable[[int], None]  # 408 timeout, 503 transport error


class SipCore:
    """Receives every message, runs the transaction layer, dispatches."""

    def __init__(self, *, user_agent: str = "PBX", sip_trace: bool = False,
                 t1: float = 0.5, t2: float = 4.0,
                 clock: Callable[[], float] | None = None) -> None:
        self.user_agent = user_agent
        self.sip_trace = sip_trace
        # One heap for every SIP timer: transactions, INVITE usages, registrations.
        # Entries owned by a transaction go to the layer; any other owner has
        # on_timer(kind, now).
        self.timers = TimerHeap()
        self.timers.on_earlier = self._earlier
        # An INVITE refused at once over UDP (a 407 challenge) gets its answer re-sent
        # once, not until timer H (10 times): a spoofed INVITE must not make us send 12
        # answers to its victim. The real client retransmits its INVITE and gets the
        # answer again (pbx/sip/transaction.py, max_final_retransmits).
        self.layer = TransactionLayer(t1=t1, t2=t2, timers=self.timers,
                                      max_final_retransmits=FINAL_RETRANSMITS)
        self.transports: dict[tuple[str, int], Any] = {}  # (transport, family 4/6) -> transport
        self.sources = SourceAddresses()  # for transports bound to 0.0.0.0 / ::
        self.handlers: dict[str, RequestHandler] = {}
        self.ack_handler: Callable[[Request, ServerTransaction | None, Address], None] | None = None
        self.cancel_handler: Callable[[CancelReceived], bool] | None = None
        # A response no transaction matches (a 2xx retransmitted after the INVITE
        # client transaction ended): the dialog it belongs to must ACK it again.
        self.stray_response_handler: Callable[[Response], None] | None = None
        self._callbacks: dict[int, tuple[ResponseCallback, FailureCallback | None]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._clock = clock
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stats = {"received": 0, "sent": 0, "parse_errors": 0, "dropped": 0}
        # Security (pbx/security/authwatch.py): screens each request before its handler
        # (a Response refuses it) and sees each final response (failed authentications).
        self.request_filter: Callable[[Request, Address], Response | None] | None = None
        self.bad_messages = RateLimitedLog(log)  # a flood of garbage logs a few lines
        self.response_observer: Callable[[ServerTransaction, Response], None] | None = None

    def use_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Run on ``loop``; its clock is the core's unless one was injected."""
        self.loop = loop
        if self._clock is None:
            self._clock = loop.time

    # --- transports ---------------------------------------------------------
    def add_transport(self, kind: str, transport: Any) -> None:
        family = 6 if ":" in transport.local.host else 4
        self.transports.setdefault((kind, family), transport)

    def local_address(self, kind: str = "udp", family: int = 4,
                      toward: str | None = None) -> Address | None:
        """Our address on transport ``kind``, as a peer at ``toward`` should see it
        (Via, Contact, SDP): a wildcard bind gives the source address toward it."""
        t = self.transports.get((kind, family)) or next(
            (t for (k, _), t in self.transports.items() if k == kind), None)
        if t is None:
            return None
        local: Address = t.local
        if local.host in WILDCARDS:
            family = 6 if ":" in local.host else 4
            return Address(local.transport, self.sources.toward(toward, family), local.port)
        return local

    def send_bytes(self, data: bytes, dest: Address,
                   tx: ClientTransaction | None = None) -> None:
        """Send raw bytes to a transport address; a delivery failure fails ``tx``."""
        family = 6 if ":" in dest.host else 4
        transport = self.transports.get((dest.transport, family))
        if transport is None:
            log.warning("no %s transport for IPv%d to send to %s", dest.transport, family, dest)
            if tx is not None:  # later: the sender is still inside send_request()
                (self.loop or asyncio.get_running_loop()).call_soon(self._send_failed, tx)
            return
        if self.sip_trace:
            trace_log.info("<--- send to %s --->\n%s", dest,
                           data.decode("utf-8", "replace").rstrip("\r\n"))
        self.stats["sent"] += 1
        transport.send(data, dest.host, dest.port,
                       None if tx is None else lambda: self._send_failed(tx))

    def _send_failed(self, tx: ClientTransaction) -> None:
        if tx.state is TxState.TERMINATED:
            return
        self._run(self.layer.transport_error(tx))
        self._arm_timer()

    # --- input ---------------------------------------------------------------
    def on_message(self, data: bytes, source: Address, local: Address) -> None:
        """Called by a transport with one complete message."""
        self.stats["received"] += 1
        if self.sip_trace:
            trace_log.info("<--- received from %s --->\n%s", source,
                           data.decode("utf-8", "replace").rstrip("\r\n"))
        try:
            msg = parse_message(data)
        except ParseError as exc:
            self.stats["parse_errors"] += 1
            self.bad_messages.log("bad message", self.now(), "bad message from %s: %s",
                                  source, exc.reason)
            answer = exc.response_bytes(self.user_agent) if exc.can_answer else None
            if answer is not None:
                self.send_bytes(answer, self._reply_address(exc.message, source))
            return
        if isinstance(msg, Response):
            if not check_response(msg):
                self.stats["dropped"] += 1
                return
            self._run(self.layer.receive(msg, source, self.now(), source.transport != "udp"))
        else:
            problem = self._structural_problem(msg)
            if problem is not None:
                self.send_bytes(make_response(msg, 400, problem).to_bytes(), source)
                return
            msg.stamp_received(source.host, source.port)
            reply_to = self._reply_address(msg, source)
            self._run(self.layer.receive(msg, reply_to, self.now(), source.transport != "udp"))
        self._arm_timer()

    def on_framing_error(self, source: Address, reason: str, head: bytes = b"",
                         status: int = 400) -> None:
        self.stats["parse_errors"] += 1

    @staticmethod
    def _structural_problem(req: Request) -> str | None:
        """Problems that stop even transaction matching: answered statelessly."""
        try:
            if not req.vias:
                return "Bad Request - Missing Via"
            if not req.call_id:
                return "Bad Request - Missing Call-ID"
            req.cseq  # noqa: B018 - parses; raises if malformed
            req.from_addr  # noqa: B018
            req.to_addr  # noqa: B018
        except Exception as exc:  # the parser names the header in its error
            return f"Bad Request - {getattr(exc, 'reason', None) or exc}"
        return None

    @staticmethod
    def _reply_address(msg: Any, source: Address) -> Address:
        """Where responses go (RFC 3261 18.2.2 with RFC 3581 rport)."""
        if source.transport != "udp" or msg is None:
            return source
        try:
            via = msg.top_via
        except Exception:
            return source
        if via.rport is not None:
            return source  # rport: the source address and port, whatever Via says
        port = via.port or 5060
        return Address("udp", source.host, port)

    # --- actions -------------------------------------------------------------
    def _run(self, actions: list) -> None:
        for action in actions:
            kind = type(action)
            if kind is Send:
                self.send_bytes(action.data, action.dest, action.tx)
            elif kind is DeliverRequest:
                self._dispatch(action.request, action.server_tx, action.source)
            elif kind is DeliverResponse:
                tx = action.client_tx
                if tx is None:
                    if self.stray_response_handler is not None:
                        self._safe(self.stray_response_handler, action.response)
                    continue
                resp = action.response
                if resp.status >= 200 and not tx.is_invite:
                    # A non-INVITE transaction has one final answer: drop the callback
                    # now, not at timer K, so what it references (a call leg) can go.
                    cbs = self._callbacks.pop(id(tx), None)
                else:
                    cbs = self._callbacks.get(id(tx))
                if cbs is not None:
                    self._safe(cbs[0], resp)
            elif kind is Timeout or kind is TransportError:
                tx = action.tx
                if isinstance(tx, ClientTransaction):
                    cbs = self._callbacks.pop(id(tx), None)
                    if cbs is None:
                        continue
                    if cbs[1] is None:
                        self._safe(cbs[0], None)
                    else:  # 8.1.3.1: a transport failure is a 503, a timeout a 408
                        self._safe(cbs[1], 503 if kind is TransportError else 408)
            elif kind is Terminated:
                self._callbacks.pop(id(action.tx), None)
            elif kind is CancelReceived:
                self._on_cancel(action)
            elif kind is AckReceived and self.ack_handler is not None:
                self._safe(self.ack_handler, action.ack, action.invite_tx, action.source)

    @staticmethod
    def _safe(fn: Callable, *args: Any) -> None:
        try:
            fn(*args)
        except Exception:
            log.exception("error in SIP handler %s", getattr(fn, "__qualname__", fn))

    def _dispatch(self, req: Request, tx: ServerTransaction, source: Address) -> None:
        problem = check_request(req, allowed_methods=ALLOWED_METHODS, supported=SUPPORTED,
                                accepted_types=ACCEPTED_TYPES)
        if problem is not None:
            status, reason, headers = problem
            self.respond(tx, make_response(req, status, reason, headers=headers))
            return
        if self.request_filter is not None:
            refusal = self.request_filter(req, source)
            if refusal is not None:
                self.respond(tx, refusal)
                return
        handler = self.handlers.get(req.method)
        if handler is None:
            # Known to SIP but not taken by anyone here (e.g. SUBSCRIBE before MWI).
            self.respond(tx, make_response(req, 405, "Method Not Allowed",
                                           headers=[("Allow", self.allow_header())]))
            return
        try:
            handler(req, tx, source)
        except Exception:
            log.exception("error handling %s from %s", req.method, source)
            if tx.state is TxState.TRYING or tx.state is TxState.PROCEEDING:
                self.respond(tx, make_response(req, 500, "Server Internal Error"))

    def allow_header(self) -> str:
        return ", ".join(sorted(set(self.handlers) | {"ACK", "CANCEL"}))

    def _on_cancel(self, action: CancelReceived) -> None:
        cancel = action.cancel
        if action.invite_tx is None or action.invite_tx.state is not TxState.PROCEEDING:
            self.respond(action.server_tx, make_response(cancel, 481,
                                                         "Call/Transaction Does Not Exist"))
            return
        self.respond(action.server_tx, make_response(cancel, 200, "OK"))
        if self.cancel_handler is not None:
            self._safe(self.cancel_handler, action)

    # --- output --------------------------------------------------------------
    def respond(self, tx: ServerTransaction, response: Response) -> None:
        """Send a response within its server transaction."""
        # Read To and Call-ID before adding Server: a header change drops the parsed
        # views and the first-value index.
        untagged = response.status > 100 and response.to_addr.tag is None
        headers = response.headers
        if untagged:
            to_value = headers.first("to")
            call_id = response.call_id
        if self.user_agent and headers.first("server") is None:
            headers.add("Server", self.user_agent)
        if untagged:
            # RFC 3261 8.2.6.2: a UAS tags To in every response but 100. Derived
            # from the request so every response of one transaction agrees.
            tag = format(zlib.crc32(f"{tx.key}{call_id}".encode("utf-8", "surrogateescape")),
                         "08x")
            headers.set("To", f"{to_value};tag={tag}")
        if self.response_observer is not None and response.status >= 200:
            self.response_observer(tx, response)
        self._run(self.layer.respond(tx, response, self.now()))
        self._arm_timer()

    def send_trying(self, tx: ServerTransaction) -> None:
        """100 Trying, so the caller stops retransmitting the INVITE.

        Sent once the current callback is done, and only if nothing was answered by
        then: an INVITE refused at once (a 407 challenge) gets one answer, not two.
        """
        (self.loop or asyncio.get_running_loop()).call_soon(self._trying_if_unanswered, tx)

    def _trying_if_unanswered(self, tx: ServerTransaction) -> None:
        if tx.last is None and tx.state is TxState.PROCEEDING:
            self._run(self.layer.send_trying(tx, self.now()))

    def send_request(self, req: Request, dest: Address, callback: ResponseCallback,
                     on_failure: FailureCallback | None = None) -> ClientTransaction:
        """Send a request in a new client transaction; `callback` gets every
        response. When no final response comes, `on_failure` gets 408 (timeout)
        or 503 (the transport could not deliver); without it `callback` gets None."""
        if self.user_agent and "User-Agent" not in req.headers:
            req.headers.add("User-Agent", self.user_agent)
        tx, actions = self.layer.send_request(req, dest, self.now(), dest.transport != "udp")
        self._callbacks[id(tx)] = (callback, on_failure)
        self._run(actions)
        self._arm_timer()
        return tx

    def forget(self, tx: ClientTransaction) -> None:
        """Stop reporting ``tx``'s responses (its sender is gone); the transaction
        itself runs on to absorb retransmissions."""
        self._callbacks.pop(id(tx), None)

    # --- timers --------------------------------------------------------------
    def now(self) -> float:
        """The core's clock (the event loop's, or the one injected for tests)."""
        clock = self._clock
        return clock() if clock is not None else time.monotonic()

    def _earlier(self, deadline: float) -> None:
        if self.loop is not None:
            self._arm_timer()

    def _arm_timer(self) -> None:
        deadline = self.timers.next_deadline()
        if deadline is None or deadline == self._timer_at:
            return
        if self._timer_at is not None and self._timer_at <= deadline and self._timer is not None:
            return  # the armed timer fires first and re-arms
        if self._timer is not None:
            self._timer.cancel()
        loop = self.loop or asyncio.get_running_loop()
        # The deadline is on the core's clock: translate it to the loop's.
        self._timer = loop.call_at(loop.time() + max(0.0, deadline - self.now()), self._on_timer)
        self._timer_at = deadline

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        now = self.now()
        pop = self.timers.pop_one_due
        layer = self.layer
        while (handle := pop(now)) is not None:
            owner = handle.owner
            if isinstance(owner, Transaction):
                actions: list = []
                layer.fire(handle, now, actions)
                self._run(actions)
            else:
                self._safe(owner.on_timer, handle.kind, now)
        self._arm_timer()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for transport in self.transports.values():
            transport.close()
