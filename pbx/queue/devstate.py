"""Member device state: is a member's phone free, ringing, in use, unreachable?

The engine asks a :class:`DeviceStateSource` for the state of a member's state
interface and gets Asterisk's ast_device_state numbers: the PBX passes its
device-state registry (`pbx.devstate.DeviceStates`: SIP/PJSIP devices from
registrations, qualify and the call legs; Local/ devices from pbx.local_devstate;
Custom: devices), whose `state()` answers exactly that, and tells the service of
each change (`QueueService.device_changed`) so a member that became free is rung
at once. :class:`FixedDeviceStates` answers from a dict (tests, benchmarks).
"""

from __future__ import annotations

from typing import Protocol

from pbx.devstate import DeviceState

__all__ = ["STATE_TEXT", "DeviceState", "DeviceStateSource", "FixedDeviceStates",
           "state_text"]

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


class FixedDeviceStates:
    """A source that answers from a dict (tests, benchmarks); UNKNOWN otherwise."""

    def __init__(self, states: dict[str, int] | None = None) -> None:
        self.states = dict(states or {})

    def state(self, device: str) -> int:
        return self.states.get(device, DeviceState.UNKNOWN)
