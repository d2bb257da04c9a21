"""Dialplan functions: `${LEN(x)}`, `${CUT(var,-,2)}`, `Set(TIMEOUT(digit)=3)`, ...

Each function has a reader `(scope, args) -> str` and optionally a writer
`(scope, args, value)`; `args` is the text between the parentheses, already
substituted, and each function splits it as Asterisk's does. Names are
matched case-insensitively. An unknown function raises DialplanError (the
issue wants a clear error, not Asterisk's silent empty string).
"""

from __future__ import annotations

import datetime as _dt
import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dialplan.expressions import evaluate
from dialplan.substitute import (
    DialplanError,
    Scope,
    check_condition,
    get_variable,
    set_variable,
    split_args,
)

log = logging.getLogger(__name__)

Reader = Callable[[Scope, str], str]
Writer = Callable[[Scope, str, str], None]


@dataclass(frozen=True, slots=True)
class Function:
    name: str
    read: Reader | None
    write: Writer | None


FUNCTIONS: dict[str, Function] = {}


def function(name: str, *, write: Writer | None = None) -> Callable[[Reader], Reader]:
    """Register a reader (and an optional writer) under a function name."""
    def deco(fn: Reader) -> Reader:
        FUNCTIONS[name.upper()] = Function(name.upper(), fn, write)
        return fn
    return deco


def writer(name: str) -> Callable[[Writer], Writer]:
    """Attach a writer to an already registered function."""
    def deco(fn: Writer) -> Writer:
        f = FUNCTIONS.get(name.upper())
        FUNCTIONS[name.upper()] = Function(name.upper(), f.read if f else None, fn)
        return fn
    return deco


def known_functions() -> set[str]:
    """Names of every dialplan function (upper case), for `pbx check`."""
    return set(FUNCTIONS)


def read_function(scope: Scope, name: str, args: str) -> str:
    """Call a function for reading; raises DialplanError when it is unknown."""
    f = FUNCTIONS.get(name.upper())
    if f is None:
        raise DialplanError(f"Unknown function: {name}")
    if f.read is None:
        raise DialplanError(f"Function {name} cannot be read")
    return f.read(scope, args)


def write_function(scope: Scope, name: str, args: str, value: str) -> None:
    """Call a function for writing (`Set(FUNC(args)=value)`)."""
    f = FUNCTIONS.get(name.upper())
    if f is None:
        raise DialplanError(f"Unknown function: {name}")
    if f.write is None:
        raise DialplanError(f"Function {name} is read-only")
    f.write(scope, args, value)


def _var(scope: Scope, name: str) -> str:
    v = get_variable(scope, name.strip())
    return "" if v is None else v


# --- strings ----------------------------------------------------------------


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


@function("IFTIME")
def _iftime(scope: Scope, args: str) -> str:
    if "?" not in args:
        log.warning("IFTIME: syntax is IFTIME(<timespec>?[<true>][:<false>]), got %r", args)
        return ""
    spec, rest = args.split("?", 1)
    parts = split_args(rest, ":")
    yes = parts[0].strip()
    no = parts[1].strip() if len(parts) > 1 else ""
    return yes if TimeSpec.parse(spec).matches() else no


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


# --- numbers -------------------------------------------------------------------


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


# --- time -----------------------------------------------------------------------


def _tz(name: str) -> _dt.tzinfo | None:
    name = name.strip()
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("unknown time zone %r, using local time", name)
        return None


@function("STRFTIME")
def _strftime(scope: Scope, args: str) -> str:
    parts = split_args(args)
    epoch_s = parts[0].strip() if parts else ""
    tzname = parts[1] if len(parts) > 1 else ""
    fmt = ",".join(parts[2:]) if len(parts) > 2 and parts[2] else "%c"
    try:
        epoch = float(epoch_s) if epoch_s else time.time()
    except ValueError:
        epoch = time.time()
    tz = _tz(tzname)
    when = (_dt.datetime.fromtimestamp(epoch, tz) if tz is not None
            else _dt.datetime.fromtimestamp(epoch).astimezone())
    return when.strftime(fmt)


@function("STRPTIME")
def _strptime(scope: Scope, args: str) -> str:
    parts = split_args(args)
    if len(parts) < 3:
        raise DialplanError("STRPTIME: syntax is STRPTIME(<datetime>,<timezone>,<format>)")
    try:
        naive = _dt.datetime.strptime(parts[0], parts[2])
    except ValueError:
        log.warning("STRPTIME: %r does not match %r", parts[0], parts[2])
        return ""
    tz = _tz(parts[1])
    if tz is None:
        return str(int(time.mktime(naive.timetuple())))
    return str(int(naive.replace(tzinfo=tz).timestamp()))


