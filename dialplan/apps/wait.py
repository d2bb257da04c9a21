"""Wait(seconds): pause (fractions allowed); ends early if the caller hangs up."""

from __future__ import annotations

from dialplan.apps import AppContext, register


def seconds(text: str, default: float = 0.0) -> float:
    """Parse a (possibly fractional) number of seconds, default when empty or bad."""
    try:
        return max(0.0, float(text)) if text.strip() else default
    except ValueError:
        return default


@register("Wait")
async def wait(ctx: AppContext, args: list[str]) -> None:
    """Sleep on the channel."""
    await ctx.channel.sleep(seconds(args[0] if args else ""))
