"""MixMonitor(file.ext[,options[,command]]), StopMixMonitor([id]) (app_mixmonitor.c).

Records both directions of the channel, mixed, into `file` (relative names go
to the PBX's monitor folder, `<storage>/monitor`; `.wav` is 8 kHz, `.wav16`
16 kHz), written to disk as the call goes. Options:

- `a`: append to the file instead of overwriting it;
- `b`: only record while the channel is bridged (Dial's bridge);
- `r(file)` / `t(file)`: also write what the channel sends us (receive) /
  what we send it (transmit) to separate files;
- `v(x)` / `V(x)` / `W(x)`: adjust the received ("heard") / transmitted
  ("spoken") / both volumes by x in -4..4 (each step doubles or halves);
- `i(var)`: put the monitor's id in `var` (for StopMixMonitor(id)).

MIXMONITOR_FILENAME is set to the mixed file; the files are listed in the
call's CDR (`recordings`). The command argument (a shell command run at the
end) is not run: a warning says so. The other options of Asterisk's are
accepted with a warning.
"""

from __future__ import annotations

import logging

from dialplan.apps import AppContext, register
from dialplan.options import parse_options
from dialplan.substitute import DialplanError
from pbx.channel import AppError
from pbx.channel_media import MixMonitorSpec

log = logging.getLogger(__name__)

_USED = set("abrtvVWi")


def _level(option: str, value: str | None) -> int:
    try:
        level = int((value or "").strip())
    except ValueError:
        level = 99
    if not -4 <= level <= 4:
        raise DialplanError(f"MixMonitor: {option}({value or ''}): the volume must be a "
                            "number between -4 and 4")
    return level


def parse_spec(filename: str, options: str) -> tuple[MixMonitorSpec, list[str]]:
    """The MixMonitor to start, and the options that are accepted but not used."""
    opts = parse_options(options)
    spec = MixMonitorSpec(path=filename.strip() or None)
    spec.append = "a" in opts
    spec.only_bridged = "b" in opts
    for letter, field in (("r", "rx_path"), ("t", "tx_path")):
        if letter in opts:
            if not (opts[letter] or "").strip():
                raise DialplanError(f"MixMonitor: {letter}() needs a file name")
            setattr(spec, field, opts[letter].strip())  # type: ignore[union-attr]
    if "W" in opts:
        spec.rx_volume = spec.tx_volume = _level("W", opts["W"])
    if "v" in opts:
        spec.rx_volume = _level("v", opts["v"])
    if "V" in opts:
        spec.tx_volume = _level("V", opts["V"])
    if "i" in opts:
        spec.id_variable = (opts["i"] or "").strip() or None
    if spec.path is None and spec.rx_path is None and spec.tx_path is None:
        raise DialplanError("MixMonitor requires a file name (or r(file) / t(file))")
    return spec, sorted(set(opts) - _USED)


@register("MixMonitor")
async def mixmonitor(ctx: AppContext, args: list[str]) -> None:
    """Start recording; the dialplan goes on at once."""
    ch = ctx.channel
    spec, unused = parse_spec(args[0] if args else "", args[1] if len(args) > 1 else "")
    if unused:
        log.warning("%s: MixMonitor option(s) %s not supported (ignored)", ctx.where(),
                    "".join(unused))
    if len(args) > 2 and args[2].strip():
        log.warning("%s: MixMonitor does not run commands (%r ignored)", ctx.where(),
                    args[2].strip())
    try:
        monitor_id = await ch.start_mixmonitor(spec)
    except AppError as exc:
        # As Asterisk: the recording does not start, the call goes on.
        log.error("%s: %s", ctx.where(), exc)
        ctx.note(str(exc))
        return
    ctx.note(f"recording {ch.variables.get('MIXMONITOR_FILENAME', '')} ({monitor_id})")


@register("StopMixMonitor")
async def stop_mixmonitor(ctx: AppContext, args: list[str]) -> None:
    """Stop the channel's MixMonitor(s), or the one whose id is given."""
    monitor_id = args[0].strip() if args else ""
    if not ctx.channel.stop_mixmonitor(monitor_id or None):
        ctx.note("no MixMonitor to stop")
