"""String functions: LEN, ISNULL, EXISTS, TOUPPER, TOLOWER, IF, CUT, FIELDQTY,
FIELDNUM, REGEX, FILTER, REPLACE, STRREPLACE, QUOTE, EVAL (func_strings.c, func_cut.c,
func_logic.c)."""

from __future__ import annotations

import logging
import re

from dialplan.functions import function
from dialplan.substitute import DialplanError, Scope, check_condition, get_variable, split_args

log = logging.getLogger(__name__)


def _var(scope: Scope, name: str) -> str:
    v = get_variable(scope, name.strip())
    return "" if v is None else v


@function("LEN")
def _len(scope: Scope, args: str) -> str:
    return str(len(args))


@function("ISNULL")
def _isnull(scope: Scope, args: str) -> str:
    return "1" if args == "" else "0"


@function("EXISTS")
def _exists(scope: Scope, args: str) -> str:
    return "0" if args == "" else "1"


@function("TOUPPER")
def _toupper(scope: Scope, args: str) -> str:
    return args.upper()


@function("TOLOWER")
def _tolower(scope: Scope, args: str) -> str:
    return args.lower()


@function("IF")
def _if(scope: Scope, args: str) -> str:
    # IF(expr?[true][:false]): the expression is everything before the first '?'.
    if "?" not in args:
        log.warning("IF: syntax is IF(<expr>?[<true>][:<false>]), got %r", args)
        return ""
    cond, rest = args.split("?", 1)
    parts = split_args(rest, ":")
    yes = parts[0].strip()
    no = parts[1].strip() if len(parts) > 1 else ""
    return yes if check_condition(cond) else no


def _cut_fields(value: str, delim: str, spec: str) -> str:
    fields = value.split(delim)
    out: list[str] = []
    # Ranges may be joined with '&' (Asterisk) or ',' (older syntax).
    for part in re.split(r"[&,]", spec):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            lo_s, hi_s = part.split("-", 1)
            lo = int(lo_s) if lo_s.strip().isdigit() else 1
            hi = int(hi_s) if hi_s.strip().isdigit() else len(fields)
        elif part.isdigit():
            lo = hi = int(part)
        else:
            raise DialplanError(f"CUT: bad field specification {spec!r}")
        out.extend(fields[max(lo, 1) - 1:hi])
    return delim.join(out)


@function("CUT")
def _cut(scope: Scope, args: str) -> str:
    parts = split_args(args)
    if len(parts) < 3:
        raise DialplanError("CUT: syntax is CUT(<varname>,<char-delim>,<range-spec>)")
    delim = parts[1] or "-"
    if delim.startswith("\\") and len(delim) > 1:
        delim = delim[1:]
    return _cut_fields(_var(scope, parts[0]), delim[0], parts[2])


@function("FIELDQTY")
def _fieldqty(scope: Scope, args: str) -> str:
    parts = split_args(args)
    value = _var(scope, parts[0])
    delim = parts[1] if len(parts) > 1 and parts[1] else "-"
    return "0" if value == "" else str(len(value.split(delim)))


@function("FIELDNUM")
def _fieldnum(scope: Scope, args: str) -> str:
    parts = split_args(args)
    if len(parts) < 3:
        return "0"
    fields = _var(scope, parts[0]).split(parts[1] or "-")
    return str(fields.index(parts[2]) + 1) if parts[2] in fields else "0"


@function("REGEX")
def _regex(scope: Scope, args: str) -> str:
    # REGEX("<regular expression>" <string>)
    m = re.match(r'\s*"(.*?)"\s?(.*)\Z', args, re.S)
    if not m:
        log.warning('REGEX: syntax is REGEX("<regex>" <string>), got %r', args)
        return "0"
    try:
        return "1" if re.search(m.group(1), m.group(2)) else "0"
    except re.error as e:
        log.warning("REGEX: bad regular expression %r: %s", m.group(1), e)
        return "0"


@function("FILTER")
def _filter(scope: Scope, args: str) -> str:
    allowed, _, string = args.partition(",")
    chars: set[str] = set()
    i = 0
    while i < len(allowed):  # ranges like 0-9
        if i + 2 < len(allowed) and allowed[i + 1] == "-":
            chars.update(chr(c) for c in range(ord(allowed[i]), ord(allowed[i + 2]) + 1))
            i += 3
        else:
            chars.add(allowed[i])
            i += 1
    return "".join(c for c in string if c in chars)


@function("REPLACE")
def _replace(scope: Scope, args: str) -> str:
    parts = split_args(args)
    value = _var(scope, parts[0])
    find = parts[1] if len(parts) > 1 else ""
    repl = parts[2][:1] if len(parts) > 2 else ""
    return "".join(repl if c in find else c for c in value)


@function("STRREPLACE")
def _strreplace(scope: Scope, args: str) -> str:
    parts = split_args(args)
    value = _var(scope, parts[0])
    find = parts[1] if len(parts) > 1 else ""
    if not find:
        return value
    repl = parts[2] if len(parts) > 2 else ""
    count = int(parts[3]) if len(parts) > 3 and parts[3].strip().isdigit() else -1
    return value.replace(find, repl, count)


@function("QUOTE")
def _quote(scope: Scope, args: str) -> str:
    return '"' + args.replace("\\", "\\\\").replace('"', '\\"') + '"'


@function("EVAL")
def _eval(scope: Scope, args: str) -> str:
    from dialplan.substitute import substitute

    return substitute(args, scope)
