"""WaitUntil(epoch): wait until a moment given in epoch seconds (app_waituntil.c).

Sets WAITUNTILSTATUS: OK (the moment came), PAST (it had already passed:
no wait), FAILURE (no number given), HANGUP (the caller hung up meanwhile).
The time is the dialplan clock's (services.clock), so a test can set it.
"""

from __future__ import annotations

import re

from dialplan.apps import AppContext, register
from pbx.channel import Hangup

# sscanf("%ld%lf"): a whole number, optionally followed by its fraction.
_EPOCH = re.compile(r"\s*([-+]?\d+)(\.\d*)?")


@register("WaitUntil")
async def waituntil(ctx: AppContext, args: list[str]) -> None:
    """Sleep on the channel until the epoch time in the argument."""
    ch = ctx.channel
    text = ctx.data.strip()
    m = _EPOCH.match(text)
    if m is None:
        ctx.note(f"WaitUntil: {text!r} is not an epoch time")
        ch.variables["WAITUNTILSTATUS"] = "FAILURE"
        return
    when = float(m.group(1) + (m.group(2) or ""))
    delay = when - ctx.services.clock.time()
    if delay < 0:
        ctx.note(f"WaitUntil: {text} has already passed")
        ch.variables["WAITUNTILSTATUS"] = "PAST"
        return
    try:
        await ch.sleep(delay)
    except Hangup:
        ch.variables["WAITUNTILSTATUS"] = "HANGUP"
        raise
    ch.variables["WAITUNTILSTATUS"] = "OK"
