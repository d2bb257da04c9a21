"""ChanIsAvail([Tech/resource[&Tech2/resource2...]][,options]) (app_chanisavail.c).

Checks the devices in order and stops at the first one that could be
called now (every one with `a`); a device can be called when the PBX could
send it an INVITE at once (registered and reachable, or a static host that
qualify has not found unreachable: the PBX's answer is pbx.chan_avail's).
Options: `s` also takes a device in use as unavailable (its device state
must be NOT_INUSE or UNKNOWN), `t` only looks whether a call of the device
exists. Sets, with `&` between devices as Asterisk does:

- AVAILCHAN: the channel names that were created (`SIP/6001-0000002a`),
- AVAILORIGCHAN: the devices as written (`SIP/6001`),
- AVAILSTATUS: the device state of every device checked (0 when neither
  `s` nor `t` asked for it; 4 for an argument that is not Tech/resource),
- AVAILCAUSECODE: the cause of each available device (0).
"""

from __future__ import annotations

from dialplan.apps import AppContext, register
from pbx.chan_avail import INVALID, NOT_INUSE, UNKNOWN, dial_target
from pbx.channel import new_channel_name


@register("ChanIsAvail")
async def chanisavail(ctx: AppContext, args: list[str]) -> None:
    """Set AVAILCHAN, AVAILORIGCHAN, AVAILSTATUS, AVAILCAUSECODE."""
    devices = args[0] if args else ""
    options = args[1] if len(args) > 1 else ""
    port = ctx.services.availability
    chans: list[str] = []
    origs: list[str] = []
    states: list[str] = []
    causes: list[str] = []
    for part in devices.split("&"):
        part = part.strip()
        if "/" not in part:
            if part:
                ctx.note(f"ChanIsAvail: {part!r} is not Technology/Resource")
            states.append(str(INVALID))
            continue
        tech, resource = part.split("/", 1)
        inuse = -1
        status = UNKNOWN
        if port is not None and "t" in options:
            status = inuse = port.in_use(tech, resource)
        elif port is not None and "s" in options:
            status = inuse = port.device_state(tech, resource)
        states.append(str(status))
        if inuse <= NOT_INUSE and port is not None and port.requestable(tech, resource):
            chans.append(new_channel_name(tech, dial_target(tech, resource).peer))
            origs.append(f"{tech}/{resource}")
            causes.append("0")
            if "a" not in options:
                break
    v = ctx.channel.variables
    v["AVAILCHAN"] = "&".join(chans)
    v["AVAILORIGCHAN"] = "&".join(origs)
    v["AVAILSTATUS"] = "&".join(states)
    v["AVAILCAUSECODE"] = "&".join(causes)
    ctx.note(f"ChanIsAvail: available {v['AVAILORIGCHAN'] or 'none'} "
             f"(status {v['AVAILSTATUS']})")
