"""NoCDR(): no call detail record for this call (Asterisk's deprecated form of
Set(CDR_PROP(disable)=1))."""

from __future__ import annotations

from dialplan.apps import AppContext, register


@register("NoCDR")
async def nocdr(ctx: AppContext, args: list[str]) -> None:
    """Disable the record of the calling leg."""
    ctx.channel.cdr.disabled = True
