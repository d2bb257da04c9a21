"""Ringing(): indicate ringing (180)."""

from __future__ import annotations

from dialplan.apps import AppContext, register


@register("Ringing")
async def ringing(ctx: AppContext, args: list[str]) -> None:
    """Send 180 Ringing."""
    await ctx.channel.ringing()
