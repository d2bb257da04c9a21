"""StackPop(): drop the last Gosub return address without going back there (app_stack.c).

The subroutine's ARGn and LOCAL() variables are released as a Return would
release them; execution simply goes on at the next priority. An empty stack
is not an error (Asterisk logs it and goes on).
"""

from __future__ import annotations

from dialplan.apps import AppContext, register
from dialplan.apps.return_ import pop_frame


@register("StackPop")
async def stackpop(ctx: AppContext, args: list[str]) -> None:
    """Forget where the last Gosub would return to."""
    frame = pop_frame(ctx.scope)
    if frame is None:
        ctx.note("StackPop: the Gosub stack is empty")
        return
    ctx.note(f"StackPop: dropped the return to {frame.context},{frame.exten},{frame.priority}")
