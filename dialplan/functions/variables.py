"""Variable functions: SET, GLOBAL, LOCAL, ARRAY (pbx_builtins, app_stack.c,
func_strings.c)."""

from __future__ import annotations

import logging

from dialplan.functions import function, writer
from dialplan.substitute import DialplanError, Scope, get_variable, set_variable, split_args

log = logging.getLogger(__name__)


def _var(scope: Scope, name: str) -> str:
    v = get_variable(scope, name.strip())
    return "" if v is None else v


@function("SET")
def _set_fn(scope: Scope, args: str) -> str:
    name, sep, value = args.partition("=")
    if not sep:
        raise DialplanError("SET: syntax is SET(<varname>=<value>)")
    set_variable(scope, name, value)
    return value


@function("GLOBAL")
def _global(scope: Scope, args: str) -> str:
    return scope.globals.get(args.strip(), "")


@writer("GLOBAL")
def _global_w(scope: Scope, args: str, value: str) -> None:
    scope.globals[args.strip()] = value


@function("LOCAL")
def _local(scope: Scope, args: str) -> str:
    return _var(scope, args)


@writer("LOCAL")
def _local_w(scope: Scope, args: str, value: str) -> None:
    name = args.strip()
    if scope.frames:
        # Remember the outer value once, so Return restores it.
        frame = scope.frames[-1]
        if name not in frame.saved:
            frame.saved[name] = scope.variables.get(name)
    else:
        log.warning("LOCAL(%s) set outside a Gosub: behaves as a channel variable", name)
    set_variable(scope, name, value)


@writer("ARRAY")
def _array_w(scope: Scope, args: str, value: str) -> None:
    """`Set(ARRAY(a,b,c)=1,2,3)`: one value per variable; missing values set ''."""
    names = [n.strip() for n in split_args(args)]
    if not any(names):
        raise DialplanError("ARRAY: syntax is Set(ARRAY(var1[,var2...])=val1[,val2...])")
    # Asterisk prefers commas, and falls back to `|` (old literal lists) when there is none.
    values = split_args(value, "," if "," in value or "|" not in value else "|")
    for i, name in enumerate(names):
        if name:
            set_variable(scope, name, values[i] if i < len(values) else "")
