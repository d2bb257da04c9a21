"""The state of SIP devices (`SIP/6001`, `PJSIP/6001`: one peer, one device).

As chan_pjsip's devicestate callback: a peer with no live call is
UNAVAILABLE when it is not registered (a dynamic peer without bindings) or
qualify found every contact unreachable, NOT_INUSE otherwise; with calls,
the aggregate of what each call leg contributes: a leg the phone placed is
INUSE from the first moment, a leg ringing the phone is RINGING (from the
INVITE on, as chan_sip counts it), an answered one INUSE, and a leg the
phone put on hold ONHOLD. `busy_at` in-use calls (pjsip.conf
device_state_busy_at, sip.conf busylevel or call-limit) make it BUSY.

Legs report themselves through :meth:`SipDevices.leg_changed` (the
``devices`` hook of pbx.sipchannel.LegServices); registrations and qualify
through :meth:`peer_changed`. Each change is passed to the registry, which
tells the hint engine.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from pbx.channel import CallerId, ChannelState
from pbx.devstate import DeviceState, DeviceStates, aggregate

if TYPE_CHECKING:
    from pbx.config import Config, Peer
    from pbx.location import Location

TECHS = ("SIP", "PJSIP")


class WatchedLeg(Protocol):
    """What the provider reads from a call leg (pbx.sipchannel.SipChannel has it)."""

    name: str
    peer: Peer | None
    inbound: bool
    state: ChannelState
    held: bool
    callerid: CallerId
    created_at: float


@dataclass(slots=True)
class _Contribution:
    state: DeviceState
    in_use: bool  # counts toward busy_at (chan_pjsip: channels up or placing a call)
    created_at: float
    caller: CallerId  # the other party, for a ringing leg's BLF


def leg_device_state(leg: WatchedLeg) -> DeviceState | None:
    """What one leg contributes to its peer's device (None once it is over)."""
    if leg.state is ChannelState.HUNGUP:
        return None
    if leg.held:
        return DeviceState.ONHOLD
    if leg.inbound or leg.state is ChannelState.UP:
        return DeviceState.INUSE
    return DeviceState.RINGING


class SipDevices:
    """The device-state provider of SIP/ and PJSIP/ devices (see the module docstring)."""

    canonical_label = "SIP"  # PJSIP/6001 and SIP/6001 are the same peer here

    def __init__(self, registry: DeviceStates, config: Callable[[], Config],
                 location: Location, unreachable: Callable[[Any], bool]) -> None:
        self.registry = registry
        self.config = config
        self.location = location
        self.unreachable = unreachable  # qualify's verdict on a static host= peer
        self._legs: dict[str, dict[int, _Contribution]] = {}  # peer -> id(leg) -> part

    def install(self) -> None:
        for tech in TECHS:
            self.registry.add_provider(tech, self, tech=True)

    # --- DeviceProvider ----------------------------------------------------------
    def device_state(self, resource: str) -> DeviceState:
        name = resource.split("/", 1)[0]
        peer = self.config().sip.peers.get(name)
        if peer is None:
            return DeviceState.INVALID
        legs = self._legs.get(name)
        if not legs:
            return self._availability(peer)
        busy_at = peer.busy_at
        if busy_at and sum(1 for c in legs.values() if c.in_use) >= busy_at:
            return DeviceState.BUSY
        return aggregate(c.state for c in legs.values())

    def ringing_caller(self, resource: str) -> tuple[float, CallerId] | None:
        legs = self._legs.get(resource.split("/", 1)[0])
        if not legs:
            return None
        ringing = [c for c in legs.values() if c.state is DeviceState.RINGING]
        if not ringing:
            return None
        first = min(ringing, key=lambda c: c.created_at)
        return first.created_at, first.caller

    def _availability(self, peer: Peer) -> DeviceState:
        if peer.dynamic:
            bindings = self.location.lookup(peer.name, time.time())
            if not bindings or all(b.reachable is False for b in bindings):
                return DeviceState.UNAVAILABLE
            return DeviceState.NOT_INUSE
        return DeviceState.UNAVAILABLE if self.unreachable(peer) else DeviceState.NOT_INUSE

    # --- what changes it -----------------------------------------------------------
    def leg_changed(self, leg: WatchedLeg) -> None:
        """A call leg was created, rang, was answered, held, resumed or ended."""
        peer = leg.peer
        if peer is None:  # a guest: no device
            return
        state = leg_device_state(leg)
        legs = self._legs.get(peer.name)
        key = id(leg)
        if state is None:
            if legs is None or legs.pop(key, None) is None:
                return
            if not legs:
                del self._legs[peer.name]
        else:
            part = _Contribution(state, leg.inbound or leg.state is ChannelState.UP,
                                 leg.created_at, leg.callerid)
            legs = self._legs.setdefault(peer.name, {})
            old = legs.get(key)
            if old is not None and old.state is state and old.in_use == part.in_use:
                return
            legs[key] = part
        self.registry.changed(f"SIP/{peer.name}")

    def peer_changed(self, peer_name: str) -> None:
        """Registration or qualify changed what the peer's availability may be."""
        self.registry.changed(f"SIP/{peer_name}")

    def live_legs(self) -> int:
        """How many legs are counted now (for tests and diagnostics)."""
        return sum(len(v) for v in self._legs.values())
