"""Number functions: RAND, INC, DEC, MATH (func_rand.c, func_math.c)."""

from __future__ import annotations

import logging
import random
import re

from dialplan.expressions import evaluate
from dialplan.functions import function
from dialplan.substitute import Scope, get_variable, set_variable, split_args

log = logging.getLogger(__name__)


def _var(scope: Scope, name: str) -> str:
    v = get_variable(scope, name.strip())
    return "" if v is None else v


@function("RAND")
def _rand(scope: Scope, args: str) -> str:
    parts = split_args(args)
    lo_s = parts[0].strip() if parts else ""
    hi_s = parts[1].strip() if len(parts) > 1 else ""
    lo = int(lo_s) if re.fullmatch(r"-?\d+", lo_s) else 0
    hi = int(hi_s) if re.fullmatch(r"-?\d+", hi_s) else 2147483647
    if lo > hi:
        lo, hi = hi, lo
    return str(random.randint(lo, hi))


def _incdec(scope: Scope, args: str, step: int) -> str:
    name = args.strip()
    cur = _var(scope, name)
    m = re.match(r"\s*(-?\d+)", cur)
    value = (int(m.group(1)) if m else 0) + step
    set_variable(scope, name, str(value))
    return str(value)


@function("INC")
def _inc(scope: Scope, args: str) -> str:
    return _incdec(scope, args, 1)


@function("DEC")
def _dec(scope: Scope, args: str) -> str:
    return _incdec(scope, args, -1)


@function("MATH")
def _math(scope: Scope, args: str) -> str:
    # MATH(<number1><op><number2>[,<type>]): delegate to the expression engine.
    expr, _, rtype = args.partition(",")
    expr = expr.replace("==", "=").replace("^", " ^ ")
    m = re.fullmatch(r"\s*(-?[\d.]+)\s*(\+|-|\*|/|%|<=|>=|<|>|=|!=)\s*(-?[\d.]+)\s*", expr)
    if not m:
        log.warning("MATH: cannot compute %r", args)
        return ""
    out = evaluate(f"{m.group(1)} {m.group(2)} {m.group(3)}")
    rtype = rtype.strip().lower()
    if rtype in ("i", "int"):
        return str(int(float(out)))
    if rtype in ("f", "float"):
        return f"{float(out):f}"
    return out
