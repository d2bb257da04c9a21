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
    text = args[0].strip() if args else ""
    known = ctx.channel.variables.get("HANGUPCAUSE", "")
    # Asterisk: without a cause, the channel's own (e.g. a failed Dial's callee's,
    # so a busy provider makes the caller hear 486), else normal clearing.
    cause = parse_cause(text if text or not known.isdigit() else known)
    ctx.channel.variables["HANGUPCAUSE"] = str(cause)
    await ctx.channel.hangup(cause)
    ctx.end(cause)
