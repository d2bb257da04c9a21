"""Local/ devices in the device-state registry, as Asterisk's core_local reports them.

`Local/1101@from-queue[/n]` is (local_devicestate in core_local.c):

- INUSE while a Local channel to that exten@context is up (its `;1` half lives),
- NOT_INUSE when no such call is up but the dialplan has the extension,
- INVALID otherwise (no such extension, or no `@context`).

So a queue member, a hint or ChanIsAvail naming a Local device sees it the way
Asterisk users expect; the state of the phone behind it is not looked at (Asterisk
neither: a queue member written `Local/1101@from-queue/n` takes its phone's state
with a state interface, `member => Local/1101@from-queue/n,0,Alice,SIP/1101`).

Asterisk reports a Local device's changes with its channels' states; here nothing
announces them (the Local halves belong to the call core): readers that must see
them look again on their own (the queues' 1 s recheck does).

The live calls are read from the channels in one pass, kept until the event loop's
current iteration ends: a queue asking about 20 members costs one pass, not 20.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from pbx.channel import ChannelState
from pbx.devstate import DeviceState, DeviceStates

log = logging.getLogger("pbx.devstate")


class LocalDevices:
    """The device-state provider of `Local/` devices (see the module docstring)."""

    def __init__(self, registry: DeviceStates, dialplan: Callable[[], Any],
                 channels: Callable[[], Iterable[Any]],
                 call_soon: Callable[[Callable[[], None]], Any]) -> None:
        self.registry = registry
        self.dialplan = dialplan  # the current dialplan.model.Dialplan (or None)
        self.channels = channels  # every live channel (Local halves among them)
        self.call_soon = call_soon
        self._active: set[str] | None = None  # exten@context of the live `;1` halves
        self._warned: set[str] = set()

    def install(self) -> None:
        self.registry.add_provider("Local", self, tech=True)

    def device_state(self, resource: str) -> DeviceState:
        name = resource.split("/", 1)[0]  # the options (/n) do not matter
        exten, at, context = name.partition("@")
        if not at or not exten or not context:
            if name not in self._warned and len(self._warned) < 100:
                self._warned.add(name)
                log.warning("Local/%s has no @context: its device state is INVALID", resource)
            return DeviceState.INVALID
        if name in self._live():
            return DeviceState.INUSE
        from dialplan.interpreter import exists

        dialplan = self.dialplan()
        if dialplan is not None and exists(dialplan, context, exten):
            return DeviceState.NOT_INUSE
        return DeviceState.INVALID

    def _live(self) -> set[str]:
        active = self._active
        if active is None:
            active = {ch.dialed for ch in self.channels()
                      if getattr(ch, "outer", False) and ch.state is not ChannelState.HUNGUP}
            self._active = active
            self.call_soon(self._forget)
        return active

    def _forget(self) -> None:
        self._active = None
