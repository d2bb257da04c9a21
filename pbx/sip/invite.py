"""One INVITE above its transaction (RFC 3261 sec. 13, RFC 6026), sans-I/O.

* :class:`InviteServer` (UAS side of one INVITE, initial or re-INVITE): sends
  the provisional and final responses; its 2xx is retransmitted, T1 doubling
  to T2, until the ACK (13.3.1.4);
* :class:`InviteClient` (UAC side of one INVITE): ACKs every 2xx with the
  INVITE's own CSeq (13.2.2.4) and re-sends that ACK for each retransmitted
  2xx; CANCEL only after a provisional (9.1), sent as soon as one arrives when
  asked for earlier.

They are the parts of :class:`pbx.sip.invite_usage.InviteUsage`, which owns
the dialog and the timers; this module also holds the actions and events the
usage returns. Nothing here touches a socket or a clock.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Protocol

from pbx.sip.address import Address
from pbx.sip.auth import build_authorization, choose_challenge
from pbx.sip.dialog import Dialog
from pbx.sip.headers import Headers, split_list
from pbx.sip.message import Request, Response
from pbx.sip.requests import via_value

__all__ = [
    "Accepted",
    "AckReceived",
    "AckTimeout",
    "Cancelled",
    "Challenged",
    "Credentials",
    "Failed",
    "InviteClient",
    "InviteServer",
    "InviteSettings",
    "OfferAnswered",
    "OfferFailed",
    "OfferReceived",
    "OtherRequest",
    "Progress",
    "RemoteBye",
    "Respond",
    "SendRequest",
    "SendStateless",
    "SessionExpired",
    "UsageState",
]

SDP = "application/sdp"


@dataclass(frozen=True, slots=True)
class InviteSettings:
    """Timer values of one PBX (sip.t1/t2 in pbx.yaml; RFC 4028 defaults)."""

    t1: float = 0.5
    t2: float = 4.0
    session_expires: int = 1800  # what we ask for; 0 turns session timers off
    min_se: int = 90  # the smallest interval we accept (RFC 4028 Min-SE)


class Credentials(Protocol):
    """What answers a 401/407 to our INVITE (pbx.sip_model.OutboundAuth has it)."""

    username: str
    password: str

    def answers(self, realm: str) -> bool: ...


# --------------------------------------------------------------------- actions


@dataclass(slots=True)
class SendRequest:
    """Send ``request`` to ``dest`` in a new client transaction; its responses
    go to :meth:`InviteUsage.on_response`, a timeout or transport error to
    :meth:`InviteUsage.on_failure`."""

    request: Request
    dest: Address


@dataclass(slots=True)
class SendStateless:
    """Send bytes outside any transaction: the ACK of a 2xx, a 2xx retransmission."""

    data: bytes
    dest: Address


@dataclass(slots=True)
class Respond:
    """Send ``response`` on the server transaction ``tx``."""

    tx: Any
    response: Response


# ---------------------------------------------------------------------- events


@dataclass(slots=True)
class Progress:
    """A provisional response (not 100) to our initial INVITE."""

    response: Response


@dataclass(slots=True)
class Accepted:
    """Our initial INVITE was answered with a 2xx; the ACK is on its way."""

    response: Response


@dataclass(slots=True)
class Failed:
    """Our initial INVITE failed: a final non-2xx, or 408/503 on a timeout or a
    transport error (``response`` None then)."""

    status: int
    response: Response | None


@dataclass(slots=True)
class Challenged:
    """Our initial INVITE got a 401/407 and went again with credentials (22.2)."""

    status: int
    realm: str


@dataclass(slots=True)
class AckReceived:
    """The ACK of our 2xx (``ack.body`` holds the answer to a late offer)."""

    ack: Request


@dataclass(slots=True)
class AckTimeout:
    """No ACK for our 2xx in 64*T1: the call is over (a BYE was sent)."""


@dataclass(slots=True)
class Cancelled:
    """The caller cancelled our pending initial INVITE; 487 was sent."""


@dataclass(slots=True)
class OfferReceived:
    """A re-INVITE or UPDATE: answer with :meth:`InviteUsage.answer_offer`.

    ``request.body`` is the remote's offer; empty for a re-INVITE without SDP
    (we must offer in the 2xx) or a refresh."""

    request: Request


@dataclass(slots=True)
class OfferAnswered:
    """Our re-INVITE/UPDATE got a 2xx; ``response.body`` is the answer."""

    response: Response


@dataclass(slots=True)
class OfferFailed:
    """Our re-INVITE/UPDATE failed (non-2xx other than 491, or no answer)."""

    status: int


@dataclass(slots=True)
class RemoteBye:
    """The remote ended the dialog with BYE (answered 200)."""

    request: Request


@dataclass(slots=True)
class SessionExpired:
    """No session refresh came in time (RFC 4028 10): a BYE was sent."""


@dataclass(slots=True)
class OtherRequest:
    """An in-dialog request the usage does not handle (INFO, REFER, NOTIFY...)."""

    request: Request
    tx: Any


class UsageState(enum.StrEnum):
    """Where the usage stands: the initial INVITE pending, its 2xx sent but not
    ACKed (UAS), the dialog confirmed, or over."""

    EARLY = "early"
    ACCEPTED = "accepted"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


# ----------------------------------------------------------- the two machines


class InviteServer:
    """UAS side of one received INVITE above its server transaction."""

    __slots__ = ("_interval", "_ok", "_ok_bytes", "acked", "final", "reply_to", "request", "tx")

    def __init__(self, request: Request, tx: Any, reply_to: Address) -> None:
        self.request = request
        self.tx = tx
        self.reply_to = reply_to
        self.final = 0  # status of the final response sent; 0 while none
        self.acked = False
        self._ok: Response | None = None
        self._ok_bytes: bytes | None = None
        self._interval = 0.0

    @property
    def cseq(self) -> int:
        return self.request.cseq[0]

    def respond(self, response: Response) -> list[Any]:
        """Send a response; a second final is refused (returns nothing)."""
        if self.final:
            return []
        status = response.status
        if status >= 200:
            self.final = status
            if status < 300:
                self._ok = response
        return [Respond(self.tx, response)]

    def retransmit(self, t2: float) -> list[Any]:
        """The 2xx again (the same bytes every time); the next interval doubles to T2."""
        if self.acked or self._ok is None:
            return []
        if self._ok_bytes is None:
            # Serialised at the first retransmission: the edge has added its
            # Server header by then, so every copy is the same as the first.
            self._ok_bytes = self._ok.to_bytes()
        self._interval = min(2 * self._interval, t2)
        return [SendStateless(self._ok_bytes, self.reply_to)]


class InviteClient:
    """UAC side of one INVITE we sent, above its client transaction."""

    __slots__ = ("acks", "cancel_reason", "cancel_sent", "cancel_wanted", "dest", "final",
                 "provisional", "request")

    def __init__(self, request: Request, dest: Address) -> None:
        self.request = request
        self.dest = dest
        self.provisional = False  # a 1xx (>100) or 100 arrived: CANCEL is allowed (9.1)
        self.final = 0
        self.cancel_wanted = False
        self.cancel_sent = False
        self.cancel_reason: str | None = None
        self.acks: dict[str, bytes] = {}  # To tag -> the ACK sent for that 2xx

    @property
    def cseq(self) -> int:
        return self.request.cseq[0]

    def cancel(self, reason: str | None) -> list[Any]:
        """CANCEL the INVITE now if a provisional came, else as soon as one does."""
        if self.final or self.cancel_sent:
            return []
        self.cancel_wanted = True
        self.cancel_reason = reason
        if not self.provisional:
            return []
        return self._send_cancel()

    def _send_cancel(self) -> list[Any]:
        self.cancel_sent = True
        return [SendRequest(build_cancel(self.request, self.cancel_reason), self.dest)]

    def provisional_received(self) -> list[Any]:
        """A provisional arrived: send a CANCEL that was waiting for one."""
        if self.provisional:
            return []
        self.provisional = True
        if self.cancel_wanted and not self.cancel_sent and not self.final:
            return self._send_cancel()
        return []

    def ack_for(self, dialog: Dialog, local: Address) -> SendStateless:
        """The ACK of a 2xx from ``dialog``'s remote: built once per To tag, then re-sent."""
        tag = dialog.remote_tag or ""
        data = self.acks.get(tag)
        if data is None:
            ack = dialog.request("ACK", via_value(local), cseq=self.cseq)
            data = self.acks[tag] = ack.to_bytes()
        return SendStateless(data, self.dest)

    def authorized(self, resp: Response, credentials: Credentials,
                   via: str) -> tuple[Request, str] | None:
        """The INVITE again, answering ``resp``'s 401/407 challenge (RFC 3261 22.2,
        8.1.3.5): the same Call-ID, From tag, To, Request-URI and body, the next
        CSeq and a new branch (``via``). None when the challenge cannot be
        answered (no Digest challenge we can compute, credentials for another
        realm). Returns the request and the realm answered."""
        status = resp.status
        header = "WWW-Authenticate" if status == 401 else "Proxy-Authenticate"
        challenge = choose_challenge(resp.headers.get_all(header))
        if challenge is None or not credentials.answers(challenge["realm"]):
            return None
        old = self.request
        uri = old.start_line().split(" ")[1]  # the Request-URI exactly as sent
        value = build_authorization(challenge, credentials.username, credentials.password,
                                    "INVITE", uri)
        if value is None:
            return None
        headers = old.headers.copy()
        headers.replace_top("Via", via)
        headers.set("CSeq", f"{old.cseq[0] + 1} INVITE")
        headers.remove("Authorization")
        headers.remove("Proxy-Authorization")
        headers.add("Authorization" if status == 401 else "Proxy-Authorization", value)
        return Request("INVITE", uri, headers, old.body), challenge["realm"]


def build_cancel(invite: Request, reason: str | None = None) -> Request:
    """CANCEL for ``invite`` (9.1): its Request-URI, Call-ID, From, To, CSeq
    number, top Via and Route; ``reason`` becomes a Reason header (RFC 3326)."""
    h = invite.headers
    vias = h.get_all("Via")
    headers = Headers([
        ("Via", split_list(vias[0])[0] if vias else ""),
        ("Max-Forwards", "70"),
        ("From", h.get("From") or ""),
        ("To", h.get("To") or ""),
        ("Call-ID", h.get("Call-ID") or ""),
        ("CSeq", f"{invite.cseq[0]} CANCEL"),
    ])
    for route in h.get_all("Route"):
        headers.add("Route", route)
    if reason:
        headers.add("Reason", reason)
    # The Request-URI exactly as the INVITE carried it (9.1).
    return Request("CANCEL", invite.start_line().split(" ")[1], headers)
