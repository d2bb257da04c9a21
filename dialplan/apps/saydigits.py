"""SayDigits(digits): say each character (digits/N, digits/star, letters/x)."""

from __future__ import annotations

from dialplan.apps import AppContext, register

_NAMED = {"*": "digits/star", "#": "digits/pound", "-": "digits/minus", "+": "digits/plus",
          ".": "letters/dot", "@": "letters/at", "$": "letters/dollar", "=": "letters/equals",
          "/": "letters/slash", " ": "letters/space"}


def digit_prompts(text: str) -> list[str]:
    """Prompt names for each character, as Asterisk's ast_say_digit_str."""
    out: list[str] = []
    for c in text:
        if c.isdigit():
            out.append(f"digits/{c}")
        elif c in _NAMED:
            out.append(_NAMED[c])
        elif c.isalpha() and c.isascii():
            out.append(f"letters/{c.lower()}")
    return out


@register("SayDigits")
async def saydigits(ctx: AppContext, args: list[str]) -> None:
    """Play one prompt per character."""
    prompts = digit_prompts(args[0] if args else "")
    if prompts:
        await ctx.channel.play(prompts)
