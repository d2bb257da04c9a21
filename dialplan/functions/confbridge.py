"""Conference functions (app_confbridge.c): CONFBRIDGE_INFO and CONFBRIDGE.

`CONFBRIDGE_INFO(parties|admins|marked|locked|muted,conference)` counts the
callers of a room (parties: all of them, waiting ones included; admins and
marked: active ones) or says 1/0; a room that does not exist gives 0, as
Asterisk's code does. `Set(CONFBRIDGE(user|bridge|menu,option)=value)` builds a
profile on the channel that ConfBridge() uses when its profile argument is
blank (`template` starts from a named profile, `clear` removes it).
"""

from __future__ import annotations

import logging

from dialplan.functions import function, writer
from dialplan.substitute import DialplanError, Scope, split_args

log = logging.getLogger(__name__)


def _service(scope: Scope):  # -> ConferenceService
    svc = scope.services.conferences
    if svc is None:
        raise DialplanError("conferences are not available here (no ConferenceService)")
    return svc


@function("CONFBRIDGE_INFO")
def _confbridge_info(scope: Scope, args: str) -> str:
    parts = split_args(args)
    if len(parts) < 2 or not parts[0].strip() or not parts[1].strip():
        raise DialplanError("CONFBRIDGE_INFO requires (type,conference)")
    value = _service(scope).info(parts[0], parts[1].strip())
    if value is None:
        log.error("Invalid keyword '%s' passed to CONFBRIDGE_INFO.", parts[0].strip())
        return "0"
    return value


@writer("CONFBRIDGE")
def _confbridge_w(scope: Scope, args: str, value: str) -> None:
    parts = split_args(args)
    if len(parts) < 2 or scope.channel is None:
        raise DialplanError("CONFBRIDGE requires (type,option)")
    error = _service(scope).set_dynamic(scope.channel, parts[0], parts[1], value)
    if error is not None:
        raise DialplanError(error)
