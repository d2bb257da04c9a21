"""GotoIfTime(times,weekdays,mdays,months[,timezone]?[labeliftrue][:labeliffalse])."""

from __future__ import annotations

from dialplan.apps import AppContext, register
from dialplan.apps.gotoif import branch
from dialplan.substitute import DialplanError
from dialplan.timespec import TimeSpec


@register("GotoIfTime")
async def gotoiftime(ctx: AppContext, args: list[str]) -> None:
    """Branch on the current time, e.g. `9:00-17:00,mon-fri,*,*?open:closed`."""
    spec, sep, rest = ctx.data.partition("?")
    if not sep:
        ctx.note("GotoIfTime: no '?' in the argument; continuing")
        return
    yes, _, no = rest.partition(":")
    try:
        timing = TimeSpec.parse(spec)
    except ValueError as e:
        raise DialplanError(f"GotoIfTime: {e}") from e
    truth = timing.matches(ctx.services.clock.time())
    branch(ctx, "GotoIfTime", spec, truth, yes if truth else no)
