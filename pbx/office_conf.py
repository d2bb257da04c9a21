"""The office-feature keys of sip.conf and pjsip.conf: named pickup groups,
subscriptions (busy lamps), out-of-call messages, busy level.

sip.conf (chan_sip's names): peers take `namedcallgroup`, `namedpickupgroup`,
`subscribecontext`, `allowsubscribe`, `busylevel`, `callcounter` (accepted:
calls are always counted here), `outofcall_message_context`; `[general]` takes
`subscribecontext`, `allowsubscribe`, `accept_outofcall_message`,
`outofcall_message_context` as the peers' defaults. pjsip.conf endpoints
(res_pjsip's names): `named_call_group`, `named_pickup_group`,
`subscribe_context`, `allow_subscribe`, `message_context`,
`device_state_busy_at`. (`callgroup`/`pickupgroup` and `call_group`/
`pickup_group` are read with the trunk keys.)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pbx.conffile import Entry
from pbx.diagnostics import Diagnostic

if TYPE_CHECKING:
    from pbx.config import Peer, SipGeneral

SIP_GENERAL_KEYS = frozenset({
    "subscribecontext", "allowsubscribe", "accept_outofcall_message",
    "outofcall_message_context",
})

_BOOL = {"yes": True, "true": True, "y": True, "t": True, "1": True, "on": True,
         "no": False, "false": False, "n": False, "f": False, "0": False, "off": False}
_NAMES_RE = re.compile(r"^\s*[A-Za-z0-9_.-]+(\s*,\s*[A-Za-z0-9_.-]+)*\s*$")
_CONTEXT_RE = re.compile(r"^[^\s\[\],;]+$")


def _bool(entry: Entry, diagnostics: list[Diagnostic]) -> bool | None:
    value = _BOOL.get(entry.value.strip().lower())
    if value is None:
        diagnostics.append(entry.diag(f"{entry.key} must be yes or no, got {entry.value!r}"))
    return value


def _context(entry: Entry, diagnostics: list[Diagnostic]) -> str | None:
    value = entry.value.strip()
    if value and not _CONTEXT_RE.match(value):
        diagnostics.append(entry.diag(f"{entry.key} must name a dialplan context, "
                                      f"got {entry.value!r}"))
        return None
    return value or None


def _names(entry: Entry, diagnostics: list[Diagnostic]) -> str | None:
    value = entry.value.strip()
    if value and not _NAMES_RE.match(value):
        diagnostics.append(entry.diag(f"{entry.key} must be names separated by commas "
                                      f"(e.g. sales,support), got {entry.value!r}"))
        return None
    return value or None


def _count(entry: Entry, diagnostics: list[Diagnostic]) -> int | None:
    try:
        value = int(entry.value.strip())
    except ValueError:
        value = -1
    if value < 0:
        diagnostics.append(entry.diag(f"{entry.key} must be a whole number >= 0, "
                                      f"got {entry.value!r}"))
        return None
    return value or None


def apply_sip_general_key(general: SipGeneral, entry: Entry,
                          diagnostics: list[Diagnostic]) -> None:
    key = entry.key
    if key == "subscribecontext":
        general.subscribecontext = _context(entry, diagnostics)
    elif key == "outofcall_message_context":
        general.outofcall_message_context = _context(entry, diagnostics)
    elif key in ("allowsubscribe", "accept_outofcall_message"):
        value = _bool(entry, diagnostics)
        if value is not None:
            setattr(general, key, value)


def start_sip_peer(peer: Peer, general: SipGeneral) -> None:
    """A sip.conf peer starts from [general]'s values."""
    peer.subscribe_context = general.subscribecontext
    peer.allow_subscribe = general.allowsubscribe
    peer.message_context = general.outofcall_message_context


# Each file's key -> (the Peer field it sets, its parser). A yes/no that does not
# parse leaves the field as it was; callcounter is only checked (calls are always
# counted here).
_Parser = Callable[[Entry, list[Diagnostic]], Any]
_SIP_PEER: dict[str, tuple[str | None, _Parser]] = {
    "namedcallgroup": ("named_call_group", _names),
    "namedpickupgroup": ("named_pickup_group", _names),
    "subscribecontext": ("subscribe_context", _context),
    "outofcall_message_context": ("message_context", _context),
    "allowsubscribe": ("allow_subscribe", _bool),
    "busylevel": ("busy_level", _count),
    "callcounter": (None, _bool),
}
_PJSIP_ENDPOINT: dict[str, tuple[str | None, _Parser]] = {
    "named_call_group": ("named_call_group", _names),
    "named_pickup_group": ("named_pickup_group", _names),
    "subscribe_context": ("subscribe_context", _context),
    "message_context": ("message_context", _context),
    "allow_subscribe": ("allow_subscribe", _bool),
    "device_state_busy_at": ("busy_level", _count),
}
SIP_PEER_KEYS = frozenset(_SIP_PEER)
PJSIP_ENDPOINT_KEYS = frozenset(_PJSIP_ENDPOINT)


def apply_sip_peer_key(peer: Peer, entry: Entry, diagnostics: list[Diagnostic]) -> None:
    _apply(_SIP_PEER, peer, entry, diagnostics)


def apply_pjsip_endpoint_key(peer: Peer, entry: Entry, diagnostics: list[Diagnostic]) -> None:
    _apply(_PJSIP_ENDPOINT, peer, entry, diagnostics)


def _apply(fields: dict[str, tuple[str | None, _Parser]], peer: Peer, entry: Entry,
           diagnostics: list[Diagnostic]) -> None:
    spec = fields.get(entry.key)
    if spec is None:
        return
    attr, parse = spec
    value = parse(entry, diagnostics)
    if attr is not None and not (parse is _bool and value is None):
        setattr(peer, attr, value)
