"""NoOp(text): do nothing (the text shows in traces)."""

from __future__ import annotations

from dialplan.apps import AppContext, register


@register("NoOp")
async def noop(ctx: AppContext, args: list[str]) -> None:
    """Nothing."""
