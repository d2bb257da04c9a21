"""VoiceMail(mailbox[@context][&mailbox2[@context]...][,options]): leave a message.

Options: `u` unavailable greeting, `b` busy greeting, `s` skip the
instructions, `U` mark urgent. Sets VMSTATUS (SUCCESS, USEREXIT, FAILED).
`0` during the greeting (or the recording) continues at the `o` extension,
`*` during the greeting at `a`; the logic lives in voicemail.deposit.
"""

from __future__ import annotations

from collections.abc import Callable

from dialplan.apps import AppContext, register
from dialplan.substitute import DialplanError


def exten_checker(ctx: AppContext) -> Callable[[str], bool]:
    """`has_exten(e)`: whether extension `e` exists in the channel's context."""
    def has(exten: str) -> bool:
        return ctx.exists(ctx.channel.context, exten)
    return has


@register("VoiceMail")
async def voicemail(ctx: AppContext, args: list[str]) -> None:
    """Leave a message in one or more mailboxes (see voicemail.deposit)."""
    from voicemail.deposit import leave_voicemail

    spec = args[0].strip() if args else ""
    if not spec:
        raise DialplanError("VoiceMail requires a mailbox: VoiceMail(mailbox[@context][,options])")
    options = args[1].strip() if len(args) > 1 else ""
    result = await leave_voicemail(ctx.voicemail(), ctx.channel, spec, options,
                                   exten_checker(ctx))
    ctx.note(f"VoiceMail: VMSTATUS={result.status}"
             + (f" ({result.reason})" if result.reason else ""))
    if result.jump is not None:
        ctx.jump(ctx.channel.context, result.jump, 1)
