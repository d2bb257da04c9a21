"""SayNumber(number[,gender]): say a whole number with Asterisk's English prompts."""

from __future__ import annotations

import logging

from dialplan.apps import AppContext, register
from pbx import say

log = logging.getLogger(__name__)


@register("SayNumber")
async def saynumber(ctx: AppContext, args: list[str]) -> None:
    """A non-number logs a warning and says nothing (Asterisk's behaviour)."""
    text = (args[0] if args else "").strip()
    try:
        prompts = say.number(int(text))
    except ValueError:
        log.warning("%s: SayNumber: %r is not a number Asterisk can say", ctx.where(), text)
        return
    await ctx.channel.play(prompts)
