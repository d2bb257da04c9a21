"""The INVITE dialog usage (RFC 3261 sec. 12-15, RFC 6026, RFC 4028), sans-I/O.

Above the transaction layer, one :class:`InviteUsage` per call leg does what a
user agent must do with INVITE and its dialog:

* :class:`InviteServer` (UAS side of one INVITE, initial or re-INVITE): sends
  the provisional and final responses; a 2xx is retransmitted, T1 doubling to
  T2, until its ACK arrives, and 64*T1 without one ends the call (13.3.1.4);
* :class:`InviteClient` (UAC side of one INVITE): ACKs every 2xx with the
  INVITE's own CSeq (13.2.2.4) and re-sends that ACK for each retransmitted
  2xx; CANCEL only after a provisional (9.1), sent as soon as one arrives when
  asked for earlier; a 2xx that arrives after CANCEL, or from a second fork,
  is ACKed and then BYEd (15);
* the usage: the dialog's CSeq numbers, re-INVITE and UPDATE both ways, 491
  glare with the 14.1 back-off, 500 for an INVITE that overlaps one still
  pending (14.2), BYE only after the ACK of our 2xx (15), and session timers
  (RFC 4028): the refresher refreshes at half the interval, the other side
  sends BYE when the session expires.

Nothing here touches a socket or a clock: every entry point takes ``now`` and
returns a list of *actions* (send this request in a client transaction, send
these bytes outside any transaction, respond on this server transaction) and
*events* for the channel (answered, failed, offer received, ...). Timers live
on the shared :class:`~pbx.sip.timers.TimerHeap`; each entry names
``timer_owner`` (the edge object for this leg), which calls :meth:`on_timer`
with the entry's kind when it fires.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pbx.sip.address import Address
from pbx.sip.dialog import Dialog
from pbx.sip.invite import (
    SDP,
    Accepted,
    AckReceived,
    AckTimeout,
    Cancelled,
    Challenged,
    Credentials,
    Failed,
    InviteClient,
    InviteServer,
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
from pbx.sip.message import Request, Response, make_response
from pbx.sip.requests import via_value
from pbx.sip.timers import TimerHandle, TimerHeap

__all__ = ["InviteUsage"]


@dataclass(slots=True)
class _SessionTimer:
    """RFC 4028 state: the interval and whether we are the refresher."""

    interval: int = 0
    we_refresh: bool = False
    handle: TimerHandle | None = None
    allow_update: bool = False  # the remote listed UPDATE in Allow: refresh with it
    peer_supports: bool = False


@dataclass(slots=True)
class _Outgoing:
    """An offer we want to send (re-INVITE) or a refresh (UPDATE/re-INVITE)."""

    body: bytes
    refresh: bool = False
    extra: Sequence[tuple[str, str]] = field(default_factory=tuple)


class InviteUsage:
    """One call leg's INVITE usage: the initial INVITE, its dialog, re-INVITEs,
    UPDATE, BYE and session timers. Build with :meth:`uas` or :meth:`uac`."""

    def __init__(self, *, uac: bool, local: Address, dest: Address, contact: str,
                 timers: TimerHeap, timer_owner: Any, settings: InviteSettings) -> None:
        self.is_uac = uac  # we sent the initial INVITE (and own its Call-ID)
        self.local = local  # our transport address: Via of our requests
        self.dest = dest  # where our in-dialog requests and ACKs go
        self.contact = contact
        self.settings = settings
        self.state = UsageState.EARLY
        self.dialog: Dialog | None = None
        self.reliable = dest.transport != "udp"
        self.local_body = b""  # the last SDP we sent: session refreshes repeat it
        self.bye_cause: str | None = None  # Reason of a BYE waiting for our 2xx's ACK
        self.bye_pending = False
        self._timers = timers
        self._owner = timer_owner
        self._handles: dict[str, TimerHandle] = {}
        # The initial INVITE, one side or the other.
        self.server: InviteServer | None = None  # initial (UAS) or a received re-INVITE
        self.client: InviteClient | None = None  # initial (UAC)
        self.initial: Request | None = None  # the initial INVITE, ours or the remote's
        self.reinvite: InviteClient | None = None  # our pending re-INVITE
        self.last_reinvite: InviteClient | None = None  # re-ACKs its 2xx retransmissions
        self.update_cseq: int | None = None  # our pending UPDATE
        self.update_refresh = False
        self.update_tx: Any = None  # a received UPDATE's server transaction, until answered
        self.update_request: Request | None = None
        self._queued: _Outgoing | None = None  # an offer waiting for the current one to end
        self._retry: _Outgoing | None = None  # re-sent after the 491 back-off
        self._session = _SessionTimer()
        self.credentials: Credentials | None = None  # answers a 401/407 to our INVITE
        self.challenged = False  # the INVITE went again with credentials (only once)

    # ------------------------------------------------------------ constructors

    @classmethod
    def uas(cls, invite: Request, tx: Any, *, reply_to: Address, local: Address,
            contact: str, local_tag: str, timers: TimerHeap, timer_owner: Any,
            settings: InviteSettings) -> InviteUsage:
        """The usage of an INVITE we received; answer it with :meth:`respond`.

        In-dialog requests go to ``reply_to``, where the INVITE came from (the
        NAT-safe choice; a caller's Contact may name a private address)."""
        usage = cls(uac=False, local=local, dest=reply_to, contact=contact, timers=timers,
                    timer_owner=timer_owner, settings=settings)
        usage.server = InviteServer(invite, tx, reply_to)
        usage.initial = invite
        usage.dialog = Dialog.as_uas(invite, local_tag)
        usage._session.allow_update = _allows(invite, "UPDATE")
        return usage

    @classmethod
    def uac(cls, invite: Request, *, dest: Address, local: Address, contact: str,
            timers: TimerHeap, timer_owner: Any, settings: InviteSettings,
            credentials: Credentials | None = None) -> tuple[InviteUsage, list[Any]]:
        """Start our INVITE to ``dest``: the usage and the action that sends it.

        With ``credentials`` a 401/407 challenge to it is answered once (a new
        INVITE, CSeq + 1); a second challenge fails the call like any 4xx."""
        usage = cls(uac=True, local=local, dest=dest, contact=contact, timers=timers,
                    timer_owner=timer_owner, settings=settings)
        usage.credentials = credentials
        if settings.session_expires:
            headers = invite.headers
            headers.add("Session-Expires", str(settings.session_expires))
            headers.add("Min-SE", str(settings.min_se))
            if "Supported" not in headers:
                headers.add("Supported", "timer")
        usage.client = InviteClient(invite, dest)
        usage.initial = invite
        usage.local_body = invite.body
        return usage, [SendRequest(invite, dest)]

    # ------------------------------------------------------------------ helpers

    @property
    def established(self) -> bool:
        return self.state is UsageState.ACCEPTED or self.state is UsageState.CONFIRMED

    def _at(self, kind: str, delay: float, now: float) -> None:
        self._cancel(kind)
        self._handles[kind] = self._timers.schedule(now + delay, self._owner, kind)

    def _cancel(self, kind: str) -> None:
        handle = self._handles.pop(kind, None)
        if handle is not None:
            self._timers.cancel(handle)

    def _request(self, method: str, *, body: bytes = b"", content_type: str | None = None,
                 extra: Sequence[tuple[str, str]] = ()) -> Request:
        assert self.dialog is not None
        contact = self.contact if method in ("INVITE", "UPDATE") else None
        return self.dialog.request(method, via_value(self.local), contact=contact,
                                   extra=list(extra), body=body, content_type=content_type)

    def request(self, method: str, *, body: bytes = b"", content_type: str | None = None,
                extra: Sequence[tuple[str, str]] = ()) -> SendRequest | None:
        """Another usage's request in this dialog (the NOTIFYs of a REFER), with the
        dialog's next CSeq; None once the dialog is over."""
        if self.dialog is None or self.state is UsageState.TERMINATED:
            return None
        return SendRequest(self._request(method, body=body, content_type=content_type,
                                         extra=extra), self.dest)

    def _response(self, request: Request, status: int, reason: str | None = None, *,
                  body: bytes = b"", content_type: str | None = None,
                  extra: Sequence[tuple[str, str]] = ()) -> Response:
        assert self.dialog is not None
        headers = list(extra)
        if 100 < status < 300 and request.method in ("INVITE", "UPDATE"):
            headers.append(("Contact", self.contact))
            if request.method == "INVITE":
                # 12.1.1: the proxies that record-routed stay in the dialog's path.
                headers.extend(("Record-Route", rr)
                               for rr in request.headers.get_all("Record-Route"))
        return make_response(request, status, reason, to_tag=self.dialog.local_tag,
                             headers=headers, body=body, content_type=content_type)

    # ------------------------------------------------- UAS: the initial INVITE

    def respond(self, status: int, reason: str | None, now: float, *, body: bytes = b"",
                extra: Sequence[tuple[str, str]] = ()) -> list[Any]:
        """Answer the initial INVITE (1xx, 2xx or a failure).

        A 2xx confirms the dialog once its ACK comes: until then it is
        retransmitted, and a hangup waits for the ACK before its BYE."""
        server = self.server
        if self.is_uac or server is None or server.final or self.state is UsageState.TERMINATED:
            return []
        invite = server.request
        headers = list(extra)
        if 200 <= status < 300:
            headers.extend(self._session_answer(invite))
        resp = self._response(invite, status, reason, body=body,
                              content_type=SDP if body else None, extra=headers)
        out = server.respond(resp)
        if status < 200:
            return out
        if status >= 300:
            self.state = UsageState.TERMINATED
            return out
        if body:
            self.local_body = body
        self.state = UsageState.ACCEPTED
        self._start_2xx(server, now)
        return out

    def _start_2xx(self, server: InviteServer, now: float) -> None:
        t1 = self.settings.t1
        if not self.reliable:
            server._interval = t1
            self._at("2xx", t1, now)
        self._at("ack", 64 * t1, now)

    def on_ack(self, ack: Request, now: float) -> list[Any]:
        """An ACK in the dialog: the one for our 2xx stops its retransmission."""
        server = self.server
        if server is None or server.acked or server.final < 200 or server.final >= 300:
            return []
        if ack.cseq[0] != server.cseq:
            return []  # an ACK for an older INVITE (13.3.1.4 matches by CSeq)
        server.acked = True
        self._cancel("2xx")
        self._cancel("ack")
        out: list[Any] = [AckReceived(ack)]
        if self.state is UsageState.ACCEPTED:
            self.state = UsageState.CONFIRMED
            self._start_session_timer(now)
        out.extend(self._after_transaction(now))
        return out

    def on_cancel(self, now: float) -> list[Any]:
        """CANCEL of the initial INVITE: 487 if it is still unanswered."""
        server = self.server
        if self.is_uac or server is None or server.final or self.state is not UsageState.EARLY:
            return []
        out = self.respond(487, "Request Terminated", now)
        out.append(Cancelled())
        return out

    # ------------------------------------------------- UAC: the initial INVITE

    def cancel(self, now: float, reason: str | None = None) -> list[Any]:
        """Give up our unanswered initial INVITE (CANCEL when 9.1 allows)."""
        client = self.client
        if client is None or self.state is not UsageState.EARLY:
            return []
        return client.cancel(reason)

    def on_response(self, resp: Response, now: float) -> list[Any]:
        """A response to a request this usage sent."""
        method = resp.cseq[1]
        if method == "INVITE":
            client = self.client
            if client is not None and resp.cseq[0] == client.cseq:
                return self._initial_response(client, resp, now)
            if self.reinvite is not None and resp.cseq[0] == self.reinvite.cseq:
                return self._reinvite_response(self.reinvite, resp, now)
            if 200 <= resp.status < 300 and self.dialog is not None:
                return self._stray_2xx(resp)
            return []
        if method == "UPDATE" and resp.cseq[0] == self.update_cseq and resp.status >= 200:
            return self._update_response(resp, now)
        return []  # BYE, CANCEL: nothing to do with their answers

    def on_failure(self, method: str, cseq: int, now: float, status: int = 408) -> list[Any]:
        """A request of ours got no answer: 408 for a timeout, 503 when the
        transport could not deliver it (8.1.3.1). Its transaction is gone."""
        if method == "INVITE":
            client = self.client
            if client is not None and cseq == client.cseq and not client.final:
                client.final = status
                self.state = UsageState.TERMINATED
                return [Failed(status, None)]
            if self.reinvite is not None and cseq == self.reinvite.cseq:
                self.reinvite = None
                self._retry = None
                # A re-INVITE that got no answer at all: the dialog is gone (RFC 5057 5.1).
                return [OfferFailed(status), *self.hangup(now)]
        elif method == "UPDATE" and cseq == self.update_cseq:
            self.update_cseq = None
            return [OfferFailed(status), *self.hangup(now)]
        return []

    def _initial_response(self, client: InviteClient, resp: Response, now: float) -> list[Any]:
        status = resp.status
        if status < 200:
            out = client.provisional_received()
            if status > 100 and self.state is UsageState.EARLY and not client.cancel_wanted:
                out.append(Progress(resp))
            return out
        if status >= 300:
            if client.final:
                return []
            client.final = status
            if status in (401, 407):
                retry = self._answer_challenge(client, resp)
                if retry is not None:
                    return retry
            self.state = UsageState.TERMINATED
            return [Failed(status, resp)]
        # 2xx: every one is ACKed, from whichever fork.
        tag = resp.to_addr.tag or ""
        if self.dialog is not None and tag == self.dialog.remote_tag:
            return [client.ack_for(self.dialog, self.local)]  # a retransmission
        dialog = Dialog.as_uac(client.request, resp)
        out: list[Any] = [client.ack_for(dialog, self.local)]
        if self.dialog is not None or client.cancel_wanted or self.state is not UsageState.EARLY:
            # A second fork, or an answer after we gave up: ACK it, then BYE it (15).
            bye = dialog.request("BYE", via_value(self.local))
            out.append(SendRequest(bye, self.dest))
            if self.dialog is None:
                client.final = status
                self.state = UsageState.TERMINATED
                out.append(Failed(487, resp))
            return out
        client.final = status
        self.dialog = dialog
        self.state = UsageState.CONFIRMED
        self._session_from_response(resp)
        out.append(Accepted(resp))
        self._start_session_timer(now)
        return out

    def _answer_challenge(self, client: InviteClient, resp: Response) -> list[Any] | None:
        """Send the INVITE again with credentials for the 401/407 ``resp``, once;
        None when it is not ours to answer (no credentials, a second challenge,
        a CANCEL wanted meanwhile, a challenge we cannot compute)."""
        if (self.credentials is None or self.challenged or client.cancel_wanted
                or self.state is not UsageState.EARLY):
            return None
        again = client.authorized(resp, self.credentials, via_value(self.local))
        if again is None:
            return None
        request, realm = again
        self.challenged = True
        # The ACK of the 401/407 is the transaction layer's (17.1.1.3); from now on
        # CANCEL, ACK and the dialog belong to the new INVITE.
        self.client = InviteClient(request, self.dest)
        self.initial = request
        return [SendRequest(request, self.dest), Challenged(resp.status, realm)]

    def _stray_2xx(self, resp: Response) -> list[Any]:
        """A 2xx retransmission for an INVITE whose client transaction is over."""
        for client in (self.client, self.last_reinvite):
            if client is not None and client.cseq == resp.cseq[0]:
                data = client.acks.get(resp.to_addr.tag or "")
                if data is not None:
                    return [SendStateless(data, self.dest)]
        return []

    # ------------------------------------------------------ in-dialog requests

    def on_request(self, req: Request, tx: Any, now: float) -> list[Any]:
        """A request inside the dialog (not ACK, not CANCEL)."""
        dialog = self.dialog
        if dialog is None or self.state is UsageState.TERMINATED:
            return [Respond(tx, make_response(req, 481, "Call/Transaction Does Not Exist"))]
        if not dialog.accepts(req):
            return [Respond(tx, make_response(req, 500, "Server Internal Error",
                                              headers=[("Retry-After", "1")]))]
        method = req.method
        if method == "BYE":
            self._stop_all()
            out: list[Any] = []
            server = self.server
            if server is not None and not server.final:
                # A BYE while a re-INVITE waits for our answer: 487 it (15.1.2).
                out.extend(server.respond(self._response(server.request, 487)))
            self.state = UsageState.TERMINATED
            out.append(Respond(tx, self._response(req, 200)))
            out.append(RemoteBye(req))
            return out
        if method == "INVITE":
            return self._reinvite_received(req, tx, now)
        if method == "UPDATE":
            return self._update_received(req, tx, now)
        return [OtherRequest(req, tx)]

    def _busy_reason(self) -> tuple[int, str, list[tuple[str, str]]] | None:
        """Why an incoming offer cannot be taken now (14.2, RFC 3311 5.2)."""
        if self.reinvite is not None or self.update_cseq is not None:
            return 491, "Request Pending", []
        server = self.server
        pending = server is not None and (not server.final or (
            200 <= server.final < 300 and not server.acked))
        if pending or self.update_tx is not None:
            delay = str(random.randint(0, 10))
            return 500, "Server Internal Error", [("Retry-After", delay)]
        return None

    def _reinvite_received(self, req: Request, tx: Any, now: float) -> list[Any]:
        busy = self._busy_reason()
        if busy is not None:
            status, reason, extra = busy
            return [Respond(tx, self._response(req, status, reason, extra=extra))]
        self.server = InviteServer(req, tx, self.dest)
        self._session_refreshed(req, now)
        return [OfferReceived(req)]

    def _update_received(self, req: Request, tx: Any, now: float) -> list[Any]:
        if req.body:
            busy = self._busy_reason()
            if busy is not None:
                status, reason, extra = busy
                return [Respond(tx, self._response(req, status, reason, extra=extra))]
            self.update_tx = tx
            self.update_request = req
            self._session_refreshed(req, now)
            return [OfferReceived(req)]
        # An UPDATE without SDP is a session refresh (RFC 4028 7.4): just 200.
        self._session_refreshed(req, now)
        return [Respond(tx, self._response(req, 200, extra=self._session_answer(req)))]

    def answer_offer(self, status: int, now: float, *, body: bytes = b"",
                     reason: str | None = None) -> list[Any]:
        """Answer the OfferReceived in progress: 2xx with our SDP, or a failure."""
        if self.update_tx is not None:
            req = self.update_request
            assert req is not None
            tx = self.update_tx
            self.update_tx = self.update_request = None
            extra = self._session_answer(req) if 200 <= status < 300 else []
            if body and status < 300:
                self.local_body = body
            out: list[Any] = [Respond(tx, self._response(
                req, status, reason, body=body, content_type=SDP if body else None,
                extra=extra))]
            out.extend(self._after_transaction(now))
            return out
        server = self.server
        if server is None or server.final or self.dialog is None:
            return []
        req = server.request
        extra = self._session_answer(req) if 200 <= status < 300 else []
        resp = self._response(req, status, reason, body=body,
                              content_type=SDP if body else None, extra=extra)
        out = server.respond(resp)
        if 200 <= status < 300:
            if body:
                self.local_body = body
            self._start_2xx(server, now)
        else:
            out.extend(self._after_transaction(now))
        return out

    # --------------------------------------------------- other requests of ours

    def send_info(self, body: bytes, content_type: str, now: float) -> list[Any]:
        """An INFO in the confirmed dialog (e.g. DTMF as application/dtmf-relay);
        its answer changes nothing here."""
        if self.state is not UsageState.CONFIRMED or self.bye_pending:
            return []
        req = self._request("INFO", body=body, content_type=content_type)
        return [SendRequest(req, self.dest)]

    # ----------------------------------------------------------- our offers

    def offer(self, body: bytes, now: float) -> list[Any]:
        """Send a new offer in a re-INVITE (hold, resume, a changed address).

        While another offer is in progress either way, it waits and goes out
        when that one ends; a newer offer replaces a waiting one."""
        if not self.established or self.bye_pending:
            return []
        self._queued = _Outgoing(body)
        return self._after_transaction(now)

    def _idle(self) -> bool:
        server = self.server
        return (self.reinvite is None and self.update_cseq is None
                and self.update_tx is None
                and (server is None or (server.final and (server.acked or server.final >= 300))))

    def _after_transaction(self, now: float) -> list[Any]:
        """Whatever was waiting for the dialog to be free: a BYE, then a queued offer."""
        if self.bye_pending and (self.server is None or self.server.acked
                                 or not 200 <= self.server.final < 300):
            return self._send_bye(now)
        if self.state is not UsageState.CONFIRMED or not self._idle():
            return []
        job = self._queued
        if job is None or "glare" in self._handles:
            return []
        self._queued = None
        return self._send_offer(job, now)

    def _send_offer(self, job: _Outgoing, now: float) -> list[Any]:
        if job.refresh and self._session.allow_update:
            req = self._request("UPDATE", extra=self._session_request_headers())
            self.update_cseq = req.cseq[0]
            self.update_refresh = True
            return [SendRequest(req, self.dest)]
        extra = list(job.extra)
        if self._session.interval:
            extra.extend(self._session_request_headers())
        body = job.body
        req = self._request("INVITE", body=body, content_type=SDP if body else None,
                            extra=extra)
        self.reinvite = InviteClient(req, self.dest)
        self.reinvite.provisional = True  # a re-INVITE is never CANCELled here
        self._retry = job
        if body:
            self.local_body = body
        return [SendRequest(req, self.dest)]

    def _reinvite_response(self, client: InviteClient, resp: Response,
                           now: float) -> list[Any]:
        status = resp.status
        if status < 200:
            return []
        if status >= 300:
            if client.final:
                return []
            client.final = status
            self.reinvite = None
            job = self._retry
            self._retry = None
            if status == 491 and job is not None:
                # 14.1: try again after a random time; longer for the Call-ID's owner.
                delay = (random.uniform(2.1, 4.0) if self.is_uac
                         else random.uniform(0.0, 2.0))
                if self._queued is None:  # a newer offer replaces the refused one
                    self._queued = job
                self._at("glare", delay, now)
                return []
            out: list[Any] = [] if job is not None and job.refresh else [OfferFailed(status)]
            if status in (408, 481):
                return out + self.hangup(now)  # RFC 5057: the dialog is gone
            return out + self._after_transaction(now)
        assert self.dialog is not None
        if client.final and 200 <= client.final < 300:
            return [client.ack_for(self.dialog, self.local)]  # 2xx retransmission
        client.final = status
        out = [client.ack_for(self.dialog, self.local)]
        job = self._retry
        self._retry = None
        self.reinvite = None
        self.last_reinvite = client
        self._session_from_response(resp)
        self._start_session_timer(now)
        if job is None or not job.refresh or resp.body:
            out.append(OfferAnswered(resp))
        out.extend(self._after_transaction(now))
        return out

    def _update_response(self, resp: Response, now: float) -> list[Any]:
        self.update_cseq = None
        refresh = self.update_refresh
        self.update_refresh = False
        out: list[Any] = []
        if 200 <= resp.status < 300:
            self._session_from_response(resp)
            self._start_session_timer(now)
        elif resp.status == 491:
            self._queued = self._queued or _Outgoing(self.local_body, refresh=True)
            self._at("glare", random.uniform(0.0, 2.0), now)
            return []
        elif not refresh:
            out.append(OfferFailed(resp.status))
        elif resp.status in (405, 501):
            self._session.allow_update = False  # refresh with re-INVITE from now on
            self._queued = self._queued or _Outgoing(self.local_body, refresh=True)
        out.extend(self._after_transaction(now))
        return out

    # ---------------------------------------------------------------- hangup

    def hangup(self, now: float, *, status: int = 480, reason_phrase: str | None = None,
               reason: str | None = None) -> list[Any]:
        """End the leg whatever its state: a final response to an unanswered
        INVITE we received (``status``), CANCEL for one we sent, BYE otherwise
        (after the ACK of our 2xx, 15). ``reason`` is a Reason header value."""
        state = self.state
        if state is UsageState.TERMINATED:
            return []
        if state is UsageState.EARLY:
            if self.is_uac:
                return self.cancel(now, reason)
            out = self.respond(status, reason_phrase, now)
            self.state = UsageState.TERMINATED
            self._stop_all()
            return out
        self.bye_cause = reason
        self.bye_pending = True
        self._queued = None
        return self._after_transaction(now)

    def _send_bye(self, now: float) -> list[Any]:
        self.bye_pending = False
        out: list[Any] = []
        server = self.server
        if server is not None and not server.final:
            out.extend(server.respond(self._response(server.request, 487)))
        extra = [("Reason", self.bye_cause)] if self.bye_cause else []
        bye = self._request("BYE", extra=extra)
        self.state = UsageState.TERMINATED
        self._stop_all()
        out.append(SendRequest(bye, self.dest))
        return out

    def release(self) -> None:
        """The edge is done with this usage: cancel its timers and forget the
        edge, so the two free each other without waiting for the collector."""
        self._stop_all()
        self._owner = None

    def _stop_all(self) -> None:
        for kind in list(self._handles):
            self._cancel(kind)

    # ---------------------------------------------------------------- timers

    def on_timer(self, kind: str, now: float) -> list[Any]:
        """A timer of this usage fired (the edge passes the entry's kind)."""
        self._handles.pop(kind, None)
        if self.state is UsageState.TERMINATED:
            return []
        if kind == "2xx":
            server = self.server
            if server is None:
                return []
            out = server.retransmit(self.settings.t2)
            if out:
                self._at("2xx", server._interval, now)
            return out
        if kind == "ack":
            server = self.server
            if server is None or server.acked:
                return []
            # 13.3.1.4: no ACK in 64*T1: confirm the dialog, then end it.
            server.acked = True
            self._cancel("2xx")
            self.state = UsageState.CONFIRMED
            self.bye_pending = True
            return [AckTimeout(), *self._send_bye(now)]
        if kind == "glare":
            return self._after_transaction(now)
        if kind == "refresh":
            if not self.bye_pending:
                self._queued = self._queued or _Outgoing(self.local_body, refresh=True)
                self._at("expire", self._session.interval / 2, now)
            return self._after_transaction(now)
        if kind == "expire":
            self.bye_pending = True
            return [SessionExpired(), *self._after_transaction(now)]
        return []

    # ---------------------------------------------------------- session timers

    def _session_answer(self, req: Request) -> list[tuple[str, str]]:
        """Session-Expires for our 2xx to ``req`` (RFC 4028 9), and start the state."""
        session = self._session
        if not self.settings.session_expires:
            return []
        se = req.headers.get("Session-Expires")
        supported = _has_option(req, "Supported", "timer")
        if se is None:
            if not supported:
                return []
            interval, refresher = self.settings.session_expires, "uac"
        else:
            value, _, params = se.partition(";")
            try:
                interval = int(value.strip())
            except ValueError:
                return []
            interval = max(interval, self.settings.min_se)
            refresher = _param(params, "refresher") or ("uac" if supported else "uas")
        session.interval = interval
        session.peer_supports = supported
        # The remote is the UAC of this transaction: "uac" means it refreshes.
        session.we_refresh = refresher == "uas"
        headers = [("Session-Expires", f"{interval};refresher={refresher}")]
        if supported:
            headers.append(("Require", "timer"))
        return headers

    def _session_from_response(self, resp: Response) -> None:
        """Session-Expires in a 2xx to our INVITE/UPDATE (we are the UAC)."""
        if not self.settings.session_expires:
            return
        se = resp.headers.get("Session-Expires")
        session = self._session
        session.allow_update = session.allow_update or _allows(resp, "UPDATE")
        if se is None:
            if not session.interval:
                return
            # No timer in the answer: the session has none from now on (RFC 4028 7.2).
            session.interval = 0
            return
        value, _, params = se.partition(";")
        try:
            session.interval = int(value.strip())
        except ValueError:
            session.interval = 0
            return
        session.we_refresh = (_param(params, "refresher") or "uac") == "uac"

    def _session_request_headers(self) -> list[tuple[str, str]]:
        session = self._session
        if not session.interval:
            return []
        return [("Session-Expires", f"{session.interval};refresher=uac"),
                ("Supported", "timer")]

    def _start_session_timer(self, now: float) -> None:
        session = self._session
        self._cancel("refresh")
        self._cancel("expire")
        if not session.interval or self.state is not UsageState.CONFIRMED:
            return
        if session.we_refresh:
            self._at("refresh", session.interval / 2, now)
        else:
            # RFC 4028 10: BYE at the expiry minus a third (at most 32 s).
            self._at("expire", session.interval - min(32, session.interval / 3), now)

    def _session_refreshed(self, req: Request, now: float) -> None:
        """The remote refreshed (a re-INVITE or UPDATE from it)."""
        if self._session.interval and not self._session.we_refresh:
            self._start_session_timer(now)


def _allows(msg: Any, method: str) -> bool:
    return _has_option(msg, "Allow", method)


def _has_option(msg: Any, header: str, token: str) -> bool:
    token = token.lower()
    for value in msg.headers.get_all(header):
        for item in value.split(","):
            if item.strip().lower() == token:
                return True
    return False


def _param(params: str, name: str) -> str | None:
    for p in params.split(";"):
        key, _, value = p.partition("=")
        if key.strip().lower() == name:
            return value.strip().lower() or None
    return None
