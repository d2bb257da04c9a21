"""Queue functions (app_queue.c): QUEUE_MEMBER, QUEUE_WAITING_COUNT, QUEUE_MEMBER_COUNT,
QUEUE_EXISTS, QUEUE_MEMBER_LIST, QUEUE_MEMBER_PENALTY, QUEUE_GET_CHANNEL, QUEUE_VARIABLES.

- `QUEUE_MEMBER(queue,option[,interface])` reads `logged` (members not unavailable),
  `free` (not in use, not paused), `ready` (free and out of wrap-up), `count`, and a
  member's `penalty`, `paused`, `ringinuse`; `Set(QUEUE_MEMBER(queue,penalty,
  SIP/6001)=2)` writes those three (every queue of the interface when `queue` is empty).
- `QUEUE_WAITING_COUNT(queue)`: callers waiting; `QUEUE_MEMBER_COUNT(queue)`: the old
  name of QUEUE_MEMBER(queue,logged).
- `QUEUE_EXISTS(queue)` 1/0; `QUEUE_MEMBER_LIST(queue)` the interfaces, comma-separated;
  `QUEUE_MEMBER_PENALTY(queue,interface)` read/write; `QUEUE_GET_CHANNEL(queue[,pos])`
  the channel waiting at that position (1 by default);
  `QUEUE_VARIABLES(queue)` sets QUEUEMAX, QUEUESTRATEGY, QUEUECALLS, QUEUEHOLDTIME,
  QUEUECOMPLETED, QUEUEABANDONED, QUEUESRVLEVEL, QUEUESRVLEVELPERF on the channel.
"""

from __future__ import annotations

import logging
from typing import Any

from dialplan.functions import function, writer
from dialplan.substitute import DialplanError, Scope

log = logging.getLogger(__name__)


def _service(scope: Scope) -> Any:
    return scope.services.queues


def _args(text: str) -> list[str]:
    return [a.strip() for a in text.split(",")]


@function("QUEUE_MEMBER")
def _queue_member(scope: Scope, args: str) -> str:
    a = [*_args(args), "", ""]
    queue, option, interface = a[0], a[1].lower(), a[2]
    if not queue or not option:
        raise DialplanError("Missing required argument. QUEUE_MEMBER(<queuename>,<option>"
                            "[,<interface>])")
    service = _service(scope)
    q = service.queue(queue) if service is not None else None
    if q is None:
        log.warning("QUEUE_MEMBER: queue %s was not found", queue)
        return ""
    if option in ("logged", "free", "ready", "count"):
        return str(service.member_count(queue, option))
    if option in ("penalty", "paused", "ringinuse"):
        if not interface:
            raise DialplanError(f"QUEUE_MEMBER({queue},{option}) needs an interface")
        m = q.by_iface.get(interface)
        if m is None:
            return ""
        value = {"penalty": m.penalty, "paused": m.paused, "ringinuse": m.ringinuse}[option]
        return str(int(value))
    raise DialplanError(f"QUEUE_MEMBER: unknown option '{option}' (logged, free, ready, "
                        "count, penalty, paused, ringinuse)")


@writer("QUEUE_MEMBER")
def _queue_member_write(scope: Scope, args: str, value: str) -> None:
    a = [*_args(args), "", ""]
    queue, option, interface = a[0], a[1].lower(), a[2]
    if not option or not interface:
        raise DialplanError("Missing argument. QUEUE_MEMBER(<queuename>,<option>,<interface>)")
    service = _service(scope)
    if service is None:
        log.warning("QUEUE_MEMBER: no queues are configured")
        return
    try:
        number = int(value.strip())
    except ValueError as exc:
        raise DialplanError(f"QUEUE_MEMBER({option}): {value!r} is not a number") from exc
    if option == "penalty":
        found = service.set_penalty(queue, interface, number)
    elif option == "paused":
        found = service.set_paused(queue, interface, bool(number))
    elif option == "ringinuse":
        found = service.set_ringinuse(queue, interface, bool(number))
    else:
        raise DialplanError(f"QUEUE_MEMBER: option '{option}' cannot be written "
                            "(penalty, paused, ringinuse)")
    if not found:
        log.warning("QUEUE_MEMBER: no member %s in %s", interface, queue or "any queue")


@function("QUEUE_WAITING_COUNT")
def _waiting_count(scope: Scope, args: str) -> str:
    name = args.strip()
    if not name:
        raise DialplanError("QUEUE_WAITING_COUNT requires an argument: queuename")
    service = _service(scope)
    q = service.queue(name) if service is not None else None
    if q is None:
        log.warning("queue %s was not found", name)
        return "0"
    return str(len(q.callers))  # as Asterisk's q->count: until a caller is bridged


@function("QUEUE_MEMBER_COUNT")
def _member_count(scope: Scope, args: str) -> str:
    name = args.strip()
    service = _service(scope)
    if not name or service is None or service.queue(name) is None:
        log.warning("QUEUE_MEMBER_COUNT: queue %s was not found", name)
        return "0"
    return str(service.member_count(name, "logged"))


@function("QUEUE_EXISTS")
def _exists(scope: Scope, args: str) -> str:
    service = _service(scope)
    return "1" if service is not None and service.queue(args.strip()) is not None else "0"


@function("QUEUE_MEMBER_LIST")
def _member_list(scope: Scope, args: str) -> str:
    service = _service(scope)
    q = service.queue(args.strip()) if service is not None else None
    if q is None:
        log.warning("queue %s was not found", args.strip())
        return ""
    return ",".join(m.interface for m in q.members)


@function("QUEUE_MEMBER_PENALTY")
def _member_penalty(scope: Scope, args: str) -> str:
    a = [*_args(args), ""]
    return _queue_member(scope, f"{a[0]},penalty,{a[1]}")


@writer("QUEUE_MEMBER_PENALTY")
def _member_penalty_write(scope: Scope, args: str, value: str) -> None:
    a = [*_args(args), ""]
    _queue_member_write(scope, f"{a[0]},penalty,{a[1]}", value)


@function("QUEUE_GET_CHANNEL")
def _get_channel(scope: Scope, args: str) -> str:
    a = [*_args(args), ""]
    service = _service(scope)
    q = service.queue(a[0]) if service is not None else None
    if q is None:
        log.warning("queue %s was not found", a[0])
        return ""
    try:
        pos = int(a[1]) if a[1] else 1
    except ValueError as exc:
        raise DialplanError(f"QUEUE_GET_CHANNEL: position {a[1]!r} is not a number") from exc
    return q.callers[pos - 1].channel if 1 <= pos <= len(q.callers) else ""


@function("QUEUE_VARIABLES")
def _variables(scope: Scope, args: str) -> str:
    service = _service(scope)
    values = service.queue_variables(args.strip()) if service is not None else None
    if not values:  # unknown queue, or no setqueuevar=yes (as Asterisk: -1)
        return "-1"
    scope.variables.update(values)
    return "0"
