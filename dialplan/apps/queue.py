"""Queue(queuename[,options[,URL[,announceoverride[,timeout[,AGI[,gosub[,rule[,position]]]]]]]]).

The caller waits in a queues.conf queue (music, position and periodic
announcements) until a member answers, then talks to it (pbx.queue.service).
Options: `n` no retries (leave after one pass over the members), `c` continue in the
dialplan when the member hangs up (QUEUESTATUS=CONTINUE), `r` ring instead of music,
`m(class)` music class, `C` losers' phones are told "answered elsewhere"; the
others (t, T, h, H, k, K, x, X, i, I, d, R, F, b, B) are accepted. `announceoverride`
is played to the member (`a&b`), `timeout` is the longest the caller stays (checked
between ring attempts: a member ringing is cut off at that moment). QUEUE_PRIO,
QUEUE_MAX_PENALTY and QUEUE_MIN_PENALTY are read. AGI, gosub and rule are accepted
and not acted on.

Sets QUEUESTATUS (TIMEOUT, FULL, JOINEMPTY, LEAVEEMPTY, JOINUNAVAIL, LEAVEUNAVAIL,
CONTINUE; not set for an unknown queue, an answered call or a key), ABANDONED,
QUEUEWAIT, ANSWEREDTIME, DIALEDTIME (each also as _MS). As in Asterisk, the call
ends when the bridged member hangs up unless `c` is given.
"""

from __future__ import annotations

import logging

from dialplan import patterns
from dialplan.apps import AppContext, register
from dialplan.apps.dial import after_transfer
from dialplan.substitute import DialplanError
from pbx import q850

log = logging.getLogger(__name__)

INT_MAX = 2**31 - 1
MAX_FORWARDS = 20  # Asterisk's max_forwards (pbx.dial: each Local hop takes one)
_RESET = ("ANSWEREDTIME", "ANSWEREDTIME_MS", "DIALEDTIME", "DIALEDTIME_MS", "QUEUEWAIT",
          "QUEUEWAIT_MS", "ABANDONED")


def _int_var(ctx: AppContext, name: str, default: int) -> int:
    value = ctx.get_var(name).strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        log.warning("%s: ${%s}: invalid value (%s)", ctx.where(), name, value)
        return default


def _duration(ch_vars: dict[str, str], name: str, seconds: float) -> None:
    ch_vars[name] = str(int(seconds))
    ch_vars[f"{name}_MS"] = str(int(seconds * 1000))


@register("Queue")
async def queue(ctx: AppContext, args: list[str]) -> None:
    from pbx.queue.service import QueueCall, option_letters

    ch = ctx.channel
    for name in _RESET:
        ch.variables.pop(name, None)
    name = args[0].strip() if args else ""
    if not name:
        raise DialplanError("Queue requires an argument: queuename[,options[,URL[,"
                            "announceoverride[,timeout[,AGI[,gosub[,rule[,position]]]]]]]]")
    service = ctx.services.queues
    if service is None:
        log.warning("%s: Queue(%s): no queues are configured (queues.conf)", ctx.where(), name)
        ctx.note(f"Queue: no queue {name!r}: QUEUESTATUS not set")
        return
    if getattr(ch, "max_forwards", MAX_FORWARDS) <= 0:
        # app_queue: a Local member whose dialplan queues again, round and round, stops.
        log.warning("%s: channel '%s' cannot enter queue %s: max forwards exceeded",
                    ctx.where(), ch.name, name)
        ctx.note(f"Queue({name}): max forwards exceeded: hang up")
        ctx.end()
        return
    arg = [a.strip() for a in args] + [""] * 9
    options, url, announce_override, timeout_text, position_text = \
        arg[1], arg[2], arg[3], arg[4], arg[8]
    timeout = None
    if timeout_text:
        try:
            timeout = float(int(timeout_text))
        except ValueError:
            log.warning("%s: Queue timeout %r is not a number: no timeout", ctx.where(),
                        timeout_text)
    position = 0
    if position_text:
        try:
            position = max(0, int(position_text))
        except ValueError:
            log.warning("%s: Queue position %r is not a number", ctx.where(), position_text)
    scope = ctx.scope

    def key_match(context: str, digits: str) -> str:
        if ctx.exists(context, digits):
            return "exact"
        dp = scope.dialplan
        if dp is not None and patterns.find_can_match_more(dp, context, digits):
            return "more"
        return "none"

    call = QueueCall(queue=name, options=options, url=url,
                     member_announce=[p for p in announce_override.split("&") if p] or None,
                     timeout=timeout, prio=_int_var(ctx, "QUEUE_PRIO", 0),
                     max_penalty=_int_var(ctx, "QUEUE_MAX_PENALTY", INT_MAX),
                     min_penalty=_int_var(ctx, "QUEUE_MIN_PENALTY", INT_MAX),
                     position=position, key_match=key_match)
    outcome = await service.enter(ch, call)
    v = ch.variables
    v.update(outcome.variables)
    _duration(v, "QUEUEWAIT", outcome.wait)
    _duration(v, "DIALEDTIME", outcome.total)
    _duration(v, "ANSWEREDTIME", outcome.talk)
    if outcome.abandoned:
        v["ABANDONED"] = "TRUE"
    status = outcome.status
    if after_transfer(ctx, outcome.goto, outcome.transferred):
        return
    if outcome.answered:
        ch.check_hangup()
        if "c" in option_letters(options):
            status = "CONTINUE"
        else:
            ctx.end(q850.NORMAL_CLEARING)  # Asterisk: the call is over once the bridge ends
    if status is not None:
        v["QUEUESTATUS"] = status
    ctx.note(f"Queue({name}): " + (f"QUEUESTATUS={status}" if status else
                                   "answered" if outcome.answered else
                                   f"key {outcome.key}" if outcome.key else "no such queue"))
    if outcome.key and outcome.context:
        ctx.jump(outcome.context, outcome.key, 1)
