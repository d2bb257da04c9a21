"""Goto([[context,]exten,]priority): continue somewhere else (priority may be a label)."""

from __future__ import annotations

from dialplan.apps import AppContext, register
from dialplan.substitute import DialplanError


@register("Goto")
async def goto(ctx: AppContext, args: list[str]) -> None:
    """Jump to `[[context,]exten,]priority|label`."""
    if not args or not args[-1].strip():
        raise DialplanError("Goto requires an argument ([[context,]exten,]priority or label)")
    j = ctx.goto(args)
    ctx.note(f"Goto -> {j.context},{j.exten},{j.priority}")
