"""Read(variable[,filename[&filename2...]][,maxdigits][,options][,attempts][,timeout]).

Plays the prompts (a digit interrupts them and counts), then collects digits
until '#', maxdigits, or a timeout; sets the variable and READSTATUS
(OK, TIMEOUT, HANGUP, SKIPPED). The first digit waits TIMEOUT(response), the
next ones TIMEOUT(digit); a timeout argument overrides both (as ast_app_getdata).
"""

from __future__ import annotations

from dialplan.apps import AppContext, register
from dialplan.apps.background import DTMF
from dialplan.apps.wait import seconds
from dialplan.substitute import DialplanError
from pbx.channel import ChannelState, Hangup


def _arg(args: list[str], i: int) -> str:
    return args[i].strip() if len(args) > i else ""


@register("Read")
async def read(ctx: AppContext, args: list[str]) -> None:
    """Options: s (skip when not answered), n (read without answering)."""
    ch = ctx.channel
    ch.check_hangup()  # a hung-up channel must not be answered again (h extension)
    var = _arg(args, 0)
    if not var:
        raise DialplanError("Read requires a variable name")
    files = [f.strip() for f in _arg(args, 1).split("&") if f.strip()]
    maxd = _arg(args, 2)
    maxdigits = int(maxd) if maxd.isdigit() and int(maxd) > 0 else 255
    options = _arg(args, 3)
    att = _arg(args, 4)
    attempts = int(att) if att.isdigit() and int(att) > 0 else 1
    timeout = seconds(_arg(args, 5), 0.0)
    first_to = timeout or ctx.scope.response_timeout
    next_to = timeout or ctx.scope.digit_timeout
    if ch.state is not ChannelState.UP:
        if "s" in options:
            ctx.set_var(var, "")
            ch.variables["READSTATUS"] = "SKIPPED"
            return
        if "n" not in options:
            await ch.answer()
    got = ""
    try:
        for _ in range(attempts):
            got = ""
            digit = await ch.play(files, interrupt=DTMF) if files else ""
            done = False
            while not done and len(got) < maxdigits:
                if digit == "":
                    d = await ch.wait_digit(next_to if got else first_to)
                    if d is None:
                        break
                    digit = d
                if digit == "#":
                    done = True
                else:
                    got += digit
                digit = ""
            if got:
                break
    except Hangup:
        ch.variables["READSTATUS"] = "HANGUP"
        ctx.set_var(var, got)
        raise
    ctx.set_var(var, got)
    ch.variables["READSTATUS"] = "OK" if got else "TIMEOUT"
    ctx.note(f"Read: {var}={got}")
