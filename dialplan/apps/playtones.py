"""PlayTones(arg), StopPlayTones(): tones from indications.conf (app_playtones.c).

`arg` is a tone name of the channel's zone (`dial`, `busy`, `ring`,
`congestion`, `callwaiting`, `info`, ... CHANNEL(tonezone), else [general]
country=) or a tone list itself (`440+480/2000,0/4000`). The tones play in
the background while the dialplan goes on, until StopPlayTones(), the next
prompt, a bridge or the hangup. A list that cannot be read ends the call, as
Asterisk's PlayTones returns -1 (`pbx check` reports literal ones first).
"""

from __future__ import annotations

from dialplan.apps import AppContext, register
from pbx.channel import AppError
from pbx.indications import ToneError


@register("PlayTones")
async def playtones(ctx: AppContext, args: list[str]) -> None:
    """Start the tones and go on at once."""
    arg = ctx.data.strip()
    if not arg:
        raise AppError("PlayTones: nothing to play (a tone name or a tone list)")
    ch = ctx.channel
    zones = ctx.services.tone_zones()
    try:
        tones = zones.resolve(arg, ch.tonezone)
    except ToneError as exc:
        raise AppError(f"PlayTones({arg}): not a tone of zone "
                       f"'{ch.tonezone or zones.country}' and not a tone list: "
                       f"{exc.message}") from exc
    ctx.note(f"PlayTones: {tones.text}")
    await ch.start_tones(tones)


@register("StopPlayTones")
async def stopplaytones(ctx: AppContext, args: list[str]) -> None:
    """Stop what PlayTones started."""
    ctx.channel.stop_tones()
