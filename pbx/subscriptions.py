"""SUBSCRIBE for every event package: the I/O edge of pbx.sip.subscription.

One handler takes every SUBSCRIBE: the Event header picks the package
(`dialog` and `presence`: pbx.presence; `message-summary`: MWI), anything else
gets 489 Bad Event with Allow-Events. A new subscription is digest-checked as
REGISTER is (401, the From user must be the peer that authenticates), then the
package accepts or refuses it (404 no hint, 403 allowsubscribe=no, 406 when
the subscriber accepts none of its bodies), and a :class:`Subscription` holds
the sans-I/O machine with what the package keeps. Refreshes and
unsubscribes find theirs by (Call-ID, our tag); the machine's actions go out
through the SIP core, its expiry timer sits on the core's heap.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from pbx.sip.address import Address
from pbx.sip.message import Request, Response, make_response
from pbx.sip.requests import host_port, new_tag
from pbx.sip.subscription import (
    Body,
    NotifyNeeded,
    Respond,
    SendRequest,
    ServerSubscription,
    SubscriptionEnded,
    SubscriptionSettings,
    event_package,
)

if TYPE_CHECKING:
    from pbx.config import Config, Peer
    from pbx.signalling import Signalling
    from pbx.sip.auth import DigestAuthenticator
    from pbx.sip.transaction import ServerTransaction

log = logging.getLogger("pbx.subscriptions")

MAX_PER_PEER = 500  # BLF keys of a phone with three expansion modules fit
MAX_TOTAL = 20_000


class EventPackage(Protocol):
    """What a package decides: who may subscribe to what, and what to say."""

    def check(self, req: Request, peer: Peer | None) -> tuple[int, str] | None:
        """A refusal (status, reason) for a new SUBSCRIBE, or None to accept it."""
        ...

    def start(self, sub: Subscription) -> None:
        """Accepted: start watching and send the first NOTIFY (sub.notify)."""
        ...

    def refresh(self, sub: Subscription) -> None:
        """Send the state now (after a refresh, an unsubscribe, the expiry)."""
        ...

    def stop(self, sub: Subscription) -> None:
        """It is over: stop watching."""
        ...


class Subscription:
    """One accepted subscription: the machine, its peer and the package's data."""

    def __init__(self, server: SubscriptionServer, sub_id: int, peer: Peer | None,
                 resource: str, package: EventPackage) -> None:
        self.server = server
        self.id = sub_id
        self.machine: ServerSubscription = None  # type: ignore[assignment]  # set once accepted
        self.peer = peer
        self.resource = resource  # the Request-URI user: what is watched
        self.package = package
        self.data: Any = None  # the package's own state (a hint watch, a version...)

    @property
    def event(self) -> str:
        return self.machine.event

    @property
    def entity(self) -> str:
        """The watched resource's URI (the SUBSCRIBE's To, our side of the dialog)."""
        return self.machine.dialog.local_uri

    @property
    def watcher(self) -> str:
        return self.machine.dialog.remote_uri

    def notify(self, content_type: str, body: Body) -> None:
        """Send the state (bytes, or a callable making them when the NOTIFY goes)."""
        self.server.run(self, self.machine.notify(content_type, body, self.server.now()))

    def terminate(self, reason: str, content_type: str = "", body: Body | None = None) -> None:
        """End it: a last NOTIFY (`body`, else the last state) says terminated."""
        self.server.run(self, self.machine.terminate(reason, self.server.now(),
                                                     content_type, body))

    def on_timer(self, kind: str, now: float) -> None:
        self.server.run(self, self.machine.on_timer(kind, now))

    def _on_response(self, resp: Response | None) -> None:
        if resp is not None:
            self.server.run(self, self.machine.on_response(resp, self.server.now()))

    def _on_failure(self, status: int) -> None:
        self.server.run(self, self.machine.on_failure(status, self.server.now()))


def authenticate_subscriber(req: Request, config: Config, auth: DigestAuthenticator,
                            now: float) -> tuple[Peer | None, Response | None]:
    """The subscribing peer (From user), digest-checked like REGISTER (401)."""
    user = req.from_addr.uri.user or ""
    sip = config.sip  # pjsip: From names an aor; its auth username may differ
    peer = sip.peer_for_aor(user) or sip.peers.get(user) or sip.peer_by_auth_user(user)
    if peer is not None and not peer.authenticates:
        return peer, None
    header = req.headers.get("Authorization")
    result = auth.check(header, req.method, now) if header else None
    if result is None or result.challenge_again:
        return None, make_response(req, 401, "Unauthorized", headers=[
            ("WWW-Authenticate", v) for v in auth.challenge(now, stale=bool(
                result and result.stale))])
    if not result.ok or peer is None or result.username != (peer.auth_username or peer.name):
        return None, make_response(req, 403, "Forbidden")
    return peer, None


