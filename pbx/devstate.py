"""Device state and extension state, as Asterisk's devicestate.c and pbx.c define them.

Policy only, no SIP: a *device* (`SIP/6001`, `PJSIP/6001`, `Custom:lamp1`,
`park:701@default`) has a :class:`DeviceState`; a hint (`exten => 6001,hint,
SIP/6001&Custom:dnd6001`) aggregates the states of its devices into an
:class:`ExtensionState` (the busy lamp) with Asterisk's rules
(`ast_devstate_aggregate_add`, `ast_devstate_to_extenstate`).

:class:`DeviceStates` is the registry of one PBX. Devices come from
*providers*: ``Tech/resource`` names go to the provider registered for that
technology (SIP and PJSIP: pbx.sip_devstate, fed by the call legs and by
registration/qualify), ``label:resource`` names to the provider of that label
(``Custom``: :class:`CustomDevices`, kept in the AstDB as Asterisk does;
``park``: the parking lot registers itself). A provider answers
``device_state(resource)`` and calls ``registry.changed(device)`` when one of
its devices may have changed; listeners (the hint engine) hear every change.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from pbx.channel import CallerId

log = logging.getLogger("pbx.devstate")


class DeviceState(enum.IntEnum):
    """ast_device_state, same numbers and names (DEVICE_STATE() reads/writes these)."""

    UNKNOWN = 0
    NOT_INUSE = 1
    INUSE = 2
    BUSY = 3
    INVALID = 4
    UNAVAILABLE = 5
    RINGING = 6
    RINGINUSE = 7
    ONHOLD = 8

    @classmethod
    def parse(cls, text: str) -> DeviceState:
        """ast_devstate_val: a state name (any case); anything else is UNKNOWN."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            return cls.UNKNOWN


# ast_devstate_aggregate_add's ranking: the higher wins.
_ORDER = {DeviceState.UNKNOWN: 1, DeviceState.NOT_INUSE: 3, DeviceState.INUSE: 6,
          DeviceState.BUSY: 7, DeviceState.INVALID: 0, DeviceState.UNAVAILABLE: 2,
          DeviceState.RINGING: 5, DeviceState.RINGINUSE: 8, DeviceState.ONHOLD: 4}
_IN_USE = (DeviceState.INUSE, DeviceState.ONHOLD, DeviceState.BUSY)


def aggregate(states: Iterable[DeviceState]) -> DeviceState:
    """The state of several devices together (Asterisk's aggregate: INVALID when none;
    ringing and in use at once is RINGINUSE)."""
    result = DeviceState.INVALID
    ringing = inuse = False
    for state in states:
        if state is DeviceState.RINGING:
            ringing = True
        elif state in _IN_USE:
            inuse = True
        if ringing and inuse:
            result = DeviceState.RINGINUSE
        elif _ORDER[state] > _ORDER[result]:
            result = state
    return result


class ExtensionState(enum.IntFlag):
    """ast_extension_states: bit flags (INUSE|RINGING, INUSE|ONHOLD)."""

    NOT_INUSE = 0
    INUSE = 1
    BUSY = 2
    UNAVAILABLE = 4
    RINGING = 8
    ONHOLD = 16


def extension_state(device: DeviceState) -> ExtensionState:
    """ast_devstate_to_extenstate."""
    return _EXTSTATE.get(device, ExtensionState.NOT_INUSE)


_EXTSTATE = {
    DeviceState.ONHOLD: ExtensionState.ONHOLD,
    DeviceState.BUSY: ExtensionState.BUSY,
    DeviceState.UNKNOWN: ExtensionState.NOT_INUSE,
    DeviceState.UNAVAILABLE: ExtensionState.UNAVAILABLE,
    DeviceState.INVALID: ExtensionState.UNAVAILABLE,
    DeviceState.RINGINUSE: ExtensionState.INUSE | ExtensionState.RINGING,
    DeviceState.RINGING: ExtensionState.RINGING,
    DeviceState.INUSE: ExtensionState.INUSE,
    DeviceState.NOT_INUSE: ExtensionState.NOT_INUSE,
}

# EXTENSION_STATE()'s words (func_extstate.c) and `core show hints`' (pbx.c).
_EXTSTATE_NAMES = {
    ExtensionState.NOT_INUSE: ("NOT_INUSE", "Idle"),
    ExtensionState.INUSE: ("INUSE", "InUse"),
    ExtensionState.BUSY: ("BUSY", "Busy"),
    ExtensionState.UNAVAILABLE: ("UNAVAILABLE", "Unavailable"),
    ExtensionState.RINGING: ("RINGING", "Ringing"),
    ExtensionState.INUSE | ExtensionState.RINGING: ("RINGINUSE", "InUse&Ringing"),
    ExtensionState.INUSE | ExtensionState.ONHOLD: ("HOLDINUSE", "InUse&Hold"),
    ExtensionState.ONHOLD: ("ONHOLD", "Hold"),
}


def extension_state_name(state: ExtensionState | None) -> str:
    """EXTENSION_STATE()'s value: NOT_INUSE, INUSE, ..., UNKNOWN (no hint)."""
    return "UNKNOWN" if state is None else _EXTSTATE_NAMES.get(state, ("UNKNOWN", ""))[0]


