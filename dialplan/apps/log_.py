"""Log(level,message): write to the log at ERROR/WARNING/NOTICE/DEBUG/VERBOSE/DTMF."""

from __future__ import annotations

import logging

from dialplan.apps import AppContext, register

logger = logging.getLogger("dialplan.log")

_LEVELS = {"ERROR": logging.ERROR, "WARNING": logging.WARNING, "NOTICE": logging.INFO,
           "VERBOSE": logging.INFO, "DEBUG": logging.DEBUG, "DTMF": logging.DEBUG}


@register("Log")
async def log_(ctx: AppContext, args: list[str]) -> None:
    """Unknown levels log at INFO."""
    level, _, msg = ctx.data.partition(",")
    logger.log(_LEVELS.get(level.strip().upper(), logging.INFO), "%s: %s", ctx.channel.name, msg)
