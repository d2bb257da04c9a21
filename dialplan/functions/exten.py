"""Dialplan lookups: DIALPLAN_EXISTS, VALID_EXTEN (func_dialplan.c)."""

from __future__ import annotations

from dialplan.functions import function
from dialplan.substitute import Scope, split_args


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
    prio = (priority or "1").strip()
    now = scope.services.clock.time()
    if prio.isdigit():
        found = patterns.find(dp, context, exten, cid, priority=int(prio), now=now)
    else:
        found = patterns.find(dp, context, exten, cid, label=prio, now=now)
    return found is not None


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
