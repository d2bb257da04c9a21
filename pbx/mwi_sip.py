"""MWI over SIP (RFC 3842): SUBSCRIBE dialogs and NOTIFY for message-summary.

voicemail.mwi decides *when* and *what* to notify; this module is how: an
unsolicited NOTIFY to every contact of a peer with `mailbox=`, or a NOTIFY
inside the peer's SUBSCRIBE dialog.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pbx.sip.address import Address
from pbx.sip.dialog import Dialog, new_via
from pbx.sip.message import Request, make_response
from pbx.sip.requests import host_port, new_request, new_tag
from pbx.sip.transaction import ServerTransaction

if TYPE_CHECKING:
    from pbx.server import Pbx
    from voicemail.mwi import MwiNotifier, Subscription

log = logging.getLogger("pbx.mwi")

EVENT = "message-summary"
CONTENT_TYPE = "application/simple-message-summary"


@dataclass(slots=True)
class SubscriptionDialog:
    """What send_notify needs to reach a subscriber."""

    dialog: Dialog
    local: Address
    destination: Address


class MwiSip:
    def __init__(self, pbx: Pbx, mwi: MwiNotifier) -> None:
        self.pbx = pbx
        self.mwi = mwi
        self.by_dialog: dict[tuple[str, str], int] = {}  # (call-id, our tag) -> sub id

    # --- NOTIFY ------------------------------------------------------------------
    def send_notify(self, peer: str | None, body: bytes, sub: Subscription | None) -> None:
        """The hook voicemail.mwi calls when there is something to tell."""
        core = self.pbx.core
        headers = [("Event", EVENT)]
        if sub is not None:
            handle: SubscriptionDialog = sub.dialog
            req = handle.dialog.request(
                "NOTIFY", new_via(handle.local.transport, host_port(handle.local)),
                contact=f"<sip:pbx@{host_port(handle.local)}>",
                extra=[*headers, ("Subscription-State", sub.state_header())], body=body,
                content_type=CONTENT_TYPE)
            core.send_request(req, handle.destination, self._notify_answered(sub.id))
            if sub.terminated:
                self._forget(sub.id)
            return
        if peer is None:
            return
        for binding in self.pbx.location.lookup(peer, time.time()):
            dest = Address(binding.transport, binding.source_host, binding.source_port)
            local = core.local_address(dest.transport, 6 if ":" in dest.host else 4)
            if local is None:
                continue
            req = new_request("NOTIFY", binding.contact, local=local, from_user=peer,
                              to_uri=f"sip:{peer}@{host_port(local)}",
                              extra=[*headers, ("Subscription-State", "active")], body=body,
                              content_type=CONTENT_TYPE)
            core.send_request(req, dest, lambda resp: None)

    def _notify_answered(self, sub_id: int) -> Any:
        def done(resp: Any) -> None:
            # 481 (or no answer at all): the subscriber forgot the dialog.
            if resp is None or resp.status == 481:
                self.mwi.unsubscribe(sub_id)
                self._forget(sub_id)
        return done

    def _forget(self, sub_id: int) -> None:
        for key, value in list(self.by_dialog.items()):
            if value == sub_id:
                del self.by_dialog[key]

    # --- SUBSCRIBE ---------------------------------------------------------------
    def on_subscribe(self, req: Request, tx: ServerTransaction, source: Address) -> None:
        core = self.pbx.core
        event = (req.headers.get("Event") or "").split(";")[0].strip().lower()
        if event != EVENT:
            core.respond(tx, make_response(req, 489, "Bad Event",
                                           headers=[("Allow-Events", EVENT)]))
            return
        expires = req.expires if req.expires is not None else 3600
        if req.to_addr.tag:  # refresh or unsubscribe within the dialog
            sub_id = self.by_dialog.get((req.call_id, req.to_addr.tag))
            if sub_id is None:
                core.respond(tx, make_response(req, 481, "Call/Transaction Does Not Exist"))
                return
            core.respond(tx, make_response(req, 200, "OK", headers=[
                ("Expires", str(min(expires, self.mwi.max_expires)))]))
            self.pbx.spawn(self.mwi.refresh(sub_id, expires))
            return
        peer, refusal = self._authenticate(req)
        if refusal is not None:
            core.respond(tx, refusal)
            return
        boxes = self.pbx.config.sip.peers[peer].mailbox if peer else None
        if not boxes:
            core.respond(tx, make_response(req, 404, "Not Found"))
            return
        tag = new_tag()
        local = core.local_address(source.transport, 6 if ":" in source.host else 4)
        assert local is not None
        dialog = Dialog.as_uas(req, tag)
        handle = SubscriptionDialog(dialog, local, source)
        granted = min(expires, self.mwi.max_expires)
        core.respond(tx, make_response(req, 200, "OK", to_tag=tag, headers=[
            ("Expires", str(granted)), ("Contact", f"<sip:pbx@{host_port(local)}>")]))
        self.pbx.spawn(self._subscribed(peer, handle, expires, (req.call_id, tag)))

    async def _subscribed(self, peer: str | None, handle: SubscriptionDialog, expires: int,
                          key: tuple[str, str]) -> None:
        sub = await self.mwi.subscribe(peer, handle, expires)
        if sub is not None and not sub.terminated:
            self.by_dialog[key] = sub.id

    def _authenticate(self, req: Request) -> tuple[str | None, Any]:
        """The subscribing peer (From user), digest-checked like REGISTER (401)."""
        user = req.from_addr.uri.user or ""
        sip = self.pbx.config.sip
        peer = sip.peer_for_aor(user) or sip.peers.get(user)
        if peer is not None and not peer.secret:
            return peer.name, None
        auth = self.pbx.auth
        now = self.pbx.core.now()
        header = req.headers.get("Authorization")
        result = auth.check(header, "SUBSCRIBE", now) if header else None
        if result is None or result.challenge_again:
            return None, make_response(req, 401, "Unauthorized", headers=[
                ("WWW-Authenticate", v) for v in auth.challenge(now, stale=bool(
                    result and result.stale))])
        # pjsip: the auth's username= may differ from the aor in From.
        if not result.ok or peer is None or \
                sip.peer_by_auth_user(result.username or "") is not peer:
            return None, make_response(req, 403, "Forbidden")
        return peer.name, None

    # --- registrations -----------------------------------------------------------
    def on_registered(self, aor: str) -> None:
        """A phone (re)registered: tell it its mailbox state at once."""
        peer = self.pbx.config.sip.peers.get(aor)
        if peer is not None and peer.mailbox:
            self.pbx.spawn(self.mwi.notify_peer(aor))
