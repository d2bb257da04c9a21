"""Device and extension state (func_devstate.c, func_extstate.c): DEVICE_STATE,
EXTENSION_STATE, HINT.

- `${DEVICE_STATE(SIP/6001)}`: UNKNOWN, NOT_INUSE, INUSE, BUSY, INVALID,
  UNAVAILABLE, RINGING, RINGINUSE or ONHOLD, from the PBX's device-state
  registry (pbx.devstate); `Set(DEVICE_STATE(Custom:lamp1)=BUSY)` sets a
  custom device (kept in the AstDB, family CustomDevstate, as Asterisk does);
  only `Custom:` devices can be set.
- `${EXTENSION_STATE(6001[@context])}`: the state of the extension's hint
  (context `default` when not given, as in Asterisk): NOT_INUSE, INUSE, BUSY,
  UNAVAILABLE, RINGING, RINGINUSE, HOLDINUSE, ONHOLD, or UNKNOWN without a hint.
- `${HINT(6001[@context][,n])}`: the hint's devices (`n`: its name).

Outside a running PBX (`pbx dialplan trace`) there is no live device: every
state reads UNKNOWN.
"""

from __future__ import annotations

import logging

from dialplan.functions import function, writer
from dialplan.substitute import DialplanError, Scope, split_args

log = logging.getLogger(__name__)

_SETTABLE = ("NOT_INUSE", "INUSE", "BUSY", "INVALID", "UNAVAILABLE", "RINGING", "RINGINUSE",
             "ONHOLD")


@function("DEVICE_STATE")
def _device_state(scope: Scope, args: str) -> str:
    device = args.strip()
    if not device:
        raise DialplanError("DEVICE_STATE requires a device, e.g. DEVICE_STATE(SIP/6001)")
    registry = scope.services.devices
    if registry is None:
        return "UNKNOWN"
    return registry.state(device).name


@writer("DEVICE_STATE")
def _device_state_w(scope: Scope, args: str, value: str) -> None:
    device = args.strip()
    label, sep, name = device.partition(":")
    if not sep or label.lower() != "custom":
        # Asterisk: a warning and nothing set (Set() goes on).
        log.warning("The DEVICE_STATE function can only be used to set 'Custom:' device "
                    "state! (not %r)", device)
        return
    if not name:
        log.warning("DEVICE_STATE function called with no custom device name!")
        return
    state = value.strip().upper()
    if state not in _SETTABLE:
        raise DialplanError(f"DEVICE_STATE function given invalid state value {value!r} "
                            f"(use one of {', '.join(_SETTABLE)})")
    custom = scope.services.custom_devices
    if custom is None:
        log.warning("DEVICE_STATE(%s): no device-state registry here; not set", device)
        return
    from pbx.devstate import DeviceState  # the dialplan reads pbx lazily

    custom.set(name, DeviceState[state])


def _exten_context(text: str, what: str) -> tuple[str, str]:
    exten, _, context = text.strip().partition("@")
    if not exten:
        raise DialplanError(f"{what} requires an extension, e.g. {what}(6001@internal)")
    return exten, context or "default"


@function("EXTENSION_STATE")
def _extension_state(scope: Scope, args: str) -> str:
    exten, context = _exten_context(args, "EXTENSION_STATE")
    hints = scope.services.hints
    if hints is None:
        return "UNKNOWN"
    from pbx.devstate import extension_state_name

    return extension_state_name(hints.state(context, exten))


@function("HINT")
def _hint(scope: Scope, args: str) -> str:
    parts = split_args(args)
    exten, context = _exten_context(parts[0] if parts else "", "HINT")
    options = parts[1].strip() if len(parts) > 1 else ""
    dp = scope.dialplan
    if dp is None:
        return ""
    from pbx.hints import find_hint, parse_hint

    found = find_hint(dp, context, exten, scope.services.clock.time())
    if found is None:
        return ""
    devices, name = parse_hint(found[1], exten)
    return name if "n" in options else "&".join(devices)
