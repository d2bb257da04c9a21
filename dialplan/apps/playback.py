"""Playback(file1[&file2...][,options]): play prompts; sets PLAYBACKSTATUS."""

from __future__ import annotations

from dialplan.apps import AppContext, register
from pbx.channel import ChannelState


@register("Playback")
async def playback(ctx: AppContext, args: list[str]) -> None:
    """Answers first unless `noanswer`; with `skip`, does nothing when not answered."""
    ch = ctx.channel
    ch.check_hangup()  # a hung-up channel must not be answered again (h extension)
    files = [f for f in (args[0] if args else "").split("&") if f.strip()]
    options = args[1].lower() if len(args) > 1 else ""
    if ch.state is not ChannelState.UP:
        if "skip" in options:
            ch.variables["PLAYBACKSTATUS"] = "SUCCESS"
            return
        if "noanswer" not in options:
            await ch.answer()
    # The channel overwrites this with FAILED when a prompt is missing.
    ch.variables["PLAYBACKSTATUS"] = "SUCCESS"
    if files:
        await ch.play([f.strip() for f in files])
