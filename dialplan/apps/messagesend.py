"""MessageSend(destination[,from]): send the channel's message (MESSAGE()) on.

`destination`: `pjsip:6002`, `sip:6002`, `SIP/6002`, `PJSIP/6002`,
`sip:6002@host` or `pjsip:6002/sip:6002@host` (a peer or endpoint of this
PBX; messages go to each of its registered contacts); `from` as
`"Name" <sip:6001@host>` (the message's From by default). Sets
MESSAGE_SEND_STATUS as Asterisk: SUCCESS (a phone took it), FAILURE (offline,
refused, no answer), INVALID_URI (no such peer), INVALID_PROTOCOL (not SIP).
On a message channel the status also decides what the sender is told
(pbx.messaging).
"""

from __future__ import annotations

import logging

from dialplan.apps import AppContext, register

log = logging.getLogger(__name__)


@register("MessageSend")
async def messagesend(ctx: AppContext, args: list[str]) -> None:
    ch = ctx.channel
    to = args[0].strip() if args else ""
    sender = args[1].strip() if len(args) > 1 else ""
    svc = ctx.services.messages
    if ch.message is None or not to or svc is None:
        why = ("no destination" if not to else "no message on this channel"
               if ch.message is None else "messaging is not available here")
        log.warning("%s: MessageSend(%s): %s", ch.name, to, why)
        ch.variables["MESSAGE_SEND_STATUS"] = "FAILURE"
        ctx.note(f"MessageSend: {why}")
        return
    outcome = await svc.send(to, sender, ch.message)
    ch.message.outcome = outcome
    ch.variables["MESSAGE_SEND_STATUS"] = outcome.status
    ctx.note(f"MessageSend to {to}: {outcome.status}")
