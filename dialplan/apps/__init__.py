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

Application names are case-insensitive; APPS is keyed by the lower-case name.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dialplan.substitute import DialplanError, Scope, get_variable, set_variable

if TYPE_CHECKING:
    from dialplan.model import Step
    from pbx.channel import Channel

log = logging.getLogger(__name__)

AppFunc = Callable[["AppContext", list[str]], Awaitable[None]]

APPS: dict[str, AppFunc] = {}



def register(name: str) -> Callable[[AppFunc], AppFunc]:
    """Register an application under its (case-insensitive) name."""
    def deco(fn: AppFunc) -> AppFunc:
        APPS[name.lower()] = fn
        return fn
    return deco


def known_apps() -> set[str]:
    """Lower-case names of every application."""
    load_all()
    return set(APPS)


_loaded: list[bool] = [False]


def load_all() -> None:
    """Import every module of this package so each registers its application."""
    if _loaded[0]:
        return
    _loaded[0] = True
    for mod in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{mod.name}")


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
    end_cause: int = 16
    notes: list[str] = field(default_factory=list)

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

    def end(self, cause: int = 16) -> None:
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
