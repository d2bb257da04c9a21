"""REFER inside a call (RFC 3515) and its implicit subscription, notifier side, sans-I/O.

A phone's transfer button sends REFER in the dialog of the call it transfers:
``Refer-To`` names the target (blind transfer) or, with an embedded
``?Replaces=`` (RFC 5589), the phone's other call (attended transfer).
:func:`parse_refer` reads what is asked; :class:`ReferNotifier` is the
subscription the REFER creates: ``202 Accepted``, then NOTIFYs whose
``message/sipfrag`` body is the transfer's progress (``SIP/2.0 100 Trying``
at once, ``180 Ringing`` while the target rings, then the final status with
``Subscription-State: terminated``). ``Refer-Sub: false`` (RFC 4488) asks
for no subscription: the 202 says so and no NOTIFY is sent.

Like the INVITE usage, nothing here touches a socket or a clock: every entry
point takes ``now`` and returns actions (:class:`~pbx.sip.invite.Respond`,
:class:`~pbx.sip.invite.SendRequest`) and events (:class:`ReferFinished`).
One NOTIFY is in flight at a time (RFC 6665 4.2.2: a newer state waits for
the previous NOTIFY's answer, and replaces a state still waiting). Timers
(the subscription's expiry) are entries on the shared timer heap, owned by
``timer_owner`` with kinds starting ``refer-``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pbx.sip.invite import Respond, SendRequest
from pbx.sip.message import Request, Response, make_response
from pbx.sip.replaces import Replaces, ReplacesError, parse_replaces
from pbx.sip.timers import TimerHandle, TimerHeap
from pbx.sip.uri import Uri, UriError, parse_name_addr

__all__ = ["ReferError", "ReferFinished", "ReferNotifier", "ReferRequest", "parse_refer",
           "sipfrag"]

SIPFRAG = "message/sipfrag;version=2.0"
EXPIRES = 600.0  # seconds the implicit subscription lasts (pjsip's PJSIP_XFER_EXPIRES)

_REASONS = {100: "Trying", 180: "Ringing", 183: "Session Progress", 200: "OK",
            400: "Bad Request", 403: "Forbidden", 404: "Not Found", 480: "Temporarily Unavailable",
            481: "Call/Transaction Does Not Exist", 486: "Busy Here", 487: "Request Terminated",
            488: "Not Acceptable Here", 500: "Server Internal Error",
            503: "Service Unavailable", 603: "Decline"}


class ReferError(ValueError):
    """A REFER the PBX must refuse: ``status`` and ``reason`` for the response."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ReferRequest:
    """What one REFER asks for."""

    target: Uri  # Refer-To without its embedded headers
    replaces: Replaces | None  # attended transfer: the dialog the target call is
    referred_by: str | None  # Referred-By, as written (kept for the transferee's leg)
    subscribe: bool  # False with "Refer-Sub: false" (RFC 4488): no NOTIFY

    @property
    def exten(self) -> str:
        """The extension a blind transfer goes to (``s`` when the URI has no user)."""
        return self.target.user or "s"


def parse_refer(req: Request) -> ReferRequest:
    """Read Refer-To, Replaces, Referred-By and Refer-Sub; ReferError(400) if unusable."""
    headers = req.headers
    values = headers.get_all("Refer-To")
    if len(values) != 1:
        raise ReferError(400, "Bad Request - One Refer-To header is required")
    try:
        addr = parse_name_addr(values[0])
    except UriError as exc:
        raise ReferError(400, f"Bad Request - Refer-To: {exc}") from exc
    uri = addr.uri
    if uri.scheme not in ("sip", "sips"):
        raise ReferError(400, "Bad Request - Refer-To must be a sip: URI")
    replaces = None
    embedded = {k.lower(): v for k, v in uri.headers.items()}
    raw = embedded.get("replaces") or uri.params.get("replaces")
    if raw:
        try:
            replaces = parse_replaces(raw)
        except ReplacesError as exc:
            raise ReferError(400, f"Bad Request - {exc}") from exc
    target = Uri(uri.scheme, uri.user, None, uri.host, uri.port,
                 {k: v for k, v in uri.params.items() if k != "replaces"})
    refer_sub = (headers.get("Refer-Sub") or "true").strip().lower()
    return ReferRequest(target=target, replaces=replaces,
                        referred_by=headers.get("Referred-By"),
                        subscribe=refer_sub != "false")


def sipfrag(status: int, reason: str | None = None) -> bytes:
    """The ``message/sipfrag`` body of a NOTIFY: a status line."""
    return f"SIP/2.0 {status} {reason or _REASONS.get(status, 'Unknown')}\r\n".encode()


@dataclass(slots=True)
class ReferFinished:
    """The subscription is over (final NOTIFY answered, refused or lost; or there
    was none): the transferer's phone has had its answer."""

    status: int  # the final status reported (0 when no final was ever sent)


# Builds one request in the dialog with the dialog's next CSeq (the INVITE usage's).
RequestMaker = Callable[..., SendRequest | None]


