"""Progress(): open early media (183)."""

from __future__ import annotations

from dialplan.apps import AppContext, register


@register("Progress")
async def progress(ctx: AppContext, args: list[str]) -> None:
    """Send 183 Session Progress."""
    await ctx.channel.progress()
