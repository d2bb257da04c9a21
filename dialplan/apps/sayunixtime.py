"""SayUnixTime([unixtime][,timezone[,format[,options]]]): say a date and time.

The time defaults to now (the PBX's clock), the format to Asterisk's
`ABdY 'digits/at' IMp` ("Monday, March fourth, twenty twenty four at nine
oh five a.m."). DateTime() is the same application under its old name.
"""

from __future__ import annotations

import logging

from dialplan.apps import AppContext, register
from pbx import say

log = logging.getLogger(__name__)

DEFAULT_FORMAT = "ABdY 'digits/at' IMp"


@register("SayUnixTime")
@register("DateTime")
async def sayunixtime(ctx: AppContext, args: list[str]) -> None:
    """Say `unixtime` in `timezone` by `format` (see pbx.say.date_with_format)."""
    now = ctx.services.clock.time()
    when_s = args[0].strip() if args else ""
    try:
        when = float(when_s) if when_s else now
    except ValueError:
        log.warning("%s: SayUnixTime: %r is not a time (epoch seconds); saying now",
                    ctx.where(), when_s)
        when = now
    tz = args[1].strip() if len(args) > 1 else ""
    fmt = args[2] if len(args) > 2 and args[2].strip() else DEFAULT_FORMAT
    prompts = say.date_with_format(int(when), fmt, now=now, tz=tz)
    if prompts:
        await ctx.channel.play(prompts)
