"""Answer([delay]): answer the call, then wait `delay` milliseconds."""

from __future__ import annotations

from dialplan.apps import AppContext, register


@register("Answer")
async def answer(ctx: AppContext, args: list[str]) -> None:
    """Answer (SIP 200 OK) if not answered yet."""
    ctx.channel.check_hangup()
    await ctx.channel.answer()
    delay = args[0].strip() if args else ""
    if delay.isdigit() and int(delay) > 0:
        await ctx.channel.sleep(int(delay) / 1000)
