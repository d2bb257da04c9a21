"""Dialplan functions: `${LEN(x)}`, `${CUT(var,-,2)}`, `Set(TIMEOUT(digit)=3)`, ...

One module per family (strings, math, times, variables, channel, exten,
cdr, db), like Asterisk's funcs/func_*.c. A function has a reader
`(scope, args) -> str` and optionally a writer `(scope, args, value)`;
`args` is the text between the parentheses, already substituted, and each
function splits it as Asterisk's does. Names are matched without regard to
case.

`@function("LEN")` and `@writer("GLOBAL")` only mark the Python function;
`FunctionRegistry.builtin()` collects the marks of this package, and each
PBX has its own registry (`DialplanServices.functions`). Reading an unknown
function raises DialplanError, which fails the call at that step with the
step's file:line:col (Asterisk would substitute an empty string and go on:
a silent wrong call is worse). Writing one with Set() is a warning only.

A function that must wait for the network (ENUMLOOKUP: DNS) is marked with
`@async_function`: its reader is a coroutine. Substitution itself stays
synchronous (the hot path); the interpreter substitutes a step that names
such a function with `substitute_awaiting`, which awaits each one and
substitutes again, replaying the values the step's other functions already
returned, so each function runs once per step as usual.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType
from typing import TYPE_CHECKING

from dialplan.substitute import DialplanError
from dialplan.timespec import TimeSpec

if TYPE_CHECKING:
    from dialplan.substitute import Scope

__all__ = ["AwaitNeeded", "Function", "FunctionRegistry", "TimeSpec", "async_function",
           "format_callerid", "function", "known_functions", "parse_callerid", "writer"]

Reader = Callable[["Scope", str], str]
AsyncReader = Callable[["Scope", str], Awaitable[str]]
Writer = Callable[["Scope", str, str], None]

_READS = "dialplan_reads"  # attributes the decorators put on the Python functions
_WRITES = "dialplan_writes"
_ASYNC = "dialplan_async"


class AwaitNeeded(Exception):  # control flow: a step must await a function's value
    """Raised by FunctionRegistry.read for an async function whose value this
    pass of the substitution does not have yet."""

    def __init__(self, name: str, value: Awaitable[str]) -> None:
        super().__init__(name)
        self.name = name
        self.value = value


@dataclass(frozen=True, slots=True)
class Function:
    name: str
    read: Reader | None
    write: Writer | None
    is_async: bool = False  # read is a coroutine function (see the module docstring)


def function(name: str) -> Callable[[Reader], Reader]:
    """Mark a reader as the dialplan function `name`."""
    def deco(fn: Reader) -> Reader:
        setattr(fn, _READS, (*getattr(fn, _READS, ()), name.upper()))
        return fn
    return deco


def async_function(name: str) -> Callable[[AsyncReader], AsyncReader]:
    """Mark a coroutine reader as the dialplan function `name` (one that waits for I/O)."""
    def deco(fn: AsyncReader) -> AsyncReader:
        setattr(fn, _READS, (*getattr(fn, _READS, ()), name.upper()))
        setattr(fn, _ASYNC, True)
        return fn
    return deco


def writer(name: str) -> Callable[[Writer], Writer]:
    """Mark a writer of the dialplan function `name` (`Set(NAME(args)=value)`)."""
    def deco(fn: Writer) -> Writer:
        setattr(fn, _WRITES, (*getattr(fn, _WRITES, ()), name.upper()))
        return fn
    return deco


@cache
def _builtin_table() -> Mapping[str, Function]:
    # Fixed by the code: computed once, read-only; registries copy it.
    readers: dict[str, Reader] = {}
    writers: dict[str, Writer] = {}
    for mod in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{mod.name}")
        for value in vars(module).values():
            for name in getattr(value, _READS, ()):
                readers[name] = value
            for name in getattr(value, _WRITES, ()):
                writers[name] = value
    return MappingProxyType({name: Function(name, readers.get(name), writers.get(name),
                                            getattr(readers.get(name), _ASYNC, False))
                             for name in readers.keys() | writers.keys()})


class FunctionRegistry:
    """Function name -> reader/writer, for one PBX."""

    def __init__(self, functions: Mapping[str, Function] | None = None) -> None:
        self._functions = dict(functions or {})
        self._awaiting: re.Pattern[str] | None = None
        self._awaiting_done = False

    @classmethod
    def builtin(cls) -> FunctionRegistry:
        """Every function of dialplan/functions/."""
        return cls(_builtin_table())

    def get(self, name: str) -> Function | None:
        return self._functions.get(name.upper())

    def add(self, name: str, read: Reader | None, write: Writer | None = None, *,
            is_async: bool = False) -> None:
        """Register (or replace) a function in this registry only."""
        self._functions[name.upper()] = Function(name.upper(), read, write, is_async)
        self._awaiting_done = False

    def may_await(self, text: str) -> bool:
        """Whether `text` (a step's arguments) names a function that awaits."""
        if not self._awaiting_done:
            names = sorted(n for n, f in self._functions.items() if f.is_async)
            self._awaiting = (re.compile(r"(?i)\b(?:" + "|".join(map(re.escape, names))
                                         + r")\(") if names else None)
            self._awaiting_done = True
        return self._awaiting is not None and self._awaiting.search(text) is not None

    def names(self) -> set[str]:
        """Upper-case names of every function."""
        return set(self._functions)

    def read(self, scope: Scope, name: str, args: str) -> str:
        """`${NAME(args)}`; DialplanError when unknown or write-only."""
        replay = scope.replay
        if replay is not None and replay.pos < len(replay.values):
            value = replay.values[replay.pos]  # substitute_awaiting's second pass
            replay.pos += 1
            return value
        f = self._functions.get(name.upper())
        if f is None:
            raise DialplanError(f"Unknown function: {name}")
        if f.read is None:
            raise DialplanError(f"Function {name} cannot be read")
        if f.is_async:
            if replay is None:
                raise DialplanError(f"{name}() waits for the network: it can only be used "
                                    "in an application's arguments")
            raise AwaitNeeded(name, f.read(scope, args))  # type: ignore[arg-type]
        value = f.read(scope, args)
        if replay is not None:
            replay.values.append(value)
            replay.pos += 1
        return value

    def write(self, scope: Scope, name: str, args: str, value: str) -> None:
        """`Set(NAME(args)=value)`; DialplanError when unknown or read-only."""
        f = self._functions.get(name.upper())
        if f is None:
            raise DialplanError(f"Unknown function: {name}")
        if f.write is None:
            raise DialplanError(f"Function {name} cannot be written to")
        f.write(scope, args, value)


def known_functions() -> set[str]:
    """Names of every built-in function (upper case), for `pbx check`."""
    return set(_builtin_table())


def writable_functions() -> set[str]:
    """Names of the built-in functions that `Set(NAME(...)=...)` can write."""
    return {name for name, f in _builtin_table().items() if f.write is not None}


# Last: the channel module uses the decorators above.
from dialplan.functions.channel import format_callerid, parse_callerid  # noqa: E402
