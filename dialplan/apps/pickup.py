"""Pickup([exten[@context][&exten2[@context2]...]]) and PickupChan(channel[&channel2...][,p])
(app_directed_pickup.c).

- `Pickup()`: a ringing call of the caller's pickup groups (callgroup/pickupgroup).
- `Pickup(6001@internal)`: a ringing leg dialed from extension 6001 in
  context internal (the current context when none is given);
  `Pickup(10@PICKUPMARK)`: a leg whose PICKUPMARK variable is 10.
- `PickupChan(SIP/6001)`: a ringing leg of device SIP/6001 (PJSIP/ is the
  same device), a full channel name or a uniqueid; option `p`: names are
  prefixes. The sample dialplan's `**6001` uses it: it finds 6001 ringing
  however it was dialed (a forward, a ring group), as its busy lamp shows.

On success the caller is bridged to us and the dialplan ends when that call
does (Asterisk: "this channel is a zombie"); when nothing can be picked up
the dialplan goes on (a NOTICE is logged), as in Asterisk.
"""

from __future__ import annotations

import logging
from typing import Any

from dialplan.apps import AppContext, register
from pbx import q850
from pbx.channel import AppError

log = logging.getLogger(__name__)


def _service(ctx: AppContext) -> Any:
    svc = ctx.services.pickup
    if svc is None:
        raise AppError("call pickup is not available here (no running PBX)")
    return svc


async def _take(ctx: AppContext, svc: Any, target: Any) -> bool:
    if target is None or not await svc.pickup(ctx.channel, target):
        return False
    ctx.note(f"picked up {target.name}")
    await ctx.channel.hungup.wait()  # bridged to the caller until that call ends
    ctx.end(q850.NORMAL_CLEARING)
    return True


@register("Pickup")
async def pickup(ctx: AppContext, args: list[str]) -> None:
    svc = _service(ctx)
    ch = ctx.channel
    spec = ctx.data.strip()
    if not spec:
        if not await _take(ctx, svc, svc.by_group(ch)):
            log.info("%s: Pickup(): no ringing call in its pickup groups", ch.name)
            ctx.note("nothing to pick up in the pickup groups")
        return
    for item in spec.split("&"):
        exten, _, context = item.strip().partition("@")
        if not exten:
            continue
        if context.upper() == "PICKUPMARK":
            target = svc.by_mark(ch, exten)
        else:
            context = context or ch.context
            target = svc.by_exten(ch, exten, context)
        if await _take(ctx, svc, target):
            return
        log.info("No target channel found for %s@%s.", exten, context or "PICKUPMARK")
    ctx.note("nothing to pick up")


@register("PickupChan")
async def pickupchan(ctx: AppContext, args: list[str]) -> None:
    svc = _service(ctx)
    names = args[0] if args else ""
    partial = "p" in (args[1] if len(args) > 1 else "")
    for name in names.split("&"):
        if not name.strip():
            continue
        if await _take(ctx, svc, svc.by_channel(ctx.channel, name, partial=partial)):
            return
        log.info("No target channel found for %s.", name.strip())
    ctx.note("nothing to pick up")
