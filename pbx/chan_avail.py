"""Whether a device could be called now, and its state: what ChanIsAvail() asks.

Asterisk's ChanIsAvail requests a channel from the driver (ast_request) and
hangs it up at once; for SIP that succeeds when the peer exists and has a
place to send the INVITE: a registered contact that qualify did not find
unreachable, or a static `host=` that answers. Here the same verdict comes
from the code that resolves Dial() targets (LegMaker.resolve), so
ChanIsAvail and Dial never disagree.

Device states use Asterisk's numbers (ast_device_state: 0 UNKNOWN, 1
NOT_INUSE, 2 INUSE, 3 BUSY, 4 INVALID, 5 UNAVAILABLE, 6 RINGING, 7
RINGINUSE, 8 ONHOLD). The PBX gives its device-state registry
(pbx.devstate.DeviceStates, whose state(device) returns those numbers as an
IntEnum) as `devices`, and it is the one answer; without one (tests) the
state is worked out here from registration, qualify and the live call legs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from pbx.channel import ChannelState, DialTarget

UNKNOWN, NOT_INUSE, INUSE, BUSY, INVALID, UNAVAILABLE, RINGING, RINGINUSE, ONHOLD = range(9)

_SIP_TECHS = ("SIP", "PJSIP")


class DeviceStateSource(Protocol):
    """A device-state registry (pbx.devstate.DeviceStates)."""

    def state(self, device: str) -> int: ...


def dial_target(tech: str, resource: str) -> DialTarget:
    """`SIP`, `6001` / `6001/123` / `123@trunk` -> the Dial target it names."""
    exten = None
    if "/" in resource:
        resource, exten = resource.split("/", 1)
    elif "@" in resource:
        exten, resource = resource.split("@", 1)
    return DialTarget(tech=tech.upper(), peer=resource, exten=exten or None)


class ChannelAvailability:
    """The PBX's answers for ChanIsAvail (one per PBX, in DialplanServices)."""

    def __init__(self, *, resolve: Callable[[list[DialTarget]], list[Any]],
                 channels: Callable[[], Iterable[Any]],
                 peers: Callable[[], dict[str, Any]],
                 devices: DeviceStateSource | None = None) -> None:
        self._resolve = resolve  # LegMaker.resolve: reachable destinations of targets
        self._channels = channels  # the PBX's live legs (CallManager.channels)
        self._peers = peers  # the current sip.conf/pjsip.conf peers
        self.devices = devices

    def requestable(self, tech: str, resource: str) -> bool:
        """Whether Dial(tech/resource) would send an INVITE now (ast_request succeeds)."""
        if tech.upper() not in _SIP_TECHS:
            return False
        return bool(self._resolve([dial_target(tech, resource)]))

    def in_use(self, tech: str, resource: str) -> int:
        """ast_parse_device_state: INUSE or RINGING while a call leg of this device
        exists (ChanIsAvail's `t`), else UNKNOWN."""
        peer = dial_target(tech, resource).peer
        ringing = False
        for leg in self._channels():
            leg_peer = getattr(leg, "peer", None)
            if leg_peer is None or leg_peer.name != peer or leg.state is ChannelState.HUNGUP:
                continue
            if leg.state is ChannelState.UP:
                return INUSE
            ringing = True
        return RINGING if ringing else UNKNOWN

    def device_state(self, tech: str, resource: str) -> int:
        """ast_device_state of `tech/resource` (ChanIsAvail's `s`)."""
        if self.devices is not None:
            return int(self.devices.state(f"{tech}/{resource}"))
        target = dial_target(tech, resource)
        peer = self._peers().get(target.peer)
        if tech.upper() not in _SIP_TECHS or peer is None:
            return INVALID
        busy = self.in_use(tech, resource)
        if busy != UNKNOWN:
            return busy
        return NOT_INUSE if self.requestable(tech, resource) else UNAVAILABLE
