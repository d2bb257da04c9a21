"""The notifier side of one SUBSCRIBE dialog (RFC 6665), sans-I/O.

:class:`ServerSubscription` answers the SUBSCRIBE that made it and every
refresh in its dialog (200 with the granted Expires, 423 below the minimum,
489 for another event, 481 once over, 500 for an old CSeq), sends each NOTIFY
with the dialog's next CSeq and a ``Subscription-State`` saying how long is
left, and ends the subscription: on ``Expires: 0`` and when the time runs out
(a last NOTIFY ``terminated;reason=timeout``), when the event package says so
(``noresource`` when a hint is removed, ``deactivated`` at shutdown), or when
the subscriber answers a NOTIFY with 481 or not at all (RFC 6665 4.2.2).

One NOTIFY is in flight at a time: a state change while one is unanswered is
kept, and only the newest goes out when the answer comes (bursts coalesce,
and a subscriber never sees NOTIFYs overtake each other).

What to say is not decided here: after a refresh, an unsubscribe or the
expiry the machine returns :class:`NotifyNeeded` and the event package
answers with :meth:`ServerSubscription.notify` (the body of the state now).
Timers go on the core's one heap (``timers.schedule(when, timer_owner,
"expire")``); the owner gives them back through :meth:`on_timer`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pbx.sip.address import Address
from pbx.sip.dialog import Dialog
from pbx.sip.invite import Respond, SendRequest
from pbx.sip.message import Request, Response, make_response
from pbx.sip.requests import via_value
from pbx.sip.timers import TimerHandle, TimerHeap

__all__ = ["Body", "NotifyNeeded", "Respond", "SendRequest", "ServerSubscription", "SubState",
           "SubscriptionEnded", "SubscriptionSettings", "event_package"]


@dataclass(frozen=True, slots=True)
class SubscriptionSettings:
    """Expiry limits (sip.conf minexpiry/maxexpiry, pjsip sub_min_expiry)."""

    min_expires: int = 60
    max_expires: int = 3600
    default_expires: int = 3600  # a SUBSCRIBE without Expires (RFC 3856/4235: 3600)


Body = bytes | Callable[[], bytes]


class SubState(enum.Enum):
    ACTIVE = "active"
    ENDING = "ending"  # the next NOTIFY says terminated
    TERMINATED = "terminated"


@dataclass(slots=True)
class NotifyNeeded:
    """Send the current state now with :meth:`ServerSubscription.notify`."""


@dataclass(slots=True)
class SubscriptionEnded:
    """The subscription is over: forget it (its last NOTIFY, if any, is sent)."""

    reason: str


def event_package(req: Request) -> str:
    """The package of a SUBSCRIBE's Event header (`dialog;id=x` -> `dialog`)."""
    return (req.headers.get("Event") or "").split(";", 1)[0].strip().lower()


def _granted(req: Request, settings: SubscriptionSettings) -> int | None:
    """The expiry we grant: the asked one capped at max; None: below the minimum."""
    asked = req.expires
    if asked is None:
        asked = settings.default_expires
    if asked == 0:
        return 0
    if asked < settings.min_expires:
        return None
    return min(asked, settings.max_expires)


