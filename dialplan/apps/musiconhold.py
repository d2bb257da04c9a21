"""MusicOnHold([class[,duration]]), StartMusicOnHold([class]), StopMusicOnHold()
(res_musiconhold.c).

MusicOnHold plays the class (default: CHANNEL(musicclass), else `default`)
for `duration` seconds, or until the caller hangs up; it does not answer
(an unanswered SIP call gets 183 early media). StartMusicOnHold starts the
music and goes on with the dialplan; StopMusicOnHold stops it. As Asterisk
with preferchannelclass=yes, a CHANNEL(musicclass) set on the channel wins
over the class given here.
"""

from __future__ import annotations

from dialplan.apps import AppContext, register
from dialplan.apps.wait import seconds

# How long MusicOnHold without a duration waits between checks (it ends on hangup).
_FOREVER = 3600.0


async def _start(ctx: AppContext, klass: str) -> None:
    ch = ctx.channel
    playing = await ch.start_moh(klass or None)
    if playing is None:
        ctx.note(f"no music on hold could start (class {klass or 'default'})")
    else:
        ctx.note(f"music on hold: class {playing}")


@register("MusicOnHold")
async def music_on_hold(ctx: AppContext, args: list[str]) -> None:
    """Music for `duration` seconds (forever when 0 or absent)."""
    ch = ctx.channel
    ch.check_hangup()
    klass = args[0].strip() if args else ""
    duration = seconds(args[1]) if len(args) > 1 else 0.0
    await ch.progress()
    await _start(ctx, klass)
    try:
        if duration > 0:
            await ch.sleep(duration)
        else:
            while True:
                await ch.sleep(_FOREVER)
    finally:
        ch.stop_moh()


@register("StartMusicOnHold")
async def start_music_on_hold(ctx: AppContext, args: list[str]) -> None:
    """Start the music; the dialplan goes on while it plays."""
    ctx.channel.check_hangup()
    await ctx.channel.progress()
    await _start(ctx, args[0].strip() if args else "")


@register("StopMusicOnHold")
async def stop_music_on_hold(ctx: AppContext, args: list[str]) -> None:
    """Stop the music this channel hears."""
    ctx.channel.stop_moh()
