"""CDR() and CDR_PROP() (func_cdr.c): read and annotate the call's record.

`${CDR(field[,options])}` reads a field of the record as it stands (options
`u`: epoch times and numeric codes, `f`: fractional duration and billsec);
`Set(CDR(userfield)=...)`, `accountcode`, `peeraccount`, `amaflags` and any
other name (a custom variable kept with the record) write it; the fields the
call itself fills (src, dst, start, duration, ...) are read-only.
`Set(CDR_PROP(disable)=1)` drops the record of this call.
"""

from __future__ import annotations

from dialplan.functions import function, writer
from dialplan.substitute import DialplanError, Scope, check_condition, split_args
from pbx.cdr import CdrError, field_value


def _parts(args: str, what: str) -> tuple[str, str]:
    parts = split_args(args)
    name = parts[0].strip()
    if not name:
        raise DialplanError(f"{what}: syntax is {what}(<name>[,<options>])")
    return name, parts[1].strip() if len(parts) > 1 else ""


@function("CDR")
def _cdr(scope: Scope, args: str) -> str:
    name, options = _parts(args, "CDR")
    ch = scope.channel
    if ch is None:
        return ""
    return field_value(ch, name, scope.services.clock.time(),
                       unparsed="u" in options, fractional="f" in options)


@writer("CDR")
def _cdr_w(scope: Scope, args: str, value: str) -> None:
    name, _ = _parts(args, "CDR")
    if scope.channel is None:
        return
    try:
        scope.channel.cdr.set(name, value)
    except CdrError as e:
        raise DialplanError(str(e)) from e


@writer("CDR_PROP")
def _cdr_prop_w(scope: Scope, args: str, value: str) -> None:
    prop = args.strip().lower()
    ch = scope.channel
    if prop == "disable":
        if ch is not None:
            ch.cdr.disabled = check_condition(value)
    elif prop != "party_a":  # party_a: one record per call here, always the caller's
        raise DialplanError(f"CDR_PROP: unknown property {args.strip()!r} "
                            "(disable, party_a)")
