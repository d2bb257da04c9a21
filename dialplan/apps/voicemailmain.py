"""VoiceMailMain([mailbox][@context][,options]): check a mailbox by phone.

Option `s`: do not ask the PIN (a phone's own voicemail key). After
`maxlogins` wrong logins the call ends, as in Asterisk. The logic lives in
voicemail.menu.
"""

from __future__ import annotations

from dialplan.apps import AppContext, register
from pbx import q850


@register("VoiceMailMain")
async def voicemailmain(ctx: AppContext, args: list[str]) -> None:
    """Log in and run the mailbox menus (see voicemail.menu)."""
    from voicemail.menu import voicemail_main

    spec = args[0].strip() if args else ""
    options = args[1].strip() if len(args) > 1 else ""
    # Asterisk's old syntax: VoiceMailMain(s1234) skips the PIN for mailbox 1234.
    if spec[:1] == "s" and spec[1:2].isdigit():
        spec, options = spec[1:], options + "s"
    result = await voicemail_main(ctx.voicemail(), ctx.channel, spec, options)
    if not result.logged_in:
        ctx.note("VoiceMailMain: login failed")
        ctx.end(q850.NORMAL_CLEARING)
        return
    ctx.note(f"VoiceMailMain: {result.mailbox.key if result.mailbox else '?'} done")
