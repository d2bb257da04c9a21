"""SayDigits(digits): say each digit (and `*`, `#`, `-`), as ast_say_digit_str."""

from __future__ import annotations

from dialplan.apps import AppContext, register
from pbx import say


@register("SayDigits")
async def saydigits(ctx: AppContext, args: list[str]) -> None:
    """Play one prompt per digit; other characters are skipped."""
    prompts = say.digits(args[0] if args else "")
    if prompts:
        await ctx.channel.play(prompts)
