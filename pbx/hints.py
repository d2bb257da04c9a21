"""Hints: `exten => 6001,hint,SIP/6001&Custom:dnd6001(Alice)` and their watchers.

A hint belongs to an extension of the dialplan, found the way Asterisk finds
priority `hint`: the context's own extensions, then its includes; a hint on a
pattern (`exten => _6XXX,hint,SIP/${EXTEN}`) serves every extension it
matches, with `${EXTEN}` replaced. Its devices' states are aggregated into the
extension state (pbx.devstate). Watchers (a SUBSCRIBE for `dialog` or
`presence`) are told every change, and every new ringing call even when the
state stays RINGING (a second caller), as Asterisk's extension_state.c does.
A reload re-reads every watched hint; a hint that is gone tells its watchers
with ``state=None``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dialplan import patterns
from pbx.devstate import DeviceStates, ExtensionState, extension_state, extension_state_text

if TYPE_CHECKING:
    from dialplan.model import Dialplan
    from pbx.channel import CallerId

log = logging.getLogger("pbx.hints")


@dataclass(frozen=True, slots=True)
class Hint:
    """A hint as it applies to one extension."""

    context: str  # where the hint was found (may be an included context)
    exten: str
    devices: tuple[str, ...]  # canonical device names
    name: str = ""  # `SIP/6001(Alice)`: the display name
    text: str = ""  # as written (after ${EXTEN})


def parse_hint(value: str, exten: str) -> tuple[tuple[str, ...], str]:
    """`SIP/a&SIP/b(Name),Presence` -> ((SIP/a, SIP/b), Name); ${EXTEN} replaced."""
    value = value.replace("${EXTEN}", exten)
    devices_part = value.split(",", 1)[0]  # after ',': a presence provider (not used)
    name = ""
    if devices_part.endswith(")") and "(" in devices_part:
        devices_part, _, rest = devices_part.partition("(")
        name = rest[:-1].strip()
    devices = tuple(d.strip() for d in devices_part.split("&") if d.strip())
    return devices, name


def find_hint(dialplan: Dialplan, context: str, exten: str,
              now: float | None = None) -> tuple[str, str] | None:
    """(context found in, hint text) for `exten` as seen from `context`, or None."""
    found = patterns.find(dialplan, context, exten, None, priority=-1, now=now)
    if found is None:
        return None
    ctx, ext = found
    return (ctx.name, ext.hint) if ext.hint else None


@dataclass(slots=True)
class HintInfo:
    """What a watcher is told."""

    state: ExtensionState | None  # None: the hint is gone (reload)
    caller: CallerId | None = None  # who rings it (state has RINGING)


Callback = Callable[[HintInfo], None]


@dataclass(slots=True)
class _Watched:
    hint: Hint
    state: ExtensionState
    callbacks: list[Callback] = field(default_factory=list)


class Watch:
    """A watcher's handle: `cancel()` when the subscription ends."""

    __slots__ = ("_callback", "_engine", "_key", "hint")

    def __init__(self, engine: HintStates, key: tuple[str, str], hint: Hint,
                 callback: Callback) -> None:
        self._engine = engine
        self._key = key
        self.hint = hint
        self._callback = callback

    def info(self) -> HintInfo:
        """The state now."""
        return self._engine.info_of(self.hint)

    def cancel(self) -> None:
        self._engine.unwatch(self._key, self._callback)


