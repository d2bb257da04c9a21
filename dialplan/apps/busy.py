"""Busy([timeout]): indicate busy (486) and end the dialplan."""

from __future__ import annotations

from dialplan.apps import AppContext, register
from pbx import q850


@register("Busy")
async def busy(ctx: AppContext, args: list[str]) -> None:
    """The channel indicates busy and waits to be hung up."""
    await ctx.channel.busy()
    ctx.end(q850.USER_BUSY)
