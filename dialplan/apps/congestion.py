"""Congestion([timeout]): indicate congestion (503) and end the dialplan."""

from __future__ import annotations

from dialplan.apps import AppContext, register
from pbx import q850


@register("Congestion")
async def congestion(ctx: AppContext, args: list[str]) -> None:
    """The channel indicates congestion and waits to be hung up."""
    await ctx.channel.congestion()
    ctx.end(q850.CONGESTION)
