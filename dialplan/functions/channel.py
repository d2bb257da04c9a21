"""Channel functions: CALLERID, CHANNEL, TIMEOUT (func_callerid.c, func_channel.c,
func_timeout.c)."""

from __future__ import annotations

import re

from dialplan.functions import function, writer
from dialplan.substitute import DialplanError, Scope, split_args


def format_callerid(name: str, num: str) -> str:
    """`"Name" <num>` as Asterisk's CALLERID(all)."""
    if name and num:
        return f'"{name}" <{num}>'
    if name:
        return f'"{name}"'
    return f"<{num}>" if num else ""


def parse_callerid(text: str) -> tuple[str, str]:
    """Split `"Name" <num>` (or a bare number/name) into (name, num)."""
    text = text.strip()
    m = re.match(r'\s*(?:"(.*?)"|([^<]*?))\s*<([^>]*)>', text)
    if m:
        return (m.group(1) if m.group(1) is not None else (m.group(2) or "").strip()), m.group(3)
    if re.fullmatch(r"[+\d*#]+", text):
        return "", text
    return text.strip('"'), ""


@function("CALLERID")
def _callerid(scope: Scope, args: str) -> str:
    ch = scope.channel
    if ch is None:
        return ""
    item = split_args(args)[0].strip().lower()
    if item in ("num", "number", "ani", "dnid", "rdnis"):
        return ch.callerid.num
    if item == "name":
        return ch.callerid.name
    if item == "all":
        return format_callerid(ch.callerid.name, ch.callerid.num)
    raise DialplanError(f"CALLERID: unknown data type {item!r}")


@writer("CALLERID")
def _callerid_w(scope: Scope, args: str, value: str) -> None:
    ch = scope.channel
    if ch is None:
        return
    item = split_args(args)[0].strip().lower()
    if item in ("num", "number", "ani"):
        ch.callerid.num = value
    elif item == "name":
        ch.callerid.name = value
    elif item == "all":
        ch.callerid.name, ch.callerid.num = parse_callerid(value)
    else:
        raise DialplanError(f"CALLERID: unknown data type {item!r}")


@function("CHANNEL")
def _channel(scope: Scope, args: str) -> str:
    ch = scope.channel
    if ch is None:
        return ""
    item = args.strip().lower()
    values = {"name": ch.name, "language": ch.language, "state": ch.state.value,
              "uniqueid": ch.uniqueid, "context": ch.context, "exten": ch.exten,
              "callid": ch.uniqueid, "tonezone": ch.tonezone, "musicclass": ch.musicclass}
    if item not in values:
        raise DialplanError(f"CHANNEL: unknown item {item!r}")
    return values[item]


@writer("CHANNEL")
def _channel_w(scope: Scope, args: str, value: str) -> None:
    ch = scope.channel
    if ch is None:
        return
    item = args.strip().lower()
    if item == "language":
        ch.language = value.strip()
    elif item == "tonezone":
        country = value.strip().lower()
        if scope.services.tone_zones().zones.get(country) is None:
            raise DialplanError(f"CHANNEL(tonezone): no zone [{country}] in indications.conf")
        ch.tonezone = country
    elif item == "musicclass":
        # The music-on-hold class this channel hears (res_musiconhold's order).
        ch.musicclass = value.strip()
    elif item in ("accountcode", "peeraccount", "amaflags"):
        # As in Asterisk, these set the call's record.
        try:
            ch.cdr.set(item, value)
        except ValueError as e:
            raise DialplanError(f"CHANNEL({item}): {e}") from e
    else:
        raise DialplanError(f"CHANNEL: item {item!r} cannot be set here "
                            "(language, tonezone, musicclass, accountcode, peeraccount, amaflags)")


@function("TIMEOUT")
def _timeout(scope: Scope, args: str) -> str:
    kind = args.strip().lower()
    if kind.startswith("d"):
        return f"{scope.digit_timeout:.3f}"
    if kind.startswith("r"):
        return f"{scope.response_timeout:.3f}"
    if kind.startswith("a"):
        if scope.absolute_deadline is None:
            return "0"
        return f"{max(0.0, scope.absolute_deadline - scope.services.clock.monotonic()):.3f}"
    raise DialplanError(f"TIMEOUT: unknown timeout type {args!r} (digit, response, absolute)")


@writer("TIMEOUT")
def _timeout_w(scope: Scope, args: str, value: str) -> None:
    kind = args.strip().lower()
    try:
        seconds = float(value) if value.strip() else 0.0
    except ValueError as e:
        raise DialplanError(f"TIMEOUT: {value!r} is not a number of seconds") from e
    seconds = max(0.0, seconds)
    if kind.startswith("d"):
        scope.digit_timeout = seconds
    elif kind.startswith("r"):
        scope.response_timeout = seconds
    elif kind.startswith("a"):
        # 0 cancels; otherwise the call goes to `T` (or hangs up) when it passes.
        now = scope.services.clock.monotonic()
        scope.absolute_deadline = now + seconds if seconds > 0 else None
    else:
        raise DialplanError(f"TIMEOUT: unknown timeout type {args!r} (digit, response, absolute)")
