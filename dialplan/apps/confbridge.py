"""ConfBridge(conference[,bridge_profile[,user_profile[,menu]]]) and
ConfKick(conference[,channel]) (Asterisk's app_confbridge).

ConfBridge puts the caller into the named room (pbx/conference/): profiles
from confbridge.conf (blank: the channel's CONFBRIDGE() profile, else
default_bridge / default_user / default_menu). It sets CONFBRIDGE_RESULT:
FAILED (no such profile, wrong PIN, locked room: the call then ends, as
Asterisk's -1), HANGUP, KICKED, ENDMARKED, DTMF (left by the menu: the
dialplan goes on), TIMEOUT. ConfKick removes `all` (default), the
`participants` (non-admins) or one channel, and sets CONFKICKSTATUS.
"""

from __future__ import annotations

import logging

from dialplan.apps import AppContext, register
from dialplan.substitute import DialplanError
from pbx import q850
from pbx.channel import Hangup

log = logging.getLogger(__name__)

MAX_CONF_NAME = 80  # AST_MAX_EXTENSION


def _arg(args: list[str], i: int) -> str:
    return args[i].strip() if len(args) > i else ""


def conferences(ctx: AppContext):  # -> ConferenceService
    svc = ctx.services.conferences
    if svc is None:
        raise DialplanError("conferences are not available here (no ConferenceService)")
    return svc


@register("ConfBridge")
async def confbridge(ctx: AppContext, args: list[str]) -> None:
    from pbx.conference.service import ConfBridgeError

    ch = ctx.channel
    ch.check_hangup()
    name = _arg(args, 0)
    if not name or len(name) >= MAX_CONF_NAME:
        ch.variables["CONFBRIDGE_RESULT"] = "FAILED"
        log.warning("%s: ConfBridge requires a conference name (shorter than %d) at %s",
                    ch.name, MAX_CONF_NAME, ctx.where())
        ctx.end(q850.NORMAL_CLEARING)
        return
    svc = conferences(ctx)
    try:
        bridge, user, menu = svc.profiles(ch, _arg(args, 1), _arg(args, 2), _arg(args, 3))
    except ConfBridgeError as exc:
        ch.variables["CONFBRIDGE_RESULT"] = "FAILED"
        log.warning("%s: %s (%s)", ch.name, exc, ctx.where())
        ctx.end(q850.NORMAL_CLEARING)
        return
    try:
        result = await svc.join(ch, name, bridge, user, menu)
    except Hangup:
        ch.variables.setdefault("CONFBRIDGE_RESULT", "HANGUP")
        raise
    ch.variables["CONFBRIDGE_RESULT"] = result
    ctx.note(f"ConfBridge {name}: {result}")
    ch.check_hangup()
    if result == "FAILED":
        ctx.end(q850.NORMAL_CLEARING)


@register("ConfKick")
async def confkick(ctx: AppContext, args: list[str]) -> None:
    name = _arg(args, 0)
    if not name:
        raise DialplanError("ConfKick requires a conference name")
    who = _arg(args, 1) or "all"
    done = conferences(ctx).kick(name, who)
    ctx.channel.variables["CONFKICKSTATUS"] = "SUCCESS" if done else "FAILURE"
