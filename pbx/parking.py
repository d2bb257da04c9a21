"""Call parking at run time: the lots, who is parked where, and the spaces' state.

``Park()`` puts a call in a space of its lot and waits there (music on hold);
``ParkedCall(lot,space)`` (dialing a space) takes it out and joins it with the
retriever in a :class:`~pbx.bridge.Bridge`; ``parkingtime`` passing sends it
back (dialplan/apps/park.py). Spaces are found as res_parking does
(``findslot=first``: the lowest free; ``next``: after the last one used).

Busy lamps: the parking lots are the ``park`` provider of the device-state
registry (pbx.devstate.DeviceStates, :meth:`Parking.install`): the devices of
the lots' hints, ``park:701@parkedcalls``, are ``INUSE`` while a call is parked
in the space and ``NOT_INUSE`` when it is free, as Asterisk's res_parking sets
them; every change goes to the registry, so hints, DEVICE_STATE() and BLF
subscribers (SUBSCRIBE dialog/presence) follow parking and retrieval.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pbx.bridge import Bridge
from pbx.devstate import DeviceState

if TYPE_CHECKING:
    from pbx.bridge import BridgeHost
    from pbx.devstate import DeviceStates
    from pbx.parking_conf import ParkingConfig, ParkingLotConfig
    from pbx.sipchannel import SipChannel

log = logging.getLogger("pbx.parking")

PROVIDER = "park"  # the devices' label: park:SPACE@CONTEXT

StateListener = Callable[[str], None]  # (device name) that may have changed


@dataclass(eq=False)
class ParkedCall:
    """One parked call: its space, who parked it, and how its wait ends."""

    lot: ParkingLot
    space: int
    leg: SipChannel
    parker: str  # channel name of who parked it (the transferer, or itself)
    parker_dial: str  # dial string to ring the parker back (SIP/6001), "" if none
    parked_at: float = field(default_factory=time.time)
    # ("retrieved", future of the parked leg's bridge exit) | ("timeout"|"hangup", None)
    outcome: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop()
                                    .create_future())
    unwatch: Callable[[], None] | None = None  # stops watching the leg's hangup

    def _end(self, kind: str, value: Any = None) -> None:
        if not self.outcome.done():
            self.outcome.set_result((kind, value))


class ParkingLot:
    """The spaces of one lot (res_parking.conf section)."""

    def __init__(self, cfg: ParkingLotConfig, changed: Callable[[ParkingLot, int], None]) -> None:
        self.cfg = cfg
        self.calls: dict[int, ParkedCall] = {}
        self._last = cfg.parkpos[0] - 1
        self._changed = changed

    @property
    def name(self) -> str:
        return self.cfg.name

    def device(self, space: int) -> str:
        return f"park:{space}@{self.cfg.context}"

    def free_space(self) -> int | None:
        spaces = self.cfg.spaces
        if self.cfg.findslot == "next":
            order = [s for s in spaces if s > self._last] + [s for s in spaces if s <= self._last]
        else:
            order = list(spaces)
        return next((s for s in order if s not in self.calls), None)

    def park(self, leg: SipChannel, parker: str, parker_dial: str) -> ParkedCall | None:
        """Give ``leg`` a space; None when the lot is full."""
        space = self.free_space()
        if space is None:
            return None
        call = ParkedCall(self, space, leg, parker, parker_dial)
        self.calls[space] = call
        self._last = space
        log.info("Parking '%s' in '%s' at space %d", leg.name, self.name, space)

        def gone(_leg: SipChannel) -> None:
            if self.calls.get(space) is call:
                self.unpark(space)
            call._end("hangup")
        leg.on_gone(gone)
        call.unwatch = lambda: leg.remove_gone(gone)
        self._changed(self, space)
        return call

    def unpark(self, space: int) -> ParkedCall | None:
        call = self.calls.pop(space, None)
        if call is not None:
            if call.unwatch is not None:
                call.unwatch()
            self._changed(self, space)
        return call

    def first(self) -> int | None:
        return min(self.calls) if self.calls else None


class Parking:
    """The lots of one PBX (dialplan apps reach it as ``ctx.services.parking``)."""

    def __init__(self, config: ParkingConfig, host: BridgeHost,
                 channel: Callable[[str], SipChannel | None]) -> None:
        self.host = host
        self._channel = channel
        self._listeners: list[StateListener] = []
        self.lots: dict[str, ParkingLot] = {}
        self.reload(config)

    def reload(self, config: ParkingConfig) -> None:
        """New settings; calls already parked stay where they are."""
        lots: dict[str, ParkingLot] = {}
        for name, cfg in config.lots.items():
            lot = self.lots.get(name)
            if lot is None:
                lot = ParkingLot(cfg, self._changed)
            lot.cfg = cfg
            lots[name] = lot
        for name, lot in self.lots.items():  # a removed lot keeps its calls until they leave
            if name not in lots and lot.calls:
                lots[name] = lot
        self.lots = lots

    def lot(self, name: str) -> ParkingLot | None:
        return self.lots.get(name or "default")

    def channel(self, name: str) -> SipChannel | None:
        """A channel of this PBX by name (the transferer to announce the space to)."""
        return self._channel(name) if name else None

    def parked(self, leg: SipChannel) -> ParkedCall | None:
        """The parked call of ``leg``, if it is parked."""
        for lot in self.lots.values():
            for call in lot.calls.values():
                if call.leg is leg:
                    return call
        return None

    def find(self, space: int) -> ParkedCall | None:
        for lot in self.lots.values():
            call = lot.calls.get(space)
            if call is not None:
                return call
        return None

    # --- retrieval -----------------------------------------------------------------
    def retrieve(self, call: ParkedCall, retriever: SipChannel) -> Any:
        """Take ``call`` out of its space and join it with ``retriever``; returns the
        future of the retriever's exit from that bridge (pbx.bridge.Exit)."""
        call.lot.unpark(call.space)
        bridge = Bridge(retriever, call.leg, host=self.host)
        mine = bridge.wait(retriever)
        theirs = bridge.wait(call.leg)  # the parked call's Park() waits for it
        call._end("retrieved", theirs)
        self.host.hold_music(call.leg, False)
        bridge.start()
        log.info("%s retrieved the call parked at %d (%s)", retriever.name, call.space,
                 call.leg.name)
        return mine

    # --- device state (busy lamps) ---------------------------------------------------
    def install(self, registry: DeviceStates) -> None:
        """Serve ``park:`` devices in ``registry`` and tell it every change."""
        registry.add_provider(PROVIDER, self)
        self.watch(registry.changed)

    def device_state(self, resource: str) -> DeviceState:
        """``701@parkedcalls`` (device ``park:701@parkedcalls``; the context may be left
        out) -> INUSE while a call is parked there, else NOT_INUSE; INVALID for a
        space no lot has."""
        space, _, context = resource.partition("@")
        if not space.strip().isdigit():
            return DeviceState.INVALID
        number = int(space)
        for lot in self.lots.values():
            if (not context or lot.cfg.context == context) and number in lot.cfg.spaces:
                return DeviceState.INUSE if number in lot.calls else DeviceState.NOT_INUSE
        return DeviceState.INVALID

    def watch(self, listener: StateListener) -> None:
        """Call ``listener(device)`` whenever a space fills or empties."""
        self._listeners.append(listener)

    def _changed(self, lot: ParkingLot, space: int) -> None:
        device = lot.device(space)
        for listener in list(self._listeners):
            try:
                listener(device)
            except Exception:
                log.exception("parking state listener failed")
