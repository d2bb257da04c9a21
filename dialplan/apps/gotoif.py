"""GotoIf(condition?[labeliftrue][:labeliffalse])."""

from __future__ import annotations

from dialplan.apps import AppContext, register, split_target
from dialplan.substitute import check_condition


def branch(ctx: AppContext, name: str, cond_text: str, truth: bool, target: str) -> None:
    """Jump to target (when it is not empty) and describe the decision."""
    word = "true" if truth else "false"
    target = target.strip()
    if not target:
        ctx.note(f"{name}: condition {word} -> continue")
        return
    parts = split_target(target)
    ch = ctx.channel
    # Show the destination as written, with the defaults filled in.
    full = [ch.context, ch.exten, *parts][-3:] if len(parts) < 3 else parts
    ctx.goto(parts)
    ctx.note(f"{name}: condition {word} -> {','.join(full)}")


@register("GotoIf")
async def gotoif(ctx: AppContext, args: list[str]) -> None:
    """Branch on an (already substituted) condition: empty or 0 is false."""
    cond, sep, rest = ctx.data.partition("?")
    yes, _, no = rest.partition(":")
    if not sep:
        ctx.note("GotoIf: no '?' in the argument; continuing")
        return
    truth = check_condition(cond)
    branch(ctx, "GotoIf", cond, truth, yes if truth else no)