class HintStates:
    """Extension states of one PBX: reads, watches, `pbx hints`."""

    def __init__(self, devices: DeviceStates, dialplan: Callable[[], Dialplan],
                 clock: Callable[[], float] | None = None) -> None:
        self.devices = devices
        self.dialplan = dialplan
        self.clock = clock  # wall time, for timed includes
        self._watched: dict[tuple[str, str], _Watched] = {}  # (context, exten) asked
        self._by_device: dict[str, set[tuple[str, str]]] = {}
        devices.listen(self.device_changed)

    # --- lookups -----------------------------------------------------------------
    def hint(self, context: str, exten: str) -> Hint | None:
        found = find_hint(self.dialplan(), context, exten,
                          self.clock() if self.clock is not None else None)
        if found is None:
            return None
        where, text = found
        devices, name = parse_hint(text, exten)
        return Hint(where, exten, tuple(self.devices.canonical(d) for d in devices), name,
                    text.replace("${EXTEN}", exten))

    def state_of(self, hint: Hint) -> ExtensionState:
        return extension_state(self.devices.states(hint.devices))

    def info_of(self, hint: Hint) -> HintInfo:
        state = self.state_of(hint)
        caller = (self.devices.ringing_caller(hint.devices)
                  if state & ExtensionState.RINGING else None)
        return HintInfo(state, caller)

    def state(self, context: str, exten: str) -> ExtensionState | None:
        """EXTENSION_STATE(exten@context): None when there is no hint."""
        hint = self.hint(context, exten)
        return None if hint is None else self.state_of(hint)

    # --- watching --------------------------------------------------------------
    def watch(self, context: str, exten: str, callback: Callback) -> Watch | None:
        """Call `callback` on every change of exten@context's state; None: no hint."""
        key = (context, exten)
        entry = self._watched.get(key)
        if entry is None:
            hint = self.hint(context, exten)
            if hint is None:
                return None
            entry = self._watched[key] = _Watched(hint, self.state_of(hint))
            self._index(key, hint)
        entry.callbacks.append(callback)
        return Watch(self, key, entry.hint, callback)

    def unwatch(self, key: tuple[str, str], callback: Callback) -> None:
        entry = self._watched.get(key)
        if entry is None:
            return
        if callback in entry.callbacks:
            entry.callbacks.remove(callback)
        if not entry.callbacks:
            del self._watched[key]
            self._unindex(key, entry.hint)

    def watchers(self, context: str, exten: str) -> int:
        entry = self._watched.get((context, exten))
        return len(entry.callbacks) if entry is not None else 0

    def _index(self, key: tuple[str, str], hint: Hint) -> None:
        for device in hint.devices:
            self._by_device.setdefault(device, set()).add(key)

    def _unindex(self, key: tuple[str, str], hint: Hint) -> None:
        for device in hint.devices:
            keys = self._by_device.get(device)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_device[device]

    def device_changed(self, device: str) -> None:
        """A device may have changed: re-evaluate the watched hints that name it."""
        for key in list(self._by_device.get(device, ())):
            self._evaluate(key, ringing_news=True)

    def _evaluate(self, key: tuple[str, str], *, ringing_news: bool = False) -> None:
        entry = self._watched.get(key)
        if entry is None:
            return
        info = self.info_of(entry.hint)
        assert info.state is not None
        if info.state == entry.state and not (ringing_news and
                                              info.state & ExtensionState.RINGING):
            return
        if info.state != entry.state:
            log.info("Extension Changed %s[%s] new state %s", entry.hint.exten, key[0],
                     extension_state_text(info.state))
        entry.state = info.state
        for callback in list(entry.callbacks):
            try:
                callback(info)
            except Exception:
                log.exception("hint watcher of %s@%s failed", key[1], key[0])

    def refresh(self) -> None:
        """Re-read every watched hint (after a reload; and periodically, which
        catches what no event announces: a registration that expired, an AstDB
        value changed from the shell). Hints that are gone end their watchers."""
        for key, entry in list(self._watched.items()):
            hint = self.hint(*key)
            if hint is None:
                del self._watched[key]
                self._unindex(key, entry.hint)
                for callback in list(entry.callbacks):
                    try:
                        callback(HintInfo(None))
                    except Exception:
                        log.exception("hint watcher of %s@%s failed", key[1], key[0])
                continue
            if hint != entry.hint:
                self._unindex(key, entry.hint)
                entry.hint = hint
                self._index(key, hint)
            self._evaluate(key)

    # --- `pbx hints` ---------------------------------------------------------------
    def rows(self) -> list[dict]:
        """Every hint of the dialplan (literal ones; pattern hints once watched), with
        its state and watchers, as `core show hints` lists them."""
        dp = self.dialplan()
        seen: set[tuple[str, str]] = set()
        rows = []
        for context in dp.contexts.values():
            for ext in context.extensions.values():
                if not ext.hint or ext.is_pattern:
                    continue
                key = (context.name, ext.name)
                if key in seen:
                    continue
                seen.add(key)
                rows.append(self._row(key))
        for key in self._watched:
            if key not in seen:
                seen.add(key)
                rows.append(self._row(key))
        return rows

    def _row(self, key: tuple[str, str]) -> dict:
        hint = self.hint(*key)
        state = self.state_of(hint) if hint is not None else None
        return {"exten": key[1], "context": key[0], "hint": hint.text if hint else "",
                "devices": list(hint.devices) if hint else [],
                "state": extension_state_text(state), "watchers": self.watchers(*key)}
