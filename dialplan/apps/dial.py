"""Dial(SIP/peer[&SIP/peer2...][,timeout[,options]]): ring, bridge, DIALSTATUS.

Targets: `SIP/peer`, `SIP/peer/EXTEN` and `SIP/EXTEN@peer` (a number at a
static host= peer); `PJSIP/` is an alias; `Local/exten@context[/n]` runs the
dialplan there as a new channel (pbx.local_channel). Options (Asterisk's
syntax, dialplan.options): r (ring indication now), m[(class)] (music on hold
instead of ringback), g (go on in the dialplan when the callee hangs up), t/T
(the callee/caller may transfer with features.conf's blindxfer and atxfer
codes), k/K (parkcall), x/X (automixmon), h/H (disconnect); others accepted. A
transfer by the callee sends the caller on to the transfer's target extension;
after one by the caller, its call ends.
"""

from __future__ import annotations

from dialplan.apps import AppContext, register
from dialplan.options import parse_options
from dialplan.substitute import DialplanError
from pbx import q850
from pbx.channel import DialTarget


def after_transfer(ctx: AppContext, goto: tuple[str, str, int] | None,
                   transferred: bool) -> bool:
    """Where a bridge left by a transfer sends the caller's dialplan (Dial's and
    Queue's): True when it does not go on after the application."""
    if goto is not None:  # the callee transferred the caller: go where it was sent
        ctx.jump(*goto)
        return True
    if transferred:  # the caller transferred the call: its part is over
        ctx.end(q850.NORMAL_CLEARING)
        return True
    return False


def parse_targets(text: str) -> list[DialTarget]:
    """`SIP/a&PJSIP/b/123&SIP/456@trunk` -> DialTargets."""
    targets = []
    for part in text.split("&"):
        part = part.strip()
        if not part:
            continue
        if "/" not in part:
            raise DialplanError(f"Dial: {part!r} is not TECH/resource (e.g. SIP/6001)")
        tech, rest = part.split("/", 1)
        if tech.upper() == "LOCAL":
            from pbx.local_channel import local_target, parse_local

            targets.append(local_target(parse_local(rest)))
            continue
        exten = None
        if "/" in rest:
            rest, exten = rest.split("/", 1)
        elif "@" in rest:
            exten, rest = rest.split("@", 1)
        targets.append(DialTarget(tech=tech.upper(), peer=rest, exten=exten or None))
    return targets


@register("Dial")
async def dial(ctx: AppContext, args: list[str]) -> None:
    """Sets DIALSTATUS, DIALEDTIME, ANSWEREDTIME, DIALEDPEERNUMBER."""
    ch = ctx.channel
    targets = parse_targets(args[0] if args else "")
    timeout = None
    if len(args) > 1 and args[1].strip():
        try:
            timeout = float(args[1])
        except ValueError as exc:
            raise DialplanError(f"Dial: timeout {args[1]!r} is not a number") from exc
        timeout = timeout if timeout > 0 else None
    options = args[2] if len(args) > 2 else ""
    result = await ch.dial(targets, timeout, options)
    ch.variables["DIALSTATUS"] = result.status
    ch.variables["DIALEDTIME"] = str(result.dialed_time)
    ch.variables["ANSWEREDTIME"] = str(result.answered_time)
    ch.variables["DIALEDPEERNUMBER"] = result.peer_number
    if result.peer_channel:
        ch.variables["DIALEDPEERNAME"] = result.peer_channel
    if after_transfer(ctx, result.goto, result.transferred):
        return
    ch.check_hangup()
    if result.status == "ANSWER" and result.callee_hungup and "g" not in parse_options(options):
        ctx.end(q850.NORMAL_CLEARING)  # Asterisk: the call is over once the bridge ends
