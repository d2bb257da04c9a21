"""Return([value]): back to the priority after the last Gosub (GOSUB_RETVAL=value)."""

from __future__ import annotations

from dialplan.apps import AppContext, register
from dialplan.substitute import DialplanError, Frame, Scope


def pop_frame(scope: Scope) -> Frame | None:
    """Take the last Gosub frame off the stack and give the caller its variables
    back (ARGn, ARGC, LOCAL()s), as app_stack's gosub_release_frame; None when
    the stack is empty."""
    frames = scope.frames
    if not frames:
        return None
    frame = frames.pop()
    vars_ = scope.variables
    for name, old in frame.saved.items():
        if old is None:
            vars_.pop(name, None)
        else:
            vars_[name] = old
    return frame


@register("Return")
async def return_(ctx: AppContext, args: list[str]) -> None:
    """Pop the Gosub stack, restore the caller's locals, set GOSUB_RETVAL."""
    frame = pop_frame(ctx.scope)
    if frame is None:
        raise DialplanError("Return without Gosub: stack is empty")
    ctx.scope.variables["GOSUB_RETVAL"] = ctx.data
    ctx.jump(frame.context, frame.exten, frame.priority)
    ctx.note(f"Return -> {frame.context},{frame.exten},{frame.priority}")