_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]


def _ranges(field: str, names: list[str] | None, lo: int, hi: int) -> set[int] | None:
    """Values selected by a time-spec field (`mon-fri`, `1-15&20`); None means all."""
    field = field.strip().lower()
    if field in ("", "*"):
        return None
    out: set[int] = set()

    def val(s: str) -> int:
        s = s.strip()
        if names is not None and s[:3] in names:
            return names.index(s[:3]) + lo
        if not s.isdigit():
            raise DialplanError(f"bad time specification field {field!r}")
        return int(s)

    for part in field.split("&"):
        if "-" in part:
            a_s, b_s = part.split("-", 1)
            a, b = val(a_s), val(b_s)
            if a <= b:
                out.update(range(a, b + 1))
            else:  # wraps around (fri-mon, dec-feb)
                out.update(range(a, hi + 1))
                out.update(range(lo, b + 1))
        else:
            out.add(val(part))
    return out


def _minute(s: str) -> int:
    h, _, m = s.strip().partition(":")
    if not h.isdigit() or (m and not m.isdigit()):
        raise DialplanError(f"bad time {s!r}")
    return int(h) * 60 + (int(m) if m else 0)


@dataclass(frozen=True, slots=True)
class TimeSpec:
    """Asterisk's `times,weekdays,mdays,months[,timezone]` (used by GotoIfTime, IFTIME)."""

    minutes: frozenset[int] | None
    weekdays: frozenset[int] | None  # 0 = Sunday
    mdays: frozenset[int] | None
    months: frozenset[int] | None  # 1 = January
    tz: str = ""

    @classmethod
    def parse(cls, text: str) -> TimeSpec:
        """Parse `9:00-17:00,mon-fri,*,*` (also the old `|` separators)."""
        sep = "," if "," in text else "|"
        parts = [p.strip() for p in text.split(sep)]
        parts += ["*"] * (4 - len(parts))
        minutes: set[int] | None = None
        if parts[0] not in ("", "*"):
            minutes = set()
            for rng in parts[0].split("&"):
                if "-" in rng:
                    a_s, b_s = rng.split("-", 1)
                    a, b = _minute(a_s), _minute(b_s)
                else:
                    a = b = _minute(rng)
                # The end minute is included, as in Asterisk (9:00-17:00 matches 17:00).
                if a <= b:
                    minutes.update(range(a, b + 1))
                else:
                    minutes.update(range(a, 24 * 60))
                    minutes.update(range(0, b + 1))
        wd = _ranges(parts[1], _DAYS, 0, 6)
        md = _ranges(parts[2], None, 1, 31)
        mo = _ranges(parts[3], _MONTHS, 1, 12)

        def fz(s: set[int] | None) -> frozenset[int] | None:
            return None if s is None else frozenset(s)

        return cls(fz(minutes), fz(wd), fz(md), fz(mo), parts[4] if len(parts) > 4 else "")

    def matches(self, when: float | None = None) -> bool:
        """Whether the epoch time (default now) falls in the spec."""
        epoch = time.time() if when is None else when
        tz = _tz(self.tz)
        t = (_dt.datetime.fromtimestamp(epoch, tz) if tz is not None
             else _dt.datetime.fromtimestamp(epoch))
        if self.months is not None and t.month not in self.months:
            return False
        if self.mdays is not None and t.day not in self.mdays:
            return False
        # Python: Monday=0; Asterisk names start at Sunday.
        if self.weekdays is not None and (t.weekday() + 1) % 7 not in self.weekdays:
            return False
        return self.minutes is None or t.hour * 60 + t.minute in self.minutes


# --- channel and variables -----------------------------------------------------


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


def format_callerid(name: str, num: str) -> str:
    """`"Name" <num>` as Asterisk's CALLERID(all)."""
    if name and num:
        return f'"{name}" <{num}>'
    if name:
        return f'"{name}"'
    return f"<{num}>" if num else ""


def parse_callerid(text: str) -> tuple[str, str]:
    """Split `"Name" <num>` (or a bare number/name) into (name, num)."""
    text = text.strip()
    m = re.match(r'\s*(?:"(.*?)"|([^<]*?))\s*<([^>]*)>', text)
    if m:
        return (m.group(1) if m.group(1) is not None else (m.group(2) or "").strip()), m.group(3)
    if re.fullmatch(r"[+\d*#]+", text):
        return "", text
    return text.strip('"'), ""


