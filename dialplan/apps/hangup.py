"""Hangup([cause]): hang up with a Q.850 cause (number or name); sets HANGUPCAUSE."""

from __future__ import annotations

import logging

from dialplan.apps import AppContext, register
from pbx import q850

log = logging.getLogger(__name__)


def parse_cause(text: str) -> int:
    """A cause number from `17` or `USER_BUSY`; normal clearing when empty or unknown."""
    t = text.strip()
    if t.isdigit():
        return int(t) or q850.NORMAL_CLEARING
    if not t:
        return q850.NORMAL_CLEARING
    cause = q850.cause_from_name(t)
    if cause is None:
        log.warning("Hangup: invalid cause %r, using NORMAL_CLEARING", t)
        return q850.NORMAL_CLEARING
    return cause


@register("Hangup")
async def hangup(ctx: AppContext, args: list[str]) -> None:
    """End the dialplan and hang up."""
    cause = parse_cause(args[0] if args else "")
    ctx.channel.variables["HANGUPCAUSE"] = str(cause)
    await ctx.channel.hangup(cause)
    ctx.end(cause)
