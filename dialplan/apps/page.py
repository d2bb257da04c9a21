"""Page(Technology/Resource[&Technology2/Resource2...][,options[,timeout]]).

Calls every device with auto-answer headers and plays the caller to all of
them, one way (`d`: both ways), through a conference room, as Asterisk's
app_page does (pbx/conference/paging.py has the options). The caller's call
ends with the page.
"""

from __future__ import annotations

from dialplan.apps import AppContext, register
from dialplan.apps.confbridge import conferences
from dialplan.apps.dial import parse_targets
from dialplan.substitute import DialplanError
from pbx import q850
from pbx.channel import AppError


@register("Page")
async def page(ctx: AppContext, args: list[str]) -> None:
    ch = ctx.channel
    ch.check_hangup()
    targets = parse_targets(args[0] if args else "")
    options = args[1].strip() if len(args) > 1 else ""
    timeout = 0.0
    if len(args) > 2 and args[2].strip():
        try:
            timeout = float(args[2])
        except ValueError as exc:
            raise DialplanError(f"Page: timeout {args[2]!r} is not a number") from exc
    pager = conferences(ctx).pager
    if pager is None:
        raise AppError("Page: no SIP calls here to page with")
    await pager.page(ch, targets, options, timeout)
    ctx.end(q850.NORMAL_CLEARING)  # Asterisk's Page returns -1: the caller is hung up
