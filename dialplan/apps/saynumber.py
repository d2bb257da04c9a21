"""SayNumber(number[,gender]): say a whole number with Asterisk's English prompts."""

from __future__ import annotations

import logging

from dialplan.apps import AppContext, register

log = logging.getLogger(__name__)


def number_prompts(num: int) -> list[str]:
    """Prompts for num, as ast_say_number_full_en (digits/N, hundred, thousand, ...)."""
    if num == 0:
        return ["digits/0"]
    out: list[str] = []
    if num < 0:
        out.append("digits/minus")
        num = -num
    for size, word in ((10**9, "digits/billion"), (10**6, "digits/million"),
                       (1000, "digits/thousand")):
        if num >= size:
            out += number_prompts(num // size)
            out.append(word)
            num %= size
    if num >= 100:
        out += [f"digits/{num // 100}", "digits/hundred"]
        num %= 100
    if num >= 20:
        out.append(f"digits/{num - num % 10}")
        num %= 10
    if num:
        out.append(f"digits/{num}")
    return out


@register("SayNumber")
async def saynumber(ctx: AppContext, args: list[str]) -> None:
    """A non-number logs a warning and says nothing (Asterisk's behaviour)."""
    text = (args[0] if args else "").strip()
    try:
        num = int(text)
    except ValueError:
        log.warning("SayNumber: %r is not a number", text)
        return
    await ctx.channel.play(number_prompts(num))