class ServerSubscription:
    """One subscription, notifier side (see the module docstring)."""

    def __init__(self, dialog: Dialog, *, event: str, event_header: str, local: Address,
                 dest: Address, contact: str, settings: SubscriptionSettings,
                 timers: TimerHeap, timer_owner: Any) -> None:
        self.dialog = dialog
        self.event = event  # the package: dialog, presence, message-summary
        self.event_header = event_header  # echoed in each NOTIFY (with its id=)
        self.local = local
        self.dest = dest  # where NOTIFYs go: where the SUBSCRIBE came from (NAT)
        self.contact = contact
        self.settings = settings
        self.timers = timers
        self.timer_owner = timer_owner
        self.state = SubState.ACTIVE
        self.reason = ""
        self.expires_at = 0.0
        self._timer: TimerHandle | None = None
        self._in_flight = False
        # The newest body waiting to go; a callable is rendered when it goes (a
        # dialog-info version counts documents sent, not states seen).
        self._next: tuple[str, Body] | None = None
        self.last: tuple[str, bytes] | None = None  # the last body sent
        self.notifies_sent = 0

    # --- the SUBSCRIBE that creates it -----------------------------------------
    @classmethod
    def accept(cls, req: Request, tx: Any, *, local_tag: str, local: Address, dest: Address,
               contact: str, settings: SubscriptionSettings, now: float, timers: TimerHeap,
               timer_owner: Any) -> tuple[ServerSubscription | None, list[Any]]:
        """Answer an initial SUBSCRIBE the package accepted: 200 and a new
        subscription (which must NOTIFY at once: call notify()), or 423."""
        granted = _granted(req, settings)
        if granted is None:
            return None, [Respond(tx, _too_brief(req, settings))]
        sub = cls(Dialog.as_uas(req, local_tag), event=event_package(req),
                  event_header=req.headers.get("Event") or "", local=local, dest=dest,
                  contact=contact, settings=settings, timers=timers, timer_owner=timer_owner)
        sub._expire_in(granted, now)
        return sub, [Respond(tx, make_response(req, 200, "OK", to_tag=local_tag, headers=[
            ("Expires", str(granted)), ("Contact", contact)]))]

    @property
    def key(self) -> tuple[str, str]:
        """(Call-ID, our tag): how in-dialog requests find it."""
        return self.dialog.call_id, self.dialog.local_tag

    def remaining(self, now: float) -> int:
        return max(0, round(self.expires_at - now))

    def _expire_in(self, seconds: int, now: float) -> None:
        self.timers.cancel(self._timer)
        self._timer = None
        self.expires_at = now + seconds
        if seconds == 0:  # a fetch or an unsubscribe: one NOTIFY, terminated
            self.state, self.reason = SubState.ENDING, "timeout"
        else:
            self._timer = self.timers.schedule(self.expires_at, self.timer_owner, "expire")

    # --- requests in the dialog ----------------------------------------------------
    def on_subscribe(self, req: Request, tx: Any, now: float) -> list[Any]:
        """A refresh (or `Expires: 0`) in this dialog."""
        if self.state is not SubState.ACTIVE:
            return [Respond(tx, make_response(req, 481, "Subscription Does Not Exist"))]
        if not self.dialog.accepts(req):
            return [Respond(tx, make_response(req, 500, "Server Internal Error", headers=[
                ("Retry-After", "1")]))]
        if event_package(req) != self.event:
            return [Respond(tx, make_response(req, 489, "Bad Event",
                                              headers=[("Allow-Events", self.event)]))]
        granted = _granted(req, self.settings)
        if granted is None:
            return [Respond(tx, _too_brief(req, self.settings))]
        contacts = req.contacts
        if contacts:  # SUBSCRIBE refreshes the target (RFC 6665 4.1.2.1)
            self.dialog.remote_target = str(contacts[0].uri)
        self._expire_in(granted, now)
        return [Respond(tx, make_response(req, 200, "OK", headers=[
            ("Expires", str(granted)), ("Contact", self.contact)])), NotifyNeeded()]

    def on_timer(self, kind: str, now: float) -> list[Any]:
        """The expiry: the last NOTIFY says terminated;reason=timeout."""
        if kind != "expire" or self.state is not SubState.ACTIVE:
            return []
        self._timer = None
        self.state, self.reason = SubState.ENDING, "timeout"
        return [NotifyNeeded()]

    # --- NOTIFY --------------------------------------------------------------------
    def notify(self, content_type: str, body: Body, now: float) -> list[Any]:
        """Tell the subscriber the state `body` (bytes, or a callable that makes them
        when the NOTIFY goes); sent now, or when the NOTIFY in flight is answered
        (only the newest waits)."""
        if self.state is SubState.TERMINATED:
            return []
        self._next = (content_type, body)
        if self._in_flight:
            return []
        return self._send(now)

    def terminate(self, reason: str, now: float, content_type: str = "",
                  body: Body | None = None) -> list[Any]:
        """End it from our side (noresource, deactivated, rejected): a last NOTIFY
        with `body`, or the newest body not sent yet, or the last one sent."""
        if self.state is SubState.TERMINATED:
            return []
        self.state, self.reason = SubState.ENDING, reason
        self.timers.cancel(self._timer)
        self._timer = None
        if body is not None:
            self._next = (content_type, body)
        elif self._next is None:
            self._next = self.last or ("", b"")
        if self._in_flight:
            return []
        return self._send(now)

    def _send(self, now: float) -> list[Any]:
        assert self._next is not None
        content_type, pending = self._next
        self._next = None
        body = pending() if callable(pending) else pending
        if self.state is SubState.ENDING:
            header = f"terminated;reason={self.reason}"
        else:
            header = f"active;expires={self.remaining(now)}"
        req = self.dialog.request("NOTIFY", via_value(self.local), contact=self.contact, extra=[
            ("Event", self.event_header), ("Subscription-State", header)],
            body=body, content_type=content_type or None)
        self.last = (content_type, body)
        self.notifies_sent += 1
        actions: list[Any] = [SendRequest(req, self.dest)]
        if self.state is SubState.ENDING:
            actions.extend(self._end(self.reason))
        else:
            self._in_flight = True
        return actions

    def on_response(self, resp: Response, now: float) -> list[Any]:
        """The subscriber's answer to our NOTIFY."""
        if resp.status < 200 or self.state is SubState.TERMINATED:
            return []
        self._in_flight = False
        if resp.status in (404, 405, 408, 410, 416, 480, 481, 482, 483, 484, 485, 489, 501,
                           604):
            # RFC 6665 4.2.2: these mean the subscriber no longer wants it.
            return self._end("rejected")
        if self._next is not None:
            return self._send(now)
        return []

    def on_failure(self, status: int, now: float) -> list[Any]:
        """No answer to our NOTIFY (timeout, transport error): the subscriber is gone."""
        if self.state is SubState.TERMINATED:
            return []
        self._in_flight = False
        return self._end("giveup")

    def _end(self, reason: str) -> list[Any]:
        self.state = SubState.TERMINATED
        self.reason = reason
        self.timers.cancel(self._timer)
        self._timer = None
        self._next = None
        return [SubscriptionEnded(reason)]


def _too_brief(req: Request, settings: SubscriptionSettings) -> Response:
    return make_response(req, 423, "Interval Too Brief",
                         headers=[("Min-Expires", str(settings.min_expires))])
