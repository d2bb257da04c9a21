"""Return([value]): back to the priority after the last Gosub (GOSUB_RETVAL=value)."""

from __future__ import annotations

from dialplan.apps import AppContext, register
from dialplan.substitute import DialplanError


@register("Return")
async def return_(ctx: AppContext, args: list[str]) -> None:
    """Pop the Gosub stack, restore the caller's locals, set GOSUB_RETVAL."""
    frames = ctx.scope.frames
    if not frames:
        raise DialplanError("Return without Gosub: stack is empty")
    frame = frames.pop()
    vars_ = ctx.scope.variables
    for name, old in frame.saved.items():
        if old is None:
            vars_.pop(name, None)
        else:
            vars_[name] = old
    vars_["GOSUB_RETVAL"] = ctx.data
    ctx.jump(frame.context, frame.exten, frame.priority)
    ctx.note(f"Return -> {frame.context},{frame.exten},{frame.priority}")
