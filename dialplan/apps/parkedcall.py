"""ParkedCall([lot[,space]]): take a parked call back (dialing a space does this).

As res_parking's ParkedCall(): the call is answered and joined with the call
parked at ``space`` of ``lot`` (default ``default``; without a space, the call
parked longest... here the lowest occupied space). An empty space plays
``pbx-invalidpark`` and hangs up. The lot's ``courtesytone`` is played first
to the retriever when ``parkedplay`` is caller or both.
"""

from __future__ import annotations

from dialplan.apps import AppContext, register
from pbx import q850
from pbx.channel import AppError, Hangup


@register("ParkedCall")
async def parkedcall(ctx: AppContext, args: list[str]) -> None:
    parking = ctx.services.parking
    if parking is None:
        raise AppError("parking is not available in this PBX")
    ch = ctx.channel
    name = (args[0].strip() if args else "") or "default"
    space_text = args[1].strip() if len(args) > 1 else ""
    lot = parking.lot(name)
    if lot is None:
        raise AppError(f"ParkedCall: no parking lot '{name}' (res_parking.conf)")
    if space_text and not space_text.isdigit():
        raise AppError(f"ParkedCall: space '{space_text}' is not a number")
    space = int(space_text) if space_text else lot.first()
    call = lot.calls.get(space) if space is not None else None
    await ch.answer()
    if call is None:
        ctx.note(f"nothing parked at {space_text or name}")
        await ch.play(["pbx-invalidpark"])
        ctx.end(q850.NORMAL_CLEARING)
        return
    cfg = lot.cfg
    if cfg.courtesytone and cfg.parkedplay in ("caller", "both"):
        await ch.play([cfg.courtesytone])
    ctx.note(f"retrieving {call.leg.name} from {name} space {call.space}")
    ch.dst_channel = call.leg
    exit_ = await parking.retrieve(call, ch)
    if exit_.kind == "goto":
        ctx.jump(exit_.context, exit_.exten, exit_.priority)
        return
    ch.check_hangup()
    if exit_.kind == "hangup":
        raise Hangup(ch.name)
    ctx.end(q850.NORMAL_CLEARING)
