"""SIPAddHeader(Header: value), SIPRemoveHeader([Header]) (chan_sip).

The header goes into the INVITEs of the following Dial() (pbx.added_headers):
it is kept, as chan_sip keeps it, in an inherited variable __SIPADDHEADER01,
02, ... (at most 50). SIPRemoveHeader() removes them all, or those whose text
starts with its argument (`P-` removes every P- header, `X-Foo:` only X-Foo).
A header the PBX sets itself (Via, From, To, Call-ID, CSeq, Contact, ...)
or a value with a line break is refused with a log line and not added.
"""

from __future__ import annotations

import logging

from dialplan.apps import AppContext, register
from pbx.added_headers import MAX_HEADERS, HeaderRefused, parse_sipaddheader, sipaddheader_vars

log = logging.getLogger(__name__)


@register("SIPAddHeader")
async def sipaddheader(ctx: AppContext, args: list[str]) -> None:
    """Store `Header: value` for the next Dial's INVITE."""
    text = ctx.data.strip()
    if not text:
        ctx.note("SIPAddHeader: no header given")
        return
    try:
        name, value = parse_sipaddheader(text)
    except HeaderRefused as exc:
        log.warning("%s: SIPAddHeader refused on %s: %s", ctx.where(), ctx.channel.name, exc)
        return
    variables = ctx.channel.variables
    used = {n for n, _, _ in sipaddheader_vars(variables)}
    free = next((n for n in range(1, MAX_HEADERS + 1) if n not in used), None)
    if free is None:
        log.warning("%s: SIPAddHeader: too many SIP headers added on %s, max %d",
                    ctx.where(), ctx.channel.name, MAX_HEADERS)
        return
    variables[f"__SIPADDHEADER{free:02d}"] = f"{name}: {value}"
    ctx.note(f"SIPAddHeader: {name}: {value}")


@register("SIPRemoveHeader")
async def sipremoveheader(ctx: AppContext, args: list[str]) -> None:
    """Forget the headers SIPAddHeader stored (all, or those starting with the argument)."""
    prefix = ctx.data.strip().lower()
    variables = ctx.channel.variables
    for _, var, text in sipaddheader_vars(variables):
        if not prefix or text.lower().startswith(prefix):
            del variables[var]
