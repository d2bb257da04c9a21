"""Gosub([[context,]exten,]priority[(arg1[,...][,argN])]): call a subroutine."""

from __future__ import annotations

from dialplan.apps import AppContext, register, split_target
from dialplan.substitute import DialplanError, Frame, split_args


@register("Gosub")
async def gosub(ctx: AppContext, args: list[str]) -> None:
    """Push a return address, set ARG1..ARGn/ARGC as locals, and jump."""
    data = ctx.data.strip()
    sub_args: list[str] = []
    if "(" in data:
        paren = data.index("(")
        inner = data[paren + 1:]
        inner = inner[:inner.rindex(")")] if ")" in inner else inner
        sub_args = split_args(inner) if inner else []
        data = data[:paren]
    if not data:
        raise DialplanError("Gosub requires an argument: [[context,]exten,]priority[(args)]")
    ch = ctx.channel
    target = ctx.resolve(split_target(data))
    if not ctx.exists(target.context, target.exten, target.priority):
        raise DialplanError(
            f"Attempt to reach a non-existent destination for Gosub: "
            f"({target.context},{target.exten},{target.priority})")
    frame = Frame(ch.context, ch.exten, ch.priority + 1)
    vars_ = ctx.scope.variables
    prev_argc = int(vars_.get("ARGC", "0") or 0) if ctx.scope.frames else 0
    names = ["ARGC"] + [f"ARG{i}" for i in range(1, max(prev_argc, len(sub_args)) + 1)]
    for name in names:
        frame.saved[name] = vars_.get(name)
    ctx.scope.frames.append(frame)
    vars_["ARGC"] = str(len(sub_args))
    for i in range(1, len(names)):
        vars_[f"ARG{i}"] = sub_args[i - 1] if i <= len(sub_args) else ""
    ctx.jump(target.context, target.exten, target.priority)
    ctx.note(f"Gosub -> {target.context},{target.exten},{target.priority}"
             + (f" ({','.join(sub_args)})" if sub_args else ""))
