"""Queue members from the dialplan: AddQueueMember, RemoveQueueMember,
PauseQueueMember, UnpauseQueueMember, and QueueLog (app_queue.c).

- `AddQueueMember(queue[,interface[,penalty[,options[,membername[,stateinterface
  [,wrapuptime]]]]]])`: options `p` (paused), `r(reason)`; the interface defaults
  to the caller's own device (`SIP/6001` for channel `SIP/6001-0000002a`). Sets
  AQMSTATUS: ADDED, MEMBERALREADY, NOSUCHQUEUE.
- `RemoveQueueMember(queue[,interface])`: RQMSTATUS: REMOVED, NOTINQUEUE,
  NOSUCHQUEUE, NOTDYNAMIC (a queues.conf member stays).
- `PauseQueueMember([queue],interface[,options[,reason]])`, and Unpause: in every
  queue of the interface when `queue` is empty. PQMSTATUS / UPQMSTATUS: PAUSED /
  UNPAUSED or NOTFOUND.
- `QueueLog(queue,uniqueid,agent,event[,additionalinfo])`: a queue_log line of your own.

Dynamic members are kept in the AstDB with persistentmembers=yes ([general]).
"""

from __future__ import annotations

from dialplan.apps import AppContext, register
from dialplan.substitute import DialplanError


def _arg(args: list[str], i: int) -> str:
    return args[i].strip() if len(args) > i else ""


def own_interface(channel_name: str) -> str:
    """The device of a channel: `SIP/6001-0000002a` -> `SIP/6001` (Asterisk strips
    the part after the last '-')."""
    head, dash, _ = channel_name.rpartition("-")
    return head if dash and "/" in head else channel_name


@register("AddQueueMember")
async def add_queue_member(ctx: AppContext, args: list[str]) -> None:
    from pbx.queue.members import MemberSpec
    from pbx.queue.service import option_arg, option_letters

    queue = _arg(args, 0)
    if not queue:
        raise DialplanError("AddQueueMember requires an argument (queuename[,interface[,"
                            "penalty[,options[,membername[,stateinterface[,wrapuptime]]]]]])")
    interface = _arg(args, 1) or own_interface(ctx.channel.name)
    penalty = _number(_arg(args, 2), "penalty")
    options = _arg(args, 3)
    wrapuptime = _number(_arg(args, 6), "wrapuptime")
    spec = MemberSpec(interface=interface, penalty=max(0, penalty), name=_arg(args, 4),
                      state_interface=_arg(args, 5), wrapuptime=max(0, wrapuptime),
                      paused="p" in option_letters(options), reason=option_arg(options, "r"))
    service = ctx.services.queues
    status = "NOSUCHQUEUE" if service is None else \
        service.add_member(queue, spec, ctx.channel.uniqueid)
    ctx.set_var("AQMSTATUS", status)
    ctx.note(f"AddQueueMember: {interface} to {queue}: {status}")


@register("RemoveQueueMember")
async def remove_queue_member(ctx: AppContext, args: list[str]) -> None:
    queue = _arg(args, 0)
    if not queue:
        raise DialplanError("RemoveQueueMember requires an argument (queuename[,interface])")
    interface = _arg(args, 1) or own_interface(ctx.channel.name)
    service = ctx.services.queues
    status = "NOSUCHQUEUE" if service is None else \
        service.remove_member(queue, interface, ctx.channel.uniqueid)
    ctx.set_var("RQMSTATUS", status)
    ctx.note(f"RemoveQueueMember: {interface} from {queue}: {status}")


async def _pause(ctx: AppContext, args: list[str], paused: bool) -> None:
    app = "PauseQueueMember" if paused else "UnpauseQueueMember"
    queue, interface, reason = _arg(args, 0), _arg(args, 1), _arg(args, 3)
    if not interface:
        raise DialplanError(f"{app} requires an interface ([queuename],interface[,options"
                            "[,reason]])")
    service = ctx.services.queues
    found = 0 if service is None else service.set_paused(queue, interface, paused, reason)
    status = ("PAUSED" if paused else "UNPAUSED") if found else "NOTFOUND"
    ctx.set_var("PQMSTATUS" if paused else "UPQMSTATUS", status)
    ctx.note(f"{app}: {interface} in {queue or 'every queue'}: {status}")


@register("PauseQueueMember")
async def pause_queue_member(ctx: AppContext, args: list[str]) -> None:
    await _pause(ctx, args, True)


@register("UnpauseQueueMember")
async def unpause_queue_member(ctx: AppContext, args: list[str]) -> None:
    await _pause(ctx, args, False)


@register("QueueLog")
async def queue_log(ctx: AppContext, args: list[str]) -> None:
    from pbx.queue.qlog import QueueLogRecord, clean

    queue, uniqueid, agent, event = (_arg(args, i) for i in range(4))
    if not (queue and uniqueid and agent and event):
        raise DialplanError("QueueLog requires arguments (queuename,uniqueid,agent,event"
                            "[,additionalinfo])")
    info = ",".join(args[4:]) if len(args) > 4 else ""
    service = ctx.services.queues
    if service is not None:
        service.log_event(QueueLogRecord(clean(queue), clean(uniqueid), clean(agent),
                                         clean(event), (info.replace("\n", " "),)))
    ctx.note(f"QueueLog: {queue}|{uniqueid}|{agent}|{event}|{info}")


def _number(text: str, what: str) -> int:
    if not text:
        return 0
    try:
        return int(text)
    except ValueError as exc:
        raise DialplanError(f"{what} {text!r} is not a number") from exc
