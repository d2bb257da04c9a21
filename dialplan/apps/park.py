"""Park([lot[,options]]): park this call in a space of a lot (res_parking.conf).

As res_parking's Park(): the call is answered and put in the first free space
(``findslot``); whoever parked it hears the space number: the transferer when
the call came here by a blind transfer (BLINDTRANSFER names it), else the call
itself (option ``s``: silence). It then waits with music on hold until
ParkedCall() (dialing the space) takes it, it hangs up, or ``parkingtime``
passes. Then, with ``comebacktoorigin=yes`` the parker's phone rings
(``park-dial,SIP_6001,1`` when the dialplan has it, else a Dial of the parker
for ``comebackdialtime`` seconds); with ``no`` the call goes to
``comebackcontext`` at the parker's flattened name (``SIP_6001``), its ``s``
extension, or ``default,s,1``. PARKINGSLOT, PARKEDLOT, PARKING_SPACE, PARKER
and COMEBACKDIALTIME are set as in Asterisk.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING

from dialplan.apps import AppContext, register
from dialplan.options import parse_options
from pbx import q850, say
from pbx.channel import AppError, Channel, ChannelState, Hangup

if TYPE_CHECKING:
    from pbx.parking import ParkedCall
    from pbx.parking_conf import ParkingLotConfig

ANNOUNCE_DRAIN = 0.5  # seconds after the space is said to a transferer, before it is released


def dial_string(channel: Channel) -> str:
    """`SIP/6001` for a channel of peer 6001 ("" when it has no peer)."""
    peer = getattr(channel, "peer", None)
    return f"SIP/{peer.name}" if peer is not None else ""


def flat_name(channel_name: str) -> str:
    """res_parking's flattened parker name: `SIP/6001-0000000a` -> `SIP_6001`."""
    return re.sub(r"-[0-9a-f]{8}$", "", channel_name).replace("/", "_")


@register("Park")
async def park(ctx: AppContext, args: list[str]) -> None:
    parking = ctx.services.parking
    if parking is None:
        raise AppError("parking is not available in this PBX")
    ch = ctx.channel
    name = (args[0].strip() if args else "") or ch.variables.get("PARKINGLOT", "") or "default"
    options = parse_options(args[1]) if len(args) > 1 else {}
    lot = parking.lot(name)
    if lot is None:
        raise AppError(f"Park: no parking lot '{name}' (res_parking.conf)")
    transferer = parking.channel(ch.variables.get("BLINDTRANSFER", ""))
    if transferer is not None and transferer.state is ChannelState.HUNGUP:
        transferer = None
    parker = transferer or ch
    await ch.answer()
    call = lot.park(ch, parker.name, dial_string(parker))
    if call is None:
        ctx.note(f"lot {name} is full")
        await _tell(parker, ["pbx-parkingfailed"])
        ctx.end(q850.NORMAL_CLEARING)
        return
    space = call.space
    ctx.note(f"parked in {name} at {space}")
    ch.variables.update(PARKINGSLOT=str(space), PARKEDLOT=lot.name)
    announce = say.digits(str(space))
    if transferer is not None:
        await _tell(transferer, announce)  # the transferer hears where the call went
        # Its phone hangs up as soon as the transfer is reported done: give its jitter
        # buffer time to play the last word first.
        await asyncio.sleep(ANNOUNCE_DRAIN)
    elif "s" not in options:
        await ch.play(announce)
    ch.observe(200)  # a parking transfer is complete (a REFER's final NOTIFY)
    host = parking.host
    host.hold_music(ch, True, lot.cfg.parkedmusicclass)
    timeout = lot.cfg.parkingtime or None
    try:
        kind, value = await asyncio.wait_for(asyncio.shield(call.outcome), timeout)
    except TimeoutError:
        kind, value = "timeout", None
    if kind == "retrieved":
        await value  # talking to whoever took it, until that ends
        ctx.end(q850.NORMAL_CLEARING)
        return
    host.hold_music(ch, False)
    lot.unpark(space)
    ch.check_hangup()
    if kind == "hangup":
        raise Hangup(ch.name)
    await _come_back(ctx, lot.cfg, call)


async def _come_back(ctx: AppContext, cfg: ParkingLotConfig, call: ParkedCall) -> None:
    """parkingtime passed: back to the parker, or to comebackcontext."""
    ch = ctx.channel
    parker_dial = call.parker_dial
    flat = flat_name(call.parker)
    dialtime = int(cfg.comebackdialtime)
    ch.variables.update(PARKING_SPACE=str(call.space), PARKEDLOT=call.lot.name,
                        PARKER=parker_dial or call.parker, COMEBACKDIALTIME=str(dialtime))
    ctx.note(f"parking timed out: back to {flat}")
    if cfg.comebacktoorigin:
        if ctx.exists("park-dial", flat):
            ctx.jump("park-dial", flat, 1)
            return
        if parker_dial:
            from dialplan.apps.dial import dial

            await dial(ctx, [parker_dial, str(dialtime)])
            if ctx.jump_to is None and not ctx.ended:
                ctx.end(q850.NORMAL_CLEARING)
            return
        ctx.end(q850.NORMAL_CLEARING)
        return
    where = cfg.comebackcontext
    for context, exten in ((where, flat), (where, "s"), ("default", "s")):
        if ctx.exists(context, exten):
            ctx.jump(context, exten, 1)
            return
    ctx.end(q850.NORMAL_CLEARING)


async def _tell(channel: Channel, prompts: list[str]) -> None:
    try:
        await channel.play(prompts)
    except Hangup:
        pass
