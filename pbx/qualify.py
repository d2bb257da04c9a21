"""qualify=yes: OPTIONS to every contact of a peer, and what its answer says.

As Asterisk's chan_sip: a contact that does not answer within the peer's
limit (qualify=yes: 2000 ms, qualify=<ms>) is UNREACHABLE at once, not after
the transaction's 32 s; Dial() skips it, so a call to a phone that is gone
goes on in the dialplan (to voicemail) without ringing a dead address. An
answer slower than the limit is LAGGED. Results live with the runtime
objects: the registration binding of a dynamic peer, a :class:`QualifyState`
per name for a static host= peer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pbx.nat import binding_destination
from pbx.peer_invite import is_address, resolve, static_hop
from pbx.sip.address import Address
from pbx.sip.requests import new_request

if TYPE_CHECKING:
    from pbx.config import Config, Peer
    from pbx.location import Location
    from pbx.signalling import Signalling

log = logging.getLogger("pbx.qualify")


@dataclass(slots=True)
class QualifyState:
    """The last qualify result of a static peer (a Binding has the same fields)."""

    reachable: bool | None = None
    rtt_ms: float | None = None
    last_qualify: float = 0.0


def qualify_status(target: Any, limit_ms: int) -> str:
    """chan_sip's words: OK (n ms), LAGGED (n ms), UNREACHABLE, UNKNOWN."""
    if target.reachable is None:
        return "UNKNOWN"
    if not target.reachable:
        return "UNREACHABLE"
    if target.rtt_ms is not None and target.rtt_ms > limit_ms:
        return f"LAGGED ({target.rtt_ms:.0f} ms)"
    return f"OK ({target.rtt_ms:.0f} ms)"


class _Probe:
    """One OPTIONS in flight; its timer on the core's heap marks it UNREACHABLE."""

    __slots__ = ("answered", "label", "limit_ms", "on_change", "sent", "target")

    def __init__(self, target: Any, label: str, limit_ms: int, sent: float,
                 on_change: Callable[[str], None] | None = None) -> None:
        self.target = target
        self.label = label
        self.limit_ms = limit_ms
        self.sent = sent
        self.answered = False
        self.on_change = on_change

    def on_timer(self, kind: str, now: float) -> None:
        if not self.answered:
            _set(self.target, self.label, False, None, self.limit_ms, self.on_change)


def _set(target: Any, label: str, reachable: bool, rtt_ms: float | None, limit_ms: int,
         on_change: Callable[[str], None] | None = None) -> None:
    before = target.reachable
    target.reachable = reachable
    target.rtt_ms = rtt_ms
    target.last_qualify = time.time()
    if before is not reachable:
        if reachable:
            log.info("Peer '%s' is now Reachable. (%.0fms / %dms)", label, rtt_ms or 0,
                     limit_ms)
        else:
            log.warning("Peer '%s' is now UNREACHABLE! (no answer in %d ms)", label, limit_ms)
        if on_change is not None:  # device state: the busy lamp shows unavailable
            on_change(label)


class Qualifier:
    """Sends the OPTIONS pings and keeps what they found.

    Each peer is pinged every qualifyfreq seconds ([general]; per peer with
    sip.conf qualifyfreq= or a pjsip aor's qualify_frequency=). A registered
    phone is pinged where requests to it go (its NAT binding, unless nat=no):
    the pings keep that binding open. A provider is pinged through its
    outbound proxy when it has one."""

    def __init__(self, signalling: Signalling, location: Location,
                 config: Callable[[], Config],
                 spawn: Callable[[Any], Any] | None = None) -> None:
        self.signalling = signalling
        self.location = location
        self.config = config
        self.static: dict[str, QualifyState] = {}
        self._due: dict[str, float] = {}  # peer name -> monotonic time of its next ping
        self._spawn = spawn  # runs a host-name lookup (static peers named by host)
        # Called with the peer name when reachability flips (device state listens).
        self.on_change: Callable[[str], None] | None = None

    def state_of(self, peer: Peer) -> QualifyState | None:
        """The qualify result of a static peer (None: never qualified)."""
        return self.static.get(peer.name)

    def unreachable(self, peer: Peer) -> bool:
        state = self.static.get(peer.name)
        return state is not None and state.reachable is False

    async def run(self) -> None:
        """Qualify every qualify=yes peer at its frequency (looked at every second)."""
        while True:
            self.qualify_due(time.monotonic())
            await asyncio.sleep(1.0)

    def qualify_due(self, now: float) -> None:
        """Ping the qualify=yes peers whose time has come."""
        sip = self.config().sip
        default = max(5, sip.general.qualifyfreq)
        for peer in sip.peers.values():
            if not peer.qualify or self._due.get(peer.name, 0.0) > now:
                continue
            self._due[peer.name] = now + (max(1, peer.qualify_frequency)
                                          if peer.qualify_frequency else default)
            self.qualify_peer(peer)

    def qualify_all(self) -> None:
        for peer in self.config().sip.peers.values():
            if peer.qualify:
                self.qualify_peer(peer)

    def qualify_peer(self, peer: Peer) -> None:
        """OPTIONS to each contact of one peer."""
        if peer.dynamic:
            for binding in self.location.lookup(peer.name, time.time()):
                dest = binding_destination(peer, binding)
                self._ping(binding, peer, binding.contact, dest)
        else:
            state = self.static.setdefault(peer.name, QualifyState())
            uri = f"sip:{_host(peer.host)}:{peer.port}"
            hop = static_hop(peer)
            extra = [("Route", hop.route)] if hop.route else []
            if self._spawn is not None and not is_address(hop.address.host):
                self._spawn(self._ping_named(state, peer, uri, hop.address, extra))
            else:
                self._ping(state, peer, uri, hop.address, extra)

    async def _ping_named(self, state: QualifyState, peer: Peer, uri: str, dest: Address,
                          extra: list[tuple[str, str]]) -> None:
        try:
            dest = await resolve(dest)
        except OSError as exc:
            log.warning("qualify %s: %s", peer.name, exc)
            _set(state, peer.name, False, None, peer.qualify_ms)
            return
        self._ping(state, peer, uri, dest, extra)

    def _ping(self, target: Any, peer: Peer, uri: str, dest: Address,
              extra: list[tuple[str, str]] = ()) -> None:
        sig = self.signalling
        local = sig.local_address(dest.transport, 6 if ":" in dest.host else 4,
                                  toward=dest.host)
        if local is None:
            return
        req = new_request("OPTIONS", uri, local=local, from_user="pbx", to_uri=uri,
                          realm_host=local.host, extra=list(extra))
        now = sig.now()
        probe = _Probe(target, peer.name, peer.qualify_ms, now, self.on_change)
        handle = sig.timers.schedule(now + peer.qualify_ms / 1000, probe, "qualify")

        def answered(resp: Any) -> None:
            if resp is None:  # the transaction gave up (32 s): nothing more to learn
                if not probe.answered:
                    probe.answered = True
                    _set(target, peer.name, False, None, peer.qualify_ms, self.on_change)
                return
            if resp.status < 200 or probe.answered:
                return
            probe.answered = True
            sig.timers.cancel(handle)
            # Any final answer, even 404 or 501, proves the phone is there.
            _set(target, peer.name, True, (sig.now() - probe.sent) * 1000, peer.qualify_ms,
                 self.on_change)

        sig.send_request(req, dest, answered)


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host