@function("CALLERID")
def _callerid(scope: Scope, args: str) -> str:
    ch = scope.channel
    if ch is None:
        return ""
    item = split_args(args)[0].strip().lower()
    if item in ("num", "number", "ani", "dnid", "rdnis"):
        return ch.callerid.num
    if item == "name":
        return ch.callerid.name
    if item == "all":
        return format_callerid(ch.callerid.name, ch.callerid.num)
    raise DialplanError(f"CALLERID: unknown data type {item!r}")


@writer("CALLERID")
def _callerid_w(scope: Scope, args: str, value: str) -> None:
    ch = scope.channel
    if ch is None:
        return
    item = split_args(args)[0].strip().lower()
    if item in ("num", "number", "ani"):
        ch.callerid.num = value
    elif item == "name":
        ch.callerid.name = value
    elif item == "all":
        ch.callerid.name, ch.callerid.num = parse_callerid(value)
    else:
        raise DialplanError(f"CALLERID: unknown data type {item!r}")


@function("CHANNEL")
def _channel(scope: Scope, args: str) -> str:
    ch = scope.channel
    if ch is None:
        return ""
    item = args.strip().lower()
    values = {"name": ch.name, "language": ch.language, "state": ch.state.value,
              "uniqueid": ch.uniqueid, "context": ch.context, "exten": ch.exten,
              "callid": ch.uniqueid}
    if item not in values:
        raise DialplanError(f"CHANNEL: unknown item {item!r}")
    return values[item]


@function("TIMEOUT")
def _timeout(scope: Scope, args: str) -> str:
    kind = args.strip().lower()
    if kind.startswith("d"):
        return f"{scope.digit_timeout:.3f}"
    if kind.startswith("r"):
        return f"{scope.response_timeout:.3f}"
    if kind.startswith("a"):
        if scope.absolute_deadline is None:
            return "0"
        return f"{max(0.0, scope.absolute_deadline - time.monotonic()):.3f}"
    raise DialplanError(f"TIMEOUT: unknown timeout type {args!r} (digit, response, absolute)")


@writer("TIMEOUT")
def _timeout_w(scope: Scope, args: str, value: str) -> None:
    kind = args.strip().lower()
    try:
        seconds = float(value) if value.strip() else 0.0
    except ValueError as e:
        raise DialplanError(f"TIMEOUT: {value!r} is not a number of seconds") from e
    seconds = max(0.0, seconds)
    if kind.startswith("d"):
        scope.digit_timeout = seconds
    elif kind.startswith("r"):
        scope.response_timeout = seconds
    elif kind.startswith("a"):
        # 0 cancels; otherwise the call goes to `T` (or hangs up) when it passes.
        scope.absolute_deadline = time.monotonic() + seconds if seconds > 0 else None
    else:
        raise DialplanError(f"TIMEOUT: unknown timeout type {args!r} (digit, response, absolute)")


def _exists_in_dialplan(scope: Scope, context: str, exten: str | None,
                        priority: str | None) -> bool:
    dp = scope.dialplan
    if dp is None:
        return False
    if context not in dp.contexts:
        return False
    if exten is None:
        return True
    from dialplan import patterns

    cid = scope.channel.callerid.num if scope.channel is not None else None
    found = patterns.find(dp, context, exten, cid)
    if found is None:
        return False
    ext = found[1]
    prio = (priority or "1").strip()
    if prio.isdigit():
        return int(prio) in ext.steps
    return prio in ext.labels


@function("DIALPLAN_EXISTS")
def _dialplan_exists(scope: Scope, args: str) -> str:
    parts = [p.strip() for p in split_args(args)]
    context = parts[0]
    exten = parts[1] if len(parts) > 1 and parts[1] else None
    prio = parts[2] if len(parts) > 2 and parts[2] else None
    return "1" if _exists_in_dialplan(scope, context, exten, prio) else "0"


@function("VALID_EXTEN")
def _valid_exten(scope: Scope, args: str) -> str:
    parts = [p.strip() for p in split_args(args)]
    ch = scope.channel
    context = parts[0] if parts and parts[0] else (ch.context if ch else "")
    exten = parts[1] if len(parts) > 1 else ""
    prio = parts[2] if len(parts) > 2 and parts[2] else None
    if not exten:
        return "0"
    return "1" if _exists_in_dialplan(scope, context, exten, prio) else "0"
