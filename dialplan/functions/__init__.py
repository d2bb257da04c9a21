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
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType
from typing import TYPE_CHECKING

from dialplan.substitute import DialplanError
from dialplan.timespec import TimeSpec

if TYPE_CHECKING:
    from dialplan.substitute import Scope

__all__ = ["Function", "FunctionRegistry", "TimeSpec", "format_callerid", "function",
           "known_functions", "parse_callerid", "writer"]

Reader = Callable[["Scope", str], str]
Writer = Callable[["Scope", str, str], None]

_READS = "dialplan_reads"  # attributes the decorators put on the Python functions
_WRITES = "dialplan_writes"


@dataclass(frozen=True, slots=True)
class Function:
    name: str
    read: Reader | None
    write: Writer | None


def function(name: str) -> Callable[[Reader], Reader]:
    """Mark a reader as the dialplan function `name`."""
    def deco(fn: Reader) -> Reader:
        setattr(fn, _READS, (*getattr(fn, _READS, ()), name.upper()))
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
    return MappingProxyType({name: Function(name, readers.get(name), writers.get(name))
                             for name in readers.keys() | writers.keys()})


class FunctionRegistry:
    """Function name -> reader/writer, for one PBX."""

    def __init__(self, functions: Mapping[str, Function] | None = None) -> None:
        self._functions = dict(functions or {})

    @classmethod
    def builtin(cls) -> FunctionRegistry:
        """Every function of dialplan/functions/."""
        return cls(_builtin_table())

    def get(self, name: str) -> Function | None:
        return self._functions.get(name.upper())

    def add(self, name: str, read: Reader | None, write: Writer | None = None) -> None:
        """Register (or replace) a function in this registry only."""
        self._functions[name.upper()] = Function(name.upper(), read, write)

    def names(self) -> set[str]:
        """Upper-case names of every function."""
        return set(self._functions)

    def read(self, scope: Scope, name: str, args: str) -> str:
        """`${NAME(args)}`; DialplanError when unknown or write-only."""
        f = self._functions.get(name.upper())
        if f is None:
            raise DialplanError(f"Unknown function: {name}")
        if f.read is None:
            raise DialplanError(f"Function {name} cannot be read")
        return f.read(scope, args)

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
