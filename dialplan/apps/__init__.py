"""Dialplan applications: one module per application, registered by name.

An application is

    @register("Playback")
    async def playback(ctx: AppContext, args: list[str]) -> None: ...

- `args` are the arguments after `${...}`/`$[...]` substitution, split at
  top-level commas as Asterisk does (quotes and backslash escapes removed);
  `ctx.data` is the same text unsplit, for applications that parse it
  themselves (Set, GotoIf, GotoIfTime, Gosub).
- `ctx.channel` is the call leg (pbx.channel.Channel); apps never see SIP.
- Returning normally continues at the next priority. To change that, call
  `ctx.goto(...)`/`ctx.jump(...)` (Goto, GotoIf, Gosub), `ctx.dial_digits(d)`
  (a digit pressed in Background/WaitExten: the interpreter collects the
  rest of the extension and jumps to it, or to `i`/`t`), or `ctx.end(cause)`
  (stop the dialplan and hang up, Asterisk's "return -1").
- Raise `pbx.channel.Hangup` when the caller is gone (the channel methods
  do it for you), `pbx.channel.AppError` or `DialplanError` for a failure
  that ends the call; the interpreter logs it with the step's position.
- `ctx.note(text)` reports what the application decided (for `pbx dialplan
  trace` and the debug log).
- `ctx.services` is what the PBX running the call provides (dialplan.services):
  `ctx.voicemail()` the voicemail service, the globals, the clock, the AstDB.

Application names are case-insensitive. `@register` only marks the function;
`AppRegistry.builtin()` collects the marked functions of this package, and
each PBX (each tracer, each test) has its own registry, so none is shared.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from dialplan.services import DialplanServices
from dialplan.substitute import DialplanError, Scope, get_variable, set_variable
from pbx import q850
from pbx.channel import AppError

if TYPE_CHECKING:
    from dialplan.model import Step
    from pbx.channel import Channel

log = logging.getLogger(__name__)

AppFunc = Callable[["AppContext", list[str]], Awaitable[None]]

_TAG = "dialplan_apps"  # attribute register() puts on an application function


def register(name: str) -> Callable[[AppFunc], AppFunc]:
    """Mark an async function as the application `name` (case-insensitive).

    The mark is all: AppRegistry.builtin() collects marked functions from
    the modules of this package, so registering changes no shared table."""
    def deco(fn: AppFunc) -> AppFunc:
        setattr(fn, _TAG, (*getattr(fn, _TAG, ()), name))
        return fn
    return deco


def load_all() -> None:
    """Import every application module (start-up pays for it, not the first call)."""
    _builtin_table()


@cache
def _builtin_table() -> Mapping[str, AppFunc]:
    # The applications this package defines: fixed by the code, so computed
    # once and read-only. Every AppRegistry copies it into its own dict.
    table: dict[str, AppFunc] = {}
    for mod in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{mod.name}")
        for value in vars(module).values():
            for name in getattr(value, _TAG, ()):
                table[name.lower()] = value
    return MappingProxyType(table)


class AppRegistry:
    """Application name -> function, for one PBX (or one tracer, one test)."""

    def __init__(self, apps: Mapping[str, AppFunc] | None = None) -> None:
        self._apps: dict[str, AppFunc] = {k.lower(): v for k, v in (apps or {}).items()}

    @classmethod
    def builtin(cls) -> AppRegistry:
        """Every application of dialplan/apps/."""
        return cls(_builtin_table())

    def get(self, name: str) -> AppFunc | None:
        """The application called `name` (any case), or None."""
        return self._apps.get(name.lower())

    def add(self, name: str, fn: AppFunc) -> None:
        """Register (or replace) an application in this registry only."""
        self._apps[name.lower()] = fn

    def with_apps(self, apps: Mapping[str, AppFunc]) -> AppRegistry:
        """A copy where `apps` are added or replace the ones of the same name."""
        out = AppRegistry(self._apps)
        for name, fn in apps.items():
            out.add(name, fn)
        return out

    def names(self) -> set[str]:
        """Lower-case names of every application."""
        return set(self._apps)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._apps


def known_apps() -> set[str]:
    """Lower-case names of every built-in application (for `pbx check`)."""
    return set(_builtin_table())


@dataclass
class Jump:
    """Where the dialplan continues after an application changed it."""

    context: str
    exten: str
    priority: int


@dataclass
class AppContext:
    """What an application gets besides its arguments (see the module docstring)."""

    channel: Channel
    scope: Scope
    interpreter: Any  # dialplan.interpreter.Interpreter (Any: no import cycle)
    data: str = ""  # the substituted argument text, unsplit
    step: Step | None = None
    app: str = ""
    jump_to: Jump | None = None
    digits: str | None = None  # set by dial_digits()
    ended: bool = False
    end_cause: int = q850.NORMAL_CLEARING
    notes: list[str] = field(default_factory=list)
    services: DialplanServices = field(default_factory=DialplanServices)

    # --- services ------------------------------------------------------------
    def voicemail(self) -> Any:
        """The voicemail service of this PBX (AppError when there is none)."""
        svc = self.services.voicemail
        if svc is None:
            raise AppError("voicemail is not configured (no voicemail.conf or service "
                           "not started)")
        return svc

    def exists(self, context: str, exten: str, priority: int = 1) -> bool:
        """Whether `exten` has `priority` in `context` (includes followed) for this call."""
        interp = self.interpreter
        return interp is not None and interp.find_step(
            self.scope, context, exten, priority) is not None

    def where(self, offset: int = 0) -> str:
        """`file:line:col` of this step's arguments (+offset), for log lines."""
        step = self.step
        if step is None:
            return self.channel.name
        p = step.app_pos
        return f"{p.file}:{p.line}:{p.col + len(step.app) + 1 + offset}"

    # --- variables ---------------------------------------------------------
    def get_var(self, name: str) -> str:
        """A variable (channel, then globals); '' when unset."""
        v = get_variable(self.scope, name)
        return "" if v is None else v

    def set_var(self, name: str, value: str | None) -> None:
        """Set a variable or writable function (`CALLERID(num)`, `GLOBAL(x)`)."""
        set_variable(self.scope, name, value)

    # --- control flow ------------------------------------------------------
    def jump(self, context: str, exten: str, priority: int) -> None:
        """Continue at exactly this place (no label resolution)."""
        self.jump_to = Jump(context, exten, priority)

    def resolve(self, target: str | list[str]) -> Jump:
        """Resolve Asterisk's `[[context,]exten,]priority` (priority may be a
        label, or `+N`/`-N` relative to the current one) against the dialplan."""
        parts = (split_target(target) if isinstance(target, str)
                 else [p.strip() for p in target])
        ch = self.channel
        if not parts or len(parts) > 3 or not parts[-1]:
            raise DialplanError(f"bad destination {target!r}: use [[context,]exten,]priority")
        context, exten = ch.context, ch.exten
        if len(parts) == 3:
            context, exten, prio = parts
        elif len(parts) == 2:
            exten, prio = parts
        else:
            prio = parts[0]
        context = context or ch.context
        exten = exten or ch.exten
        return Jump(context, exten, self.interpreter.resolve_priority(
            self.scope, context, exten, prio, current=ch.priority))

    def goto(self, target: str | list[str]) -> Jump:
        """Jump to `[[context,]exten,]priority|label`."""
        j = self.resolve(target)
        self.jump_to = j
        return j

    def dial_digits(self, digits: str) -> None:
        """A digit was pressed (Background/WaitExten): collect an extension."""
        self.digits = digits

    def end(self, cause: int = q850.NORMAL_CLEARING) -> None:
        """Stop the dialplan here and hang up with this cause."""
        self.ended = True
        self.end_cause = cause

    def note(self, text: str) -> None:
        """Report a decision (trace output / debug log)."""
        self.notes.append(text)
        tracer = getattr(self.interpreter, "tracer", None)
        if tracer is not None:
            tracer(text)
        else:
            log.debug("%s: %s", self.channel.name, text)


def split_target(text: str) -> list[str]:
    """Split a Goto destination at commas (or the old `|`)."""
    sep = "," if "," in text or "|" not in text else "|"
    return [p.strip() for p in text.split(sep)]