class SubscriptionServer:
    """The SUBSCRIBE handler of one PBX (see the module docstring)."""

    def __init__(self, signalling: Signalling, config: Callable[[], Config],
                 auth: Callable[[], DigestAuthenticator]) -> None:
        self.signalling = signalling
        self.config = config
        self.auth = auth
        self.packages: dict[str, EventPackage] = {}
        self.subs: dict[tuple[str, str], Subscription] = {}
        self._ids = itertools.count(1)

    def now(self) -> float:
        return self.signalling.now()

    def add_package(self, event: str, package: EventPackage) -> None:
        self.packages[event] = package

    def allow_events(self) -> str:
        return ", ".join(sorted(self.packages))

    def settings(self) -> SubscriptionSettings:
        general = self.config().sip.general
        low = max(1, general.minexpiry)
        return SubscriptionSettings(min_expires=low, max_expires=max(low, general.maxexpiry))

    # --- SUBSCRIBE -------------------------------------------------------------------
    def on_subscribe(self, req: Request, tx: ServerTransaction, source: Address) -> None:
        sig = self.signalling
        package = self.packages.get(event_package(req))
        if package is None:
            sig.respond(tx, make_response(req, 489, "Bad Event",
                                          headers=[("Allow-Events", self.allow_events())]))
            return
        if req.to_addr.tag:
            sub = self.subs.get((req.call_id, req.to_addr.tag))
            if sub is None:
                sig.respond(tx, make_response(req, 481, "Subscription Does Not Exist"))
                return
            self.run(sub, sub.machine.on_subscribe(req, tx, self.now()))
            return
        self._new(req, tx, source, package)

    def _new(self, req: Request, tx: ServerTransaction, source: Address,
             package: EventPackage) -> None:
        sig = self.signalling
        now = self.now()
        peer, refusal = authenticate_subscriber(req, self.config(), self.auth(), now)
        if refusal is not None:
            sig.respond(tx, refusal)
            return
        problem = package.check(req, peer)
        if problem is not None:
            status, reason = problem
            sig.respond(tx, make_response(req, status, reason))
            return
        if len(self.subs) >= MAX_TOTAL or (peer is not None and sum(
                1 for s in self.subs.values() if s.peer is peer) >= MAX_PER_PEER):
            log.warning("SUBSCRIBE from %s refused: too many subscriptions", source)
            sig.respond(tx, make_response(req, 503, "Service Unavailable",
                                          headers=[("Retry-After", "60")]))
            return
        local = sig.local_address(source.transport, 6 if ":" in source.host else 4,
                                  toward=source.host)
        if local is None:
            sig.respond(tx, make_response(req, 503, "Service Unavailable"))
            return
        transport = "" if local.transport == "udp" else f";transport={local.transport}"
        contact = f"<sip:{req.uri.user or 'pbx'}@{host_port(local)}{transport}>"
        sub = Subscription(self, next(self._ids), peer, req.uri.user or "", package)
        machine, actions = ServerSubscription.accept(
            req, tx, local_tag=new_tag(), local=local, dest=source, contact=contact,
            settings=self.settings(), now=now, timers=sig.timers, timer_owner=sub)
        if machine is None:  # 423 Interval Too Brief
            for action in actions:
                sig.respond(action.tx, action.response)
            return
        sub.machine = machine
        self.subs[machine.key] = sub
        self.run(sub, actions)
        log.info("%s subscribed to %s of %s (expires %ds)", peer.name if peer else source,
                 sub.event, sub.resource, machine.remaining(now))
        package.start(sub)

    # --- the machine's actions -------------------------------------------------------
    def run(self, sub: Subscription, actions: list[Any]) -> None:
        sig = self.signalling
        for action in actions:
            kind = type(action)
            if kind is Respond:
                sig.respond(action.tx, action.response)
            elif kind is SendRequest:
                sig.send_request(action.request, action.dest, sub._on_response,
                                 sub._on_failure)
            elif kind is NotifyNeeded:
                sub.package.refresh(sub)
            elif kind is SubscriptionEnded and self.subs.get(sub.machine.key) is sub:
                del self.subs[sub.machine.key]
                log.info("subscription of %s to %s of %s ended (%s)",
                         sub.peer.name if sub.peer else "?", sub.event, sub.resource,
                         action.reason)
                sub.package.stop(sub)

    def count(self) -> int:
        return len(self.subs)

    def rows(self) -> list[dict]:
        now = self.now()
        return [{"id": s.id, "event": s.event, "resource": s.resource,
                 "peer": s.peer.name if s.peer else "", "watcher": s.watcher,
                 "expires": s.machine.remaining(now)} for s in self.subs.values()]
