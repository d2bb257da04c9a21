"""Echo(): send the caller's audio back until '#' or hangup."""

from __future__ import annotations

from dialplan.apps import AppContext, register


@register("Echo")
async def echo(ctx: AppContext, args: list[str]) -> None:
    """Echo test."""
    await ctx.channel.echo()
