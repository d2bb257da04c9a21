"""Set(name=value): set a channel variable, `_`/`__` inherited ones, or a function."""

from __future__ import annotations

import logging

from dialplan.apps import AppContext, register

log = logging.getLogger(__name__)


@register("Set")
async def set_(ctx: AppContext, args: list[str]) -> None:
    """Everything after the first '=' is the value, commas included (as Asterisk)."""
    name, sep, value = ctx.data.partition("=")
    if not sep or not name.strip():
        log.warning("%s: Set requires name=value, got %r", ctx.step and ctx.step.app_pos,
                    ctx.data)
        return
    ctx.set_var(name.strip(), value)