class ReferNotifier:
    """The notifier of one REFER's implicit subscription (RFC 3515 2.4.4-2.4.7)."""

    def __init__(self, refer: Request, tx: Any, *, request: ReferRequest, contact: str,
                 make_request: RequestMaker, timers: TimerHeap, timer_owner: Any,
                 event_id: int | None = None, expires: float = EXPIRES) -> None:
        self.refer = refer
        self.tx = tx
        self.request = request
        self.contact = contact
        self._make_request = make_request
        self._timers = timers
        self._owner = timer_owner
        # "Event: refer;id=<CSeq>" for every REFER but the first of a dialog (2.4.6).
        self.event = "refer" if event_id is None else f"refer;id={event_id}"
        self.expires = expires
        self.final = 0  # the final status once notified
        self.finished = False
        self._in_flight: int | None = None  # CSeq of the NOTIFY waiting for its answer
        self._waiting: tuple[int, str | None, bool] | None = None
        self._expiry: TimerHandle | None = None
        self._last = 100

    # ---------------------------------------------------------------- answer

    def accept(self, now: float) -> list[Any]:
        """202 Accepted, then (with a subscription) NOTIFY 100 Trying at once."""
        extra = [("Contact", self.contact)]
        if not self.request.subscribe:
            extra.append(("Refer-Sub", "false"))
        out: list[Any] = [Respond(self.tx, make_response(self.refer, 202, "Accepted",
                                                         headers=extra))]
        if not self.request.subscribe:
            self.finished = True
            out.append(ReferFinished(0))
            return out
        self._expiry = self._timers.schedule(now + self.expires, self._owner, "refer-expire")
        out.extend(self._send(100, None, final=False))
        return out

    def reject(self, status: int, reason: str | None = None) -> list[Any]:
        """Refuse the REFER itself (no subscription is created)."""
        self.finished = True
        return [Respond(self.tx, make_response(self.refer, status, reason)),
                ReferFinished(status)]

    # -------------------------------------------------------------- progress

    def progress(self, status: int, reason: str | None, now: float) -> list[Any]:
        """Report a provisional status of the transfer (180 Ringing, 183...)."""
        if self.final or self.finished or not self.request.subscribe or status >= 200:
            return []
        if status == self._last:
            return []
        self._last = status
        return self._send(status, reason, final=False)

    def finish(self, status: int, reason: str | None, now: float) -> list[Any]:
        """Report the transfer's outcome (200 when the transferee reached the
        target, a failure otherwise); the subscription then ends."""
        if self.final or self.finished:
            return []
        self.final = status
        self._cancel_expiry()
        if not self.request.subscribe:
            self.finished = True
            return []
        return self._send(status, reason, final=True)

    def _send(self, status: int, reason: str | None, *, final: bool) -> list[Any]:
        if self._in_flight is not None:
            # One NOTIFY at a time: the newest state goes when this one is answered.
            if self._waiting is None or not self._waiting[2]:
                self._waiting = (status, reason, final)
            return []
        state = "terminated;reason=noresource" if final else \
            f"active;expires={int(self.expires)}"
        action = self._make_request(
            "NOTIFY", body=sipfrag(status, reason), content_type=SIPFRAG,
            extra=[("Event", self.event), ("Subscription-State", state),
                   ("Contact", self.contact)])
        if action is None:  # the dialog is gone: nobody to tell
            self.finished = True
            return [ReferFinished(self.final)]
        self._in_flight = action.request.cseq[0]
        return [action]

    # ---------------------------------------------------------- the NOTIFYs' answers

    def on_response(self, resp: Response, now: float) -> list[Any]:
        """A response to one of our NOTIFYs."""
        if resp.status < 200 or resp.cseq[0] != self._in_flight:
            return []
        self._in_flight = None
        if resp.status >= 300:
            # 481 (or any failure): the phone has dropped the subscription (RFC 6665 4.1.3).
            return self._over()
        return self._after_answer()

    def on_failure(self, cseq: int, now: float) -> list[Any]:
        """A NOTIFY got no answer (timeout or transport error): the subscription is gone."""
        if cseq != self._in_flight:
            return []
        self._in_flight = None
        return self._over()

    def _after_answer(self) -> list[Any]:
        waiting = self._waiting
        if waiting is not None:
            self._waiting = None
            return self._send(*waiting[:2], final=waiting[2])
        if self.final and not self.finished:
            self.finished = True
            return [ReferFinished(self.final)]
        return []

    def _over(self) -> list[Any]:
        self._cancel_expiry()
        self._waiting = None
        if self.finished:
            return []
        self.finished = True
        self.final = self.final or 487
        return [ReferFinished(self.final)]

    # ---------------------------------------------------------------- timers

    def on_timer(self, kind: str, now: float) -> list[Any]:
        """The subscription expired before the transfer ended: say so (2.4.7)."""
        self._expiry = None
        if kind != "refer-expire" or self.final or self.finished:
            return []
        self.final = self._last
        state = "terminated;reason=timeout"
        if self._in_flight is not None:
            self._waiting = (self._last, None, True)
            return []
        action = self._make_request(
            "NOTIFY", body=sipfrag(self._last), content_type=SIPFRAG,
            extra=[("Event", self.event), ("Subscription-State", state),
                   ("Contact", self.contact)])
        if action is None:
            self.finished = True
            return [ReferFinished(self.final)]
        self._in_flight = action.request.cseq[0]
        return [action]

    def _cancel_expiry(self) -> None:
        if self._expiry is not None:
            self._timers.cancel(self._expiry)
            self._expiry = None

    def stop(self) -> None:
        """The dialog ended: drop the timer (no NOTIFY can be sent any more)."""
        self._cancel_expiry()
        self.finished = True
