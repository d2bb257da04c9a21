"""Member device state: is a member's phone free, ringing, in use, unreachable?

The engine asks a :class:`DeviceStateSource` for the state of a member's state
interface and gets Asterisk's ast_device_state numbers (the same numbers and names
as the device-state registry of the presence work, `pbx.devstate.DeviceState`, an
IntEnum: its `DeviceStates.state` can be passed as the source unchanged).

HOOK (device state): until that registry is on main, :class:`CallsDeviceState`
derives the state from what this PBX itself knows: its own active call legs to the
peer (a leg up: in use; an outbound leg ringing: ringing), the peer's registrations
(none: unavailable) and qualify's verdict on a static host. The lead wires the
registry in place of it in pbx/server.py (`_start_queues`).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from typing import Any, Protocol


class DeviceState(enum.IntEnum):
    """ast_device_state (numbers and names as Asterisk's)."""

    UNKNOWN = 0
    NOT_INUSE = 1
    INUSE = 2
    BUSY = 3
    INVALID = 4
    UNAVAILABLE = 5
    RINGING = 6
    RINGINUSE = 7
    ONHOLD = 8


# ast_devstate2str: what `queue show` prints.
STATE_TEXT = {
    DeviceState.UNKNOWN: "Unknown", DeviceState.NOT_INUSE: "Not in use",
    DeviceState.INUSE: "In use", DeviceState.BUSY: "Busy", DeviceState.INVALID: "Invalid",
    DeviceState.UNAVAILABLE: "Unavailable", DeviceState.RINGING: "Ringing",
    DeviceState.RINGINUSE: "Ring+Inuse", DeviceState.ONHOLD: "On Hold",
}


def state_text(state: int) -> str:
    try:
        return STATE_TEXT[DeviceState(state)]
    except ValueError:
        return "Unknown"


class DeviceStateSource(Protocol):
    """Where member states come from: `state("PJSIP/1101")` -> an ast_device_state."""

    def state(self, device: str) -> int: ...


class CallsDeviceState:
    """HOOK (device state): the fallback source, from this PBX's own calls and
    registrations (see the module docstring).

    One pass over the active legs builds every peer's state; the result is kept
    until the event loop's current iteration ends (`invalidate` is scheduled with
    call_soon), so the engine asking about 20 members costs one pass, not 20."""

    def __init__(self, *, legs: Callable[[], Iterable[Any]], peers: Callable[[], dict],
                 contacts: Callable[[str], int], unreachable: Callable[[Any], bool],
                 call_soon: Callable[[Callable[[], None]], Any]) -> None:
        self._legs = legs  # active SipChannels (their .peer, .inbound, .state)
        self._peers = peers  # name -> Peer of the current config
        self._contacts = contacts  # peer name -> number of reachable registrations
        self._unreachable = unreachable  # qualify's verdict on a static host= peer
        self._call_soon = call_soon
        self._busy: dict[str, tuple[bool, bool]] | None = None  # name -> (in use, ringing)

    def invalidate(self) -> None:
        self._busy = None

    def _activity(self) -> dict[str, tuple[bool, bool]]:
        busy = self._busy
        if busy is not None:
            return busy
        from pbx.channel import ChannelState

        busy = {}
        for leg in self._legs():
            peer = getattr(leg, "peer", None)
            state = leg.state
            if peer is None or state is ChannelState.HUNGUP:
                continue
            inuse, ringing = busy.get(peer.name, (False, False))
            if state is ChannelState.UP or leg.inbound:
                inuse = True
            else:
                ringing = True
            busy[peer.name] = (inuse, ringing)
        self._busy = busy
        self._call_soon(self.invalidate)
        return busy

    def state(self, device: str) -> int:
        tech, slash, rest = device.partition("/")
        if not slash or tech.upper() not in ("SIP", "PJSIP"):
            return DeviceState.UNKNOWN  # Local/..., Agent/...: not ours to judge
        name = rest.split("/", 1)[0]
        if "@" in name:
            name = name.split("@", 1)[1]
        peer = self._peers().get(name)
        if peer is None:
            return DeviceState.INVALID
        inuse, ringing = self._activity().get(name, (False, False))
        if inuse and ringing:
            return DeviceState.RINGINUSE
        if inuse:
            return DeviceState.INUSE
        if ringing:
            return DeviceState.RINGING
        if peer.dynamic:
            return DeviceState.NOT_INUSE if self._contacts(name) else DeviceState.UNAVAILABLE
        if self._unreachable(peer):
            return DeviceState.UNAVAILABLE
        return DeviceState.NOT_INUSE


class FixedDeviceStates:
    """A source that answers from a dict (tests, `pbx dialplan trace`); UNKNOWN otherwise."""

    def __init__(self, states: dict[str, int] | None = None) -> None:
        self.states = dict(states or {})

    def state(self, device: str) -> int:
        return self.states.get(device, DeviceState.UNKNOWN)
