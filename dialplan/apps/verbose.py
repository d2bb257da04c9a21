"""Verbose([level,]message): log a message."""

from __future__ import annotations

import logging

from dialplan.apps import AppContext, register

log = logging.getLogger("dialplan.verbose")


@register("Verbose")
async def verbose(ctx: AppContext, args: list[str]) -> None:
    """Level 0-4 maps to INFO (0-2) and DEBUG (3-4)."""
    level_s, sep, msg = ctx.data.partition(",")
    if not sep or not level_s.strip().isdigit():
        level, msg = 0, ctx.data
    else:
        level = int(level_s)
    log.log(logging.INFO if level <= 2 else logging.DEBUG, "%s: %s", ctx.channel.name, msg)
