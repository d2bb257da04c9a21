"""Time functions: IFTIME, STRFTIME, STRPTIME (func_logic.c, func_strings.c).

The current time comes from the PBX's clock (scope.services.clock)."""

from __future__ import annotations

import datetime as _dt
import logging
import time

from dialplan.functions import function
from dialplan.substitute import DialplanError, Scope, split_args
from dialplan.timespec import TimeSpec, zone

log = logging.getLogger(__name__)


@function("IFTIME")
def _iftime(scope: Scope, args: str) -> str:
    if "?" not in args:
        log.warning("IFTIME: syntax is IFTIME(<timespec>?[<true>][:<false>]), got %r", args)
        return ""
    spec, rest = args.split("?", 1)
    parts = split_args(rest, ":")
    yes = parts[0].strip()
    no = parts[1].strip() if len(parts) > 1 else ""
    try:
        timing = TimeSpec.parse(spec)
    except ValueError as e:
        raise DialplanError(f"IFTIME: {e}") from e
    return yes if timing.matches(scope.services.clock.time()) else no


@function("STRFTIME")
def _strftime(scope: Scope, args: str) -> str:
    parts = split_args(args)
    epoch_s = parts[0].strip() if parts else ""
    tzname = parts[1] if len(parts) > 1 else ""
    fmt = ",".join(parts[2:]) if len(parts) > 2 and parts[2] else "%c"
    try:
        epoch = float(epoch_s) if epoch_s else scope.services.clock.time()
    except ValueError:
        epoch = scope.services.clock.time()
    tz = zone(tzname)
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
    tz = zone(parts[1])
    if tz is None:
        return str(int(time.mktime(naive.timetuple())))
    return str(int(naive.replace(tzinfo=tz).timestamp()))