def extension_state_text(state: ExtensionState | None) -> str:
    """`core show hints`' word: Idle, InUse, Ringing, ..."""
    return "Unknown" if state is None else _EXTSTATE_NAMES.get(state, ("", "Unknown"))[1]


class DeviceProvider(Protocol):
    """Where the states of one kind of device come from (a technology or a label)."""

    def device_state(self, resource: str) -> DeviceState: ...


class RingingSource(Protocol):
    """Optional on a provider: who is calling a ringing device (the BLF shows it)."""

    def ringing_caller(self, resource: str) -> tuple[float, CallerId] | None: ...


Listener = Callable[[str], None]


class DeviceStates:
    """The device-state registry of one PBX (see the module docstring)."""

    def __init__(self) -> None:
        # lower-case label -> (label as registered, provider, is a technology)
        self._providers: dict[str, tuple[str, DeviceProvider, bool]] = {}
        self._listeners: list[Listener] = []

    # --- providers ---------------------------------------------------------------
    def add_provider(self, label: str, provider: DeviceProvider, *, tech: bool = False) -> None:
        """Serve ``label:resource`` devices (or ``Label/resource`` with tech=True)."""
        self._providers[label.lower()] = (label, provider, tech)

    def remove_provider(self, label: str) -> None:
        self._providers.pop(label.lower(), None)

    def _split(self, device: str) -> tuple[tuple[str, DeviceProvider, bool] | None, str]:
        """(provider entry, resource) of a device name, as _ast_device_state parses it:
        `Tech/resource` when a '/' comes first, `provider:resource` otherwise."""
        text = device.strip()
        slash, colon = text.find("/"), text.find(":")
        if slash > 0 and (colon < 0 or slash < colon):
            entry = self._providers.get(text[:slash].lower())
            return (entry if entry is not None and entry[2] else None), text[slash + 1:]
        if colon > 0:
            entry = self._providers.get(text[:colon].lower())
            return (entry if entry is not None and not entry[2] else None), text[colon + 1:]
        return None, text

    def canonical(self, device: str) -> str:
        """One spelling per device: the provider's label as registered (`sip/6001` and
        `SIP/6001` are one device), the resource as written."""
        entry, resource = self._split(device)
        if entry is None:
            return device.strip()
        label, provider, tech = entry
        label = getattr(provider, "canonical_label", label)  # SIP and PJSIP: one device
        return f"{label}/{resource}" if tech else f"{label}:{resource}"

    # --- reading -------------------------------------------------------------
    def state(self, device: str) -> DeviceState:
        """The device's state now; INVALID for a device no provider knows."""
        entry, resource = self._split(device)
        if entry is None or not resource:
            return DeviceState.INVALID
        try:
            return entry[1].device_state(resource)
        except Exception:
            log.exception("device state provider %s failed for %s", entry[0], device)
            return DeviceState.UNKNOWN

    def states(self, devices: Iterable[str]) -> DeviceState:
        """The aggregate of several devices (a hint's)."""
        return aggregate(self.state(d) for d in devices)

    def ringing_caller(self, devices: Iterable[str]) -> CallerId | None:
        """Who calls the longest-ringing of these devices (dialog-info's remote identity)."""
        best: tuple[float, CallerId] | None = None
        for device in devices:
            entry, resource = self._split(device)
            if entry is None:
                continue
            source = getattr(entry[1], "ringing_caller", None)
            found = source(resource) if source is not None else None
            if found is not None and (best is None or found[0] < best[0]):
                best = found
        return None if best is None else best[1]

    # --- changes -------------------------------------------------------------
    def listen(self, listener: Listener) -> Callable[[], None]:
        """Hear every device change (canonical names); returns the way to stop."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def changed(self, device: str) -> None:
        """A provider says this device may have changed (ast_devstate_changed)."""
        name = self.canonical(device)
        for listener in list(self._listeners):
            try:
                listener(name)
            except Exception:
                log.exception("device state listener failed for %s", name)


# --- Custom: device states set from the dialplan ------------------------------------

ASTDB_FAMILY = "CustomDevstate"  # func_devstate.c keeps them here across restarts


class AstDbAccess(Protocol):
    def get(self, family: str, key: str) -> str | None: ...
    def put(self, family: str, key: str, value: str) -> None: ...


class CustomDevices:
    """`Custom:name` devices: `Set(DEVICE_STATE(Custom:lamp1)=BUSY)`, kept in the AstDB."""

    def __init__(self, registry: DeviceStates, astdb: AstDbAccess | None) -> None:
        self.registry = registry
        self.astdb = astdb
        self._memory: dict[str, str] = {}  # without an AstDB (tests, traces)

    def device_state(self, resource: str) -> DeviceState:
        value = (self.astdb.get(ASTDB_FAMILY, resource) if self.astdb is not None
                 else self._memory.get(resource))
        return DeviceState.UNKNOWN if value is None else DeviceState.parse(value)

    def set(self, resource: str, state: DeviceState) -> None:
        """Store the state (as its name) and tell the registry."""
        if self.astdb is not None:
            self.astdb.put(ASTDB_FAMILY, resource, state.name)
        else:
            self._memory[resource] = state.name
        self.registry.changed(f"Custom:{resource}")
