"""SayAlpha(string), SayPhonetic(string): spell a string, letter by letter or
in the NATO alphabet ("alpha bravo")."""

from __future__ import annotations

from dialplan.apps import AppContext, register
from pbx import say


@register("SayAlpha")
async def sayalpha(ctx: AppContext, args: list[str]) -> None:
    """letters/a, digits/1, letters/dot, ... one per character."""
    prompts = say.characters(ctx.data)
    if prompts:
        await ctx.channel.play(prompts)


@register("SayPhonetic")
async def sayphonetic(ctx: AppContext, args: list[str]) -> None:
    """phonetic/a_p ("alpha"), ... one per character."""
    prompts = say.phonetic(ctx.data)
    if prompts:
        await ctx.channel.play(prompts)
