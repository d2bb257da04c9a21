"""Message waiting indication (RFC 3842 ``message-summary``), SIP-free.

The SIP code provides one hook, ``send_notify(peer, body, subscription)``:

- ``subscription is None``: an unsolicited NOTIFY to the registered contacts
  of sip.conf peer ``peer`` (one whose ``mailbox=`` names the mailbox);
- otherwise a NOTIFY inside that SUBSCRIBE dialog (``subscription.dialog`` is
  whatever the SIP code passed to `subscribe`); its ``Subscription-State``
  header is ``subscription.state_header()``.

Either way: ``Event: message-summary``, ``Content-Type:
application/simple-message-summary`` and `body` as the message body.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from voicemail.config import split_mailbox

log = logging.getLogger("voicemail.mwi")

EVENT = "message-summary"
CONTENT_TYPE = "application/simple-message-summary"
MAX_EXPIRES = 3600
DEFAULT_EXPIRES = 3600


def message_summary(new: int, old: int, account_uri: str | None = None, *,
                    urgent_new: int = 0, urgent_old: int = 0) -> bytes:
    """The RFC 3842 body: Messages-Waiting, Message-Account, Voice-Message: new/old (urgent)."""
    lines = [f"Messages-Waiting: {'yes' if new else 'no'}"]
    if account_uri:
        lines.append(f"Message-Account: {account_uri}")
    lines.append(f"Voice-Message: {new}/{old} ({urgent_new}/{urgent_old})")
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


def parse_summary(body: bytes) -> dict[str, str]:
    """Header-like lines of a message-summary body (for tests and diagnostics)."""
    out: dict[str, str] = {}
    for line in body.decode("ascii", errors="replace").splitlines():
        k, sep, v = line.partition(":")
        if sep:
            out[k.strip()] = v.strip()
    return out


def parse_mailboxes(spec: str) -> list[str]:
    """sip.conf `mailbox=6001@default,6002&6003` -> ["6001@default", "6002@default", ...]."""
    out: list[str] = []
    for part in spec.replace("&", ",").split(","):
        if part.strip():
            box, ctx = split_mailbox(part)
            key = f"{box}@{ctx}"
            if key not in out:
                out.append(key)
    return out


@dataclass(slots=True)
class Subscription:
    """A SUBSCRIBE dialog for message-summary."""

    id: int
    peer: str | None
    mailboxes: list[str]
    dialog: Any  # the SIP code's dialog handle, passed back in send_notify
    expires_at: float
    terminated: bool = False
    reason: str = ""
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)

    def remaining(self) -> int:
        """Seconds left before expiry."""
        return max(0, round(self.expires_at - self.clock()))

    def state_header(self) -> str:
        """The Subscription-State header value for the NOTIFY being sent."""
        if self.terminated:
            return f"terminated;reason={self.reason or 'timeout'}"
        return f"active;expires={self.remaining()}"


SendNotify = Callable[[str | None, bytes, Subscription | None], None]
CountsFunc = Callable[[str], Awaitable[tuple[int, int]]]


class MwiNotifier:
    """Who to tell when a mailbox's counts change, and the SUBSCRIBE registry."""

    def __init__(self, send_notify: SendNotify | None = None, *, realm: str = "pbx",
                 clock: Callable[[], float] = time.monotonic,
                 max_expires: int = MAX_EXPIRES) -> None:
        self.send_notify = send_notify
        self.realm = realm
        self.clock = clock
        self.max_expires = max_expires
        # Set by VoicemailService: "box@context" -> (new, old).
        self.counts: CountsFunc | None = None
        self._peers: dict[str, list[str]] = {}  # peer -> mailboxes
        self._subs: dict[int, Subscription] = {}
        self._ids = itertools.count(1)
        self._last: dict[str, tuple[int, int]] = {}

    # --- configuration -------------------------------------------------------
    def set_peers(self, peers: Mapping[str, str | Iterable[str] | None]) -> None:
        """sip.conf peers and their `mailbox=` (a spec string or a list); others are ignored."""
        table: dict[str, list[str]] = {}
        for name, spec in peers.items():
            if not spec:
                continue
            boxes = parse_mailboxes(spec) if isinstance(spec, str) else \
                parse_mailboxes(",".join(spec))
            if boxes:
                table[name] = boxes
        self._peers = table

    def peers_for(self, mailbox: str) -> list[str]:
        """Peers whose mailbox= names `mailbox` (`box@context`)."""
        key = "@".join(split_mailbox(mailbox))
        return [p for p, boxes in self._peers.items() if key in boxes]

    def account_uri(self, mailboxes: list[str]) -> str:
        """Message-Account: the first mailbox as a SIP URI in our realm."""
        box = split_mailbox(mailboxes[0])[0] if mailboxes else "voicemail"
        return f"sip:{box}@{self.realm}"

    # --- bodies ----------------------------------------------------------------
    async def body_for(self, mailboxes: list[str]) -> bytes:
        """The summary over several mailboxes (counts are added, as chan_sip does)."""
        new = old = 0
        for mb in mailboxes:
            n, o = await self._counts(mb)
            new, old = new + n, old + o
        return message_summary(new, old, self.account_uri(mailboxes))

    async def _counts(self, mailbox: str) -> tuple[int, int]:
        if self.counts is None:
            return 0, 0
        return await self.counts("@".join(split_mailbox(mailbox)))

    def _send(self, peer: str | None, body: bytes, sub: Subscription | None) -> None:
        if self.send_notify is None:
            return
        try:
            self.send_notify(peer, body, sub)
        except Exception:
            log.exception("MWI NOTIFY to %s failed", peer)

    # --- events ------------------------------------------------------------
    async def mailbox_changed(self, mailbox: str, *, force: bool = False) -> bool:
        """Counts of `mailbox` may have changed: NOTIFY every peer and subscription
        watching it (unless the counts are what was last announced). True if sent."""
        key = "@".join(split_mailbox(mailbox))
        counts = await self._counts(key)
        if not force and self._last.get(key) == counts:
            return False
        self._last[key] = counts
        for peer in self.peers_for(key):
            self._send(peer, await self.body_for(self._peers[peer]), None)
        self.expire()
        for sub in list(self._subs.values()):
            if key in sub.mailboxes:
                self._send(sub.peer, await self.body_for(sub.mailboxes), sub)
        return True

    async def notify_peer(self, peer: str) -> bool:
        """Send a peer its current state unsolicited (e.g. when it registers)."""
        boxes = self._peers.get(peer)
        if not boxes:
            return False
        self._send(peer, await self.body_for(boxes), None)
        return True

    # --- SUBSCRIBE ----------------------------------------------------------
    async def subscribe(self, peer: str | None, dialog: Any, expires: int | None,
                        mailboxes: list[str] | str | None = None) -> Subscription | None:
        """A SUBSCRIBE (Event: message-summary) was accepted: register it and send the
        initial NOTIFY. `mailboxes` default to the peer's mailbox=. `expires` 0 ends
        it (the final NOTIFY says terminated). Returns None when there is nothing
        to watch (answer 404); else the subscription (answer 200, Expires:
        `sub.remaining()`)."""
        boxes = (parse_mailboxes(mailboxes) if isinstance(mailboxes, str)
                 else list(mailboxes or ([] if peer is None else self._peers.get(peer, []))))
        if not boxes:
            return None
        exp = DEFAULT_EXPIRES if expires is None else max(0, min(int(expires), self.max_expires))
        sub = Subscription(next(self._ids), peer, boxes, dialog, self.clock() + exp,
                           clock=self.clock)
        if exp == 0:
            sub.terminated, sub.reason = True, "timeout"
        else:
            self._subs[sub.id] = sub
        self._send(peer, await self.body_for(boxes), sub)
        return sub

    async def refresh(self, sub_id: int, expires: int | None) -> Subscription | None:
        """A re-SUBSCRIBE in the dialog: new expiry (0 unsubscribes); NOTIFY the state."""
        sub = self._subs.get(sub_id)
        if sub is None:
            return None
        exp = DEFAULT_EXPIRES if expires is None else max(0, min(int(expires), self.max_expires))
        sub.expires_at = self.clock() + exp
        if exp == 0:
            del self._subs[sub_id]
            sub.terminated, sub.reason = True, "timeout"
        self._send(sub.peer, await self.body_for(sub.mailboxes), sub)
        return sub

    def unsubscribe(self, sub_id: int) -> Subscription | None:
        """Forget a subscription without a NOTIFY (its dialog died)."""
        return self._subs.pop(sub_id, None)

    def find(self, sub_id: int) -> Subscription | None:
        """An active subscription by id."""
        return self._subs.get(sub_id)

    def subscriptions(self) -> list[Subscription]:
        """Active subscriptions."""
        return list(self._subs.values())

    def expire(self) -> list[Subscription]:
        """Drop expired subscriptions (no NOTIFY: the subscriber let it lapse)."""
        now = self.clock()
        gone = [s for s in self._subs.values() if s.expires_at <= now]
        for s in gone:
            del self._subs[s.id]
            s.terminated, s.reason = True, "timeout"
        return gone
