"""Set(name=value): set a channel variable, `_`/`__` inherited ones, or a function.

`Set(FUNC(args)=value)` writes a function (CALLERID(num), CDR(userfield),
DB(family/key), ...). As in Asterisk, a write that fails (an unknown
function, a read-only one, a value the function refuses) is a warning that
names the step's file:line:col, and the dialplan goes on; `pbx check`
reports the unknown and read-only ones before they run.
"""

from __future__ import annotations

import logging

from dialplan.apps import AppContext, register
from dialplan.substitute import DialplanError

log = logging.getLogger(__name__)


@register("Set")
async def set_(ctx: AppContext, args: list[str]) -> None:
    """Everything after the first '=' is the value, commas included (as Asterisk)."""
    name, sep, value = ctx.data.partition("=")
    if not sep or not name.strip():
        log.warning("%s: Set requires name=value, got %r", ctx.where(), ctx.data)
        return
    try:
        ctx.set_var(name.strip(), value)
    except DialplanError as e:
        raw = ctx.step.args if ctx.step is not None else ""
        log.warning("%s: Set(%s=...): %s (channel %s goes on)",
                    ctx.where(len(raw) - len(raw.lstrip())), name.strip(), e.message,
                    ctx.channel.name)
        ctx.note(f"Set: {e.message}")
