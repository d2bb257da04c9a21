"""sip.conf [general]'s bind keys: where chan_sip listened, so the PBX listens there.

An Asterisk 20 sip.conf says where chan_sip takes SIP: `udpbindaddr` (or the older
`bindaddr`; address[:port], port `bindport`, default 5060), `tcpenable` with
`tcpbindaddr` (port 5060 unless given), `tlsenable` with `tlsbindaddr` (5061).
UDP is always on once any of these is written. When pbx.yaml has no `sip.listen`,
the PBX listens at these addresses, as it does at pjsip.conf's transport binds;
with none of them (and no pjsip.conf transport) it keeps its own default, loopback.
"""

from __future__ import annotations

from pbx.conffile import Entry
from pbx.config import ListenSpec, parse_listen
from pbx.diagnostics import Diagnostic
from pbx.sip_conf_trunk import split_host_port

BIND_KEYS = frozenset({"bindaddr", "udpbindaddr", "bindport", "tcpenable", "tcpbindaddr",
                       "tlsenable", "tlsbindaddr"})
_YES = {"yes", "true", "y", "t", "1", "on"}
_NO = {"no", "false", "n", "f", "0", "off"}


def sip_conf_listen(binds: dict[str, Entry], have_tls_cert: bool,
                    diagnostics: list[Diagnostic]) -> list[ListenSpec]:
    """The listen addresses [general]'s bind keys (key -> its last entry) ask for."""
    if not binds:
        return []
    port = 5060
    if "bindport" in binds:
        entry = binds["bindport"]
        if entry.value.strip().isdigit() and 0 < int(entry.value) < 65536:
            port = int(entry.value)
        else:
            diagnostics.append(entry.diag(f"bindport must be a port from 1 to 65535, got "
                                          f"{entry.value!r}"))
    out: list[ListenSpec] = []
    _add(out, "udp", binds.get("udpbindaddr") or binds.get("bindaddr"), port, diagnostics)
    if _enabled(binds.get("tcpenable"), diagnostics):
        _add(out, "tcp", binds.get("tcpbindaddr"), 5060, diagnostics)
    tls = binds.get("tlsenable")
    if _enabled(tls, diagnostics):
        if have_tls_cert:
            _add(out, "tls", binds.get("tlsbindaddr"), 5061, diagnostics)
        else:
            assert tls is not None
            diagnostics.append(tls.diag("tlsenable=yes needs a certificate: set sip.tls.cert "
                                        "and sip.tls.key in pbx.yaml (`make cert` makes a pair)"))
    return out


def _enabled(entry: Entry | None, diagnostics: list[Diagnostic]) -> bool:
    if entry is None:
        return False
    word = entry.value.strip().lower()
    if word not in _YES | _NO:
        diagnostics.append(entry.diag(f"{entry.key} must be yes or no, got {entry.value!r}"))
    return word in _YES


def _add(out: list[ListenSpec], transport: str, entry: Entry | None, default_port: int,
         diagnostics: list[Diagnostic]) -> None:
    try:
        host, port = split_host_port(entry.value) if entry is not None else ("0.0.0.0", None)
        shown = f"[{host}]" if ":" in host else host
        spec = parse_listen(f"{transport}:{shown}:{port or default_port}")
    except ValueError as exc:
        assert entry is not None
        diagnostics.append(entry.diag(f"{entry.key}: {exc}"))
        return
    if spec not in out:
        out.append(spec)
