"""WaitExten([seconds][,options]): wait for the caller to dial an extension."""

from __future__ import annotations

from dialplan.apps import AppContext, register
from dialplan.apps.wait import seconds
from dialplan.substitute import DialplanError


@register("WaitExten")
async def waitexten(ctx: AppContext, args: list[str]) -> None:
    """A digit starts an extension; on timeout continue if there is a next
    priority, else go to `t` (as Asterisk)."""
    ch = ctx.channel
    timeout = seconds(args[0] if args else "", ctx.scope.response_timeout)
    digit = await ch.wait_digit(timeout)
    if digit:
        ctx.note(f"WaitExten: caller pressed '{digit}'")
        ctx.dial_digits(digit)
        return
    ch.check_hangup()
    if ctx.exists(ch.context, ch.exten, ch.priority + 1):
        ctx.note("WaitExten: timeout, continuing")
        return
    if ctx.exists(ch.context, "t"):
        ctx.note("WaitExten: timeout -> t")
        ctx.jump(ch.context, "t", 1)
        return
    raise DialplanError(f"Timeout but no rule 't' in context '{ch.context}'")
