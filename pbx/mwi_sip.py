"""MWI over SIP (RFC 3842): the `message-summary` event package, and unsolicited NOTIFY.

voicemail.mwi decides *when* and *what* to notify; this module is how: an
unsolicited NOTIFY to every contact of a peer with `mailbox=`, or a NOTIFY
inside the peer's SUBSCRIBE dialog. The dialog itself (digest, 200 with
Expires, refresh, unsubscribe, expiry, a subscriber that is gone) is the
generic subscription layer's (pbx.subscriptions, pbx.sip.subscription), as
for busy lamps; this package says who may subscribe (a peer with a mailbox)
and what each NOTIFY carries (the counts, read from the voicemail store).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from pbx.sip.address import Address
from pbx.sip.requests import new_request

if TYPE_CHECKING:
    from pbx.config import Config, Peer
    from pbx.location import Location
    from pbx.signalling import Signalling
    from pbx.sip.message import Request
    from pbx.subscriptions import Subscription
    from voicemail.mwi import MwiNotifier
    from voicemail.mwi import Subscription as MwiSubscription

log = logging.getLogger("pbx.mwi")

EVENT = "message-summary"
CONTENT_TYPE = "application/simple-message-summary"


class MwiSip:
    """The message-summary package (see the module docstring)."""

    def __init__(self, *, signalling: Signalling, config: Callable[[], Config],
                 location: Location, mwi: MwiNotifier,
                 spawn: Callable[[Coroutine[Any, Any, Any]], Any]) -> None:
        self.signalling = signalling
        self.config = config
        self.location = location
        self.mwi = mwi
        self.spawn = spawn

    # --- NOTIFY ------------------------------------------------------------------
    def send_notify(self, peer: str | None, body: bytes, sub: MwiSubscription | None) -> None:
        """The hook voicemail.mwi calls when there is something to tell."""
        if sub is not None:
            handle: Subscription = sub.dialog
            handle.notify(CONTENT_TYPE, body)
            return
        if peer is None:
            return
        sig = self.signalling
        for binding in self.location.lookup(peer, time.time()):
            dest = Address(binding.transport, binding.source_host, binding.source_port)
            local = sig.local_address(dest.transport, 6 if ":" in dest.host else 4,
                                      toward=dest.host)
            if local is None:
                continue
            host = f"[{local.host}]" if ":" in local.host else local.host
            req = new_request("NOTIFY", binding.contact, local=local, from_user=peer,
                              to_uri=f"sip:{peer}@{host}:{local.port}",
                              extra=[("Event", EVENT), ("Subscription-State", "active")],
                              body=body, content_type=CONTENT_TYPE)
            sig.send_request(req, dest, lambda resp: None)

    # --- EventPackage ----------------------------------------------------------------
    def check(self, req: Request, peer: Peer | None) -> tuple[int, str] | None:
        if peer is None or not peer.mailbox:
            return 404, "Not Found"
        return None

    def start(self, sub: Subscription) -> None:
        sub.data = None  # the voicemail side's subscription, once it exists
        peer = sub.peer.name if sub.peer is not None else None
        self.spawn(self._subscribed(sub, peer))

    async def _subscribed(self, sub: Subscription, peer: str | None) -> None:
        # The counts come from the store: the first NOTIFY follows this await.
        remaining = sub.machine.remaining(self.signalling.now())
        mwi_sub = await self.mwi.subscribe(peer, sub, remaining)
        if mwi_sub is not None and not mwi_sub.terminated:
            sub.data = mwi_sub
            if sub.machine.state.value == "terminated":  # it ended while we read
                self.mwi.unsubscribe(mwi_sub.id)

    def refresh(self, sub: Subscription) -> None:
        """After a refresh, an unsubscribe or the expiry: the counts now, with the
        new expiry (0 ends the voicemail side's subscription too)."""
        if sub.data is None:  # the first NOTIFY is still on its way (and says it all)
            return
        self.spawn(self._refresh(sub))

    async def _refresh(self, sub: Subscription) -> None:
        remaining = sub.machine.remaining(self.signalling.now())
        mwi_sub: MwiSubscription = sub.data
        if self.mwi.find(mwi_sub.id) is not None:
            await self.mwi.refresh(mwi_sub.id, remaining)
            return
        # The voicemail side let it lapse first (it keeps its own clock): the
        # subscription's machine decides, so start that side again.
        again = await self.mwi.subscribe(sub.peer.name if sub.peer else None, sub, remaining)
        sub.data = again if again is not None and not again.terminated else None

    def stop(self, sub: Subscription) -> None:
        mwi_sub: MwiSubscription | None = sub.data
        if mwi_sub is not None:
            self.mwi.unsubscribe(mwi_sub.id)
            sub.data = None

    # --- registrations -----------------------------------------------------------
    def on_registered(self, aor: str) -> None:
        """A phone (re)registered: tell it its mailbox state at once."""
        peer = self.config().sip.peers.get(aor)
        if peer is not None and peer.mailbox:
            self.spawn(self.mwi.notify_peer(aor))
