"""Hangup([cause]): hang up with a Q.850 cause (number or name); sets HANGUPCAUSE."""

from __future__ import annotations

from dialplan.apps import AppContext, register

# The names Asterisk accepts most often in dialplans (ast_str2cause).
CAUSES = {
    "UNALLOCATED": 1, "NO_ROUTE_DESTINATION": 3, "NORMAL_CLEARING": 16, "USER_BUSY": 17,
    "NO_USER_RESPONSE": 18, "NO_ANSWER": 19, "CALL_REJECTED": 21, "NUMBER_CHANGED": 22,
    "INVALID_NUMBER_FORMAT": 28, "NORMAL_UNSPECIFIED": 31, "NORMAL_CIRCUIT_CONGESTION": 34,
    "CONGESTION": 34, "BUSY": 17, "FAILURE": 38, "NETWORK_OUT_OF_ORDER": 38,
}


def parse_cause(text: str) -> int:
    """A cause number from `17` or `USER_BUSY`; 16 when empty or unknown."""
    t = text.strip()
    if t.isdigit():
        return int(t) or 16
    return CAUSES.get(t.upper().removeprefix("AST_CAUSE_"), 16)


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
