"""Background(file1[&file2...][,options[,langoverride[,context]]]).

Plays prompts that any digit interrupts; the digit starts an extension that
the interpreter collects (TIMEOUT(digit) between digits) and jumps to, or to
`i`. When nothing is pressed the dialplan continues (usually WaitExten).
"""

from __future__ import annotations

from dialplan.apps import AppContext, register
from pbx.channel import ChannelState

DTMF = "0123456789*#ABCD"


@register("Background")
async def background(ctx: AppContext, args: list[str]) -> None:
    """Options: s (skip when not answered), n (do not answer)."""
    ch = ctx.channel
    ch.check_hangup()  # a hung-up channel must not be answered again (h extension)
    files = [f.strip() for f in (args[0] if args else "").split("&") if f.strip()]
    options = args[1] if len(args) > 1 else ""
    if ch.state is not ChannelState.UP:
        if "s" in options:
            return
        if "n" not in options:
            await ch.answer()
    digit = await ch.play(files, interrupt=DTMF) if files else ""
    if digit:
        if len(args) > 3 and args[3].strip():
            ch.context = args[3].strip()
        ctx.note(f"Background: caller pressed '{digit}'")
        ctx.dial_digits(digit)
