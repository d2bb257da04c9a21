"""What a running dialplan uses besides the dialplan itself, passed down.

One `DialplanServices` per PBX (the server builds it; the tracer and the
tests build their own): the application and function registries, the
global variables ([globals], GLOBAL()), the clock, the AstDB, the
voicemail service, the tones of indications.conf, the conferences, the call
queues and the parking lots. The interpreter hands it to every application
(`AppContext.services`) and function (`Scope.services`), so two PBX objects
in one process share nothing, and a test can give the interpreter a fake
clock or a fake voicemail service.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from dialplan.apps import AppRegistry
    from dialplan.functions import FunctionRegistry
    from dialplan.model import Dialplan


class Clock(Protocol):
    """Where the dialplan reads the time."""

    def time(self) -> float:
        """Wall-clock time, epoch seconds: timed includes, GotoIfTime, EPOCH, STRFTIME."""
        ...

    def monotonic(self) -> float:
        """A monotonic clock in seconds: TIMEOUT(absolute) deadlines."""
        ...


class SystemClock:
    """The real clocks."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


class AstDbPort(Protocol):
    """The AstDB as the dialplan uses it (pbx.astdb.AstDb implements it).

    Reads and writes are immediate for the dialplan (functions are not
    coroutines); `settle()` commits what was written, and the interpreter
    awaits it after each step that wrote (`dirty`)."""

    @property
    def dirty(self) -> bool: ...
    def get(self, family: str, key: str) -> str | None: ...
    def put(self, family: str, key: str, value: str) -> None: ...
    def delete(self, family: str, key: str) -> bool: ...
    def keys(self, prefix: str) -> list[str]: ...
    async def settle(self) -> None: ...


def _builtin_apps() -> AppRegistry:
    from dialplan.apps import AppRegistry

    return AppRegistry.builtin()


def _builtin_functions() -> FunctionRegistry:
    from dialplan.functions import FunctionRegistry

    return FunctionRegistry.builtin()


@dataclass
class DialplanServices:
    """Everything the dialplan reaches at run time, one set per PBX."""

    apps: AppRegistry = field(default_factory=_builtin_apps)
    functions: FunctionRegistry = field(default_factory=_builtin_functions)
    # [globals] and GLOBAL(): shared by every call of this PBX, as in Asterisk.
    globals: dict[str, str] = field(default_factory=dict)
    clock: Clock = field(default_factory=SystemClock)
    astdb: AstDbPort | None = None
    voicemail: Any = None  # voicemail.service.VoicemailService (dialplan does not import it)
    # Office features (the dialplan does not import pbx): DEVICE_STATE(), EXTENSION_STATE(),
    # Pickup()/PickupChan(), MessageSend().
    devices: Any = None  # pbx.devstate.DeviceStates
    custom_devices: Any = None  # pbx.devstate.CustomDevices (Set(DEVICE_STATE(Custom:x)=...))
    hints: Any = None  # pbx.hints.HintStates
    pickup: Any = None  # pbx.pickup.Pickups
    messages: Any = None  # pbx.messaging.Messaging
    # indications.conf (pbx.indications.Indications); None: the built-in [us] zone.
    indications: Any = None
    # ChanIsAvail's view of the devices (pbx.chan_avail.ChannelAvailability); None:
    # no PBX (traces, tests): nothing is available.
    availability: Any = None
    # ENUMLOOKUP's DNS (pbx.enum_dns.NaptrSource); None: the system's resolver, made
    # on first use.
    naptr: Any = None
    conferences: Any = None  # pbx.conference.service.ConferenceService (ConfBridge, Page)
    parking: Any = None  # pbx.parking.Parking: Park(), ParkedCall() (res_parking.conf)
    queues: Any = None  # pbx.queue.service.QueueService: Queue(), AddQueueMember, QUEUE_*()
    _globals_from: Dialplan | None = field(default=None, repr=False)

    def tone_zones(self) -> Any:
        """The tones PlayTones and Read play (pbx.indications.Indications)."""
        if self.indications is None:
            from pbx.indications import BUILTIN

            return BUILTIN
        return self.indications

    def naptr_source(self) -> Any:
        """Where ENUM's NAPTR records come from (pbx.enum_dns.NaptrSource)."""
        if self.naptr is None:
            from pbx.enum_dns import NaptrResolver

            self.naptr = NaptrResolver()
        return self.naptr

    def load_globals(self, dialplan: Dialplan) -> None:
        """Take a dialplan's [globals] the first time a call runs on it (start-up
        and each reload): values set by GLOBAL() are kept unless [globals] names
        them, as Asterisk's `dialplan reload` with clearglobalvars=no does;
        clearglobalvars=yes in [general] starts from [globals] alone."""
        if self._globals_from is dialplan:
            return
        if dialplan.general.get("clearglobalvars", "no").lower() in ("yes", "true", "1", "on"):
            self.globals.clear()
        self.globals.update(dialplan.globals)
        self._globals_from = dialplan
