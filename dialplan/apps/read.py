"""Read(variable[,filename[&filename2...]][,maxdigits][,options][,attempts][,timeout]).

Plays the prompts (a digit interrupts them and counts), then collects digits
until a terminator ('#'), maxdigits, or a timeout; sets the variable and
READSTATUS (OK, TIMEOUT, HANGUP, SKIPPED). The first digit waits
TIMEOUT(response), the next ones TIMEOUT(digit); a timeout argument
overrides both (as ast_app_getdata).

With the `i` option the filename is a tone of indications.conf (`dial`,
...): the tone plays until the first digit, as app_read does (a name the
zone does not have is played as a prompt, again as Asterisk does).
"""

from __future__ import annotations

import re

from dialplan.apps import AppContext, register
from dialplan.apps.background import DTMF
from dialplan.apps.wait import seconds
from dialplan.substitute import DialplanError
from pbx.channel import ChannelState, Hangup

# app_read's options: i, s, n, e, and t(terminators).
_T_OPTION = re.compile(r"t(?:\(([^)]*)\))?")


def _arg(args: list[str], i: int) -> str:
    return args[i].strip() if len(args) > i else ""


def terminators(options: str) -> tuple[str, str]:
    """(options without t(...), the terminator digits): `t(*)` makes * the terminator,
    a bare `t` none; '#' otherwise."""
    m = _T_OPTION.search(options)
    if m is None:
        return options, "#"
    rest = options[:m.start()] + options[m.end():]
    return rest, m.group(1) or ""


@register("Read")
async def read(ctx: AppContext, args: list[str]) -> None:
    """Options: s (skip when not answered), n (read without answering), i (the
    filename is a tone), t(digits) (terminators; bare t: none), e (a lone
    terminator is the value)."""
    ch = ctx.channel
    ch.check_hangup()  # a hung-up channel must not be answered again (h extension)
    var = _arg(args, 0)
    if not var:
        raise DialplanError("Read requires a variable name")
    filename = _arg(args, 1)
    maxd = _arg(args, 2)
    maxdigits = int(maxd) if maxd.isdigit() and 0 < int(maxd) <= 255 else 255
    options, terms = terminators(_arg(args, 3))
    att = _arg(args, 4)
    attempts = int(att) if att.isdigit() and int(att) > 0 else 1
    timeout = seconds(_arg(args, 5), 0.0)
    first_to = timeout or ctx.scope.response_timeout
    next_to = timeout or ctx.scope.digit_timeout
    tones = None
    if "i" in options and filename:
        tones = ctx.services.tone_zones().tone(filename, ch.tonezone)
    files = [] if tones is not None else [f.strip() for f in filename.split("&") if f.strip()]
    if ch.state is not ChannelState.UP:
        if "s" in options:
            ctx.set_var(var, "")
            ch.variables["READSTATUS"] = "SKIPPED"
            return
        if "n" not in options:
            await ch.answer()
    got = ""
    status = "TIMEOUT"
    try:
        for _ in range(attempts):
            got = ""
            digit = ""
            status = "TIMEOUT"
            if tones is not None:
                await ch.start_tones(tones)
                try:
                    digit = await ch.wait_digit(first_to) or ""
                finally:
                    ch.stop_tones()  # app_read: the first digit ends the tone
                if not digit:
                    continue
            elif files:
                digit = await ch.play(files, interrupt=DTMF)
            ended = False
            # With a tone app_read waits the same time for every digit.
            later_to = first_to if tones is not None else next_to
            while len(got) < maxdigits:
                if digit == "":
                    d = await ch.wait_digit(later_to if got else first_to)
                    if d is None:
                        break
                    digit = d
                if digit in terms:
                    if not got and "e" in options:
                        got = digit
                    ended = True
                    break
                got += digit
                digit = ""
            if got or ended:
                status = "OK"
            if got:
                break
    except Hangup:
        ch.variables["READSTATUS"] = "HANGUP"
        ctx.set_var(var, got)
        raise
    ctx.set_var(var, got)
    ch.variables["READSTATUS"] = status
    ctx.note(f"Read: {var}={got}")
