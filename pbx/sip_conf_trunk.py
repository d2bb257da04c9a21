"""The trunk and NAT keys of sip.conf, read into the neutral model.

`register => [peer?][transport://]user[@domain][:secret[:authuser]]@host[:port][/extension][~expiry]`
is parsed the way chan_sip's `sip_parse_register_line` does (last `@` splits
user and host parts; `user@domain:port:secret:authuser` is its domain-port
form), but every problem is an error with file:line:col instead of a NOTICE
and a silent default.
"""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING

from pbx.conffile import Entry, Section
from pbx.diagnostics import Diagnostic
from pbx.sip_model import OutboundAuth, Registration

if TYPE_CHECKING:
    from pbx.config import Peer, SipConfig, SipGeneral

_BOOL_WORDS = {"yes", "no", "true", "false", "y", "n", "t", "f", "1", "0", "on", "off"}
_TRUE = {"yes", "true", "y", "t", "1", "on"}

# Peer keys this module reads (the rest of sip.conf's peer keys are in pbx/config.py).
TRUNK_PEER_KEYS = frozenset({
    "remotesecret", "insecure", "outboundproxy", "sendrpid", "trustrpid", "call-limit",
    "nat", "directmedia", "canreinvite", "qualifyfreq", "callgroup", "pickupgroup",
    "dtmfmode",
})

# chan_sip peer keys the PBX accepts but does not act on: a warning, never silence.
UNUSED_PEER_KEYS = frozenset({
    "videosupport", "defaultip", "deny",
    "permit", "acl", "accountcode", "amaflags",
    "allowtransfer", "description", "avpf", "icesupport", "force_avp",
    "dtlsenable", "rtptimeout", "rtpholdtimeout", "session-timers", "t38pt_udptl", "setvar",
    "cid_number", "fullname", "hasvoicemail", "vmexten", "progressinband", "promiscredir",
    "useclientcode", "registertrying", "regexten",
    "rfc2833compensate", "ignoresdpversion", "auth", "autoframing",
    "directrtpsetup", "g726nonstandard", "parkinglot", "subscribemwi", "timert1", "timerb",
    "maxcallbitrate", "supportpath", "qualifygap", "qualifypeers", "lang",
})

GENERAL_TRUNK_KEYS = frozenset({
    "register", "externip", "externaddr", "externhost", "localnet", "registertimeout",
    "registerattempts", "register_retry_403", "outboundproxy", "nat",
})

REGISTER_FORMAT = ("[transport://]user[@domain][:secret[:authuser]]@host[:port]"
                   "[/extension][~expiry]")

_HOST_RE = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?)$")
_GROUP_RE = re.compile(r"^\s*\d+(\s*-\s*\d+)?(\s*,\s*\d+(\s*-\s*\d+)?)*\s*$")


def _warn_unused(entry: Entry, where: str) -> Diagnostic:
    return entry.diag(f"option '{entry.key}' in [{where}] is Asterisk's but this PBX does "
                      "not use it (ignored)", on_value=False, severity="warning")


def unused_peer_key(entry: Entry, section: str) -> Diagnostic:
    return _warn_unused(entry, section)


def _bool(entry: Entry, diagnostics: list[Diagnostic]) -> bool | None:
    value = entry.value.strip().lower()
    if value not in _BOOL_WORDS:
        diagnostics.append(entry.diag(f"{entry.key} must be yes or no, got {entry.value!r}"))
        return None
    return value in _TRUE


def _uint(entry: Entry, diagnostics: list[Diagnostic]) -> int | None:
    try:
        value = int(entry.value.strip())
    except ValueError:
        diagnostics.append(entry.diag(f"{entry.key} must be a whole number, got {entry.value!r}"))
        return None
    if value < 0:
        diagnostics.append(entry.diag(f"{entry.key} must not be negative"))
        return None
    return value


def valid_host(host: str) -> bool:
    return bool(_HOST_RE.match(host))


def split_host_port(text: str) -> tuple[str, int | None]:
    """`host`, `host:port`, `[v6]:port` -> (host without brackets, port or None)."""
    text = text.strip()
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise ValueError(f"{text!r}: IPv6 address without its closing ']'")
        host, rest = text[1:close], text[close + 1:]
        if rest and not rest.startswith(":"):
            raise ValueError(f"{text!r}: unexpected text after the address")
        port_text = rest[1:] if rest else None
    elif text.count(":") > 1:  # a bare IPv6 address
        host, port_text = text, None
    else:
        host, _, port_text = text.partition(":")
        port_text = port_text or None
        if not valid_host(host):
            raise ValueError(f"{host!r} is not a host name or address")
    if not host:
        raise ValueError("the host is empty")
    port = None
    if port_text is not None:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"port {port_text!r} is not a number from 1 to 65535")
        port = int(port_text)
    return host, port


def normalize_proxy(text: str) -> str:
    """`host[:port]`, `sip:host[:port][;lr]` -> `sip:host[:port]`; ValueError if wrong."""
    value = text.strip()
    transport = None
    if value.lower().startswith(("sip:", "sips:")):
        value = value.split(":", 1)[1]
    value, *params = value.split(";")
    for param in params:
        if param.lower().startswith("transport="):
            transport = param.split("=", 1)[1].lower()
    if "@" in value:
        value = value.rsplit("@", 1)[1]
    host, port = split_host_port(value)
    hostpart = f"[{host}]" if ":" in host else host
    uri = f"sip:{hostpart}" + (f":{port}" if port else "")
    return uri + (f";transport={transport}" if transport else "")


def parse_networks(entry: Entry, diagnostics: list[Diagnostic]) -> list:
    """`10.0.0.0/8`, `192.168.0.0/255.255.0.0`, `1.2.3.4` (comma-separated allowed)."""
    out = []
    for part in entry.value.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            out.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            diagnostics.append(entry.diag(f"{entry.key}: {part!r} is not an address or "
                                          "network (e.g. 192.168.0.0/16)"))
    return out


# --- peers -------------------------------------------------------------------

def start_peer(peer: Peer, general: SipGeneral) -> None:
    """Defaults a peer takes from [general] before its own keys are read."""
    if general.outboundproxy:
        peer.outbound_proxy = general.outboundproxy
    # chan_sip's default is nat=force_rport: a registered peer is reached where its
    # REGISTER came from; [general] nat= changes the default of every peer.
    peer.force_rport, peer.rewrite_contact, peer.rtp_symmetric = \
        general.nat_flags or (True, True, False)


def apply_peer_key(peer: Peer, entry: Entry, diagnostics: list[Diagnostic]) -> None:
    """One of TRUNK_PEER_KEYS of a peer section."""
    key, value = entry.key, entry.value.strip()
    low = value.lower()
    if key == "remotesecret":
        peer.remotesecret = value or None
    elif key == "insecure":
        words = {w.strip() for w in low.split(",") if w.strip()}
        if words <= {"no"}:
            peer.insecure = frozenset()
        elif words == {"very"}:  # chan_sip's old spelling of port,invite
            peer.insecure = frozenset({"port", "invite"})
        elif words == {"yes"}:  # old spelling of port
            peer.insecure = frozenset({"port"})
        elif words <= {"port", "invite"}:
            peer.insecure = frozenset(words)
        else:
            diagnostics.append(entry.diag(f"insecure must be port, invite, port,invite or no, "
                                          f"got {value!r}"))
    elif key == "outboundproxy":
        try:
            peer.outbound_proxy = normalize_proxy(value)
        except ValueError as exc:
            diagnostics.append(entry.diag(f"outboundproxy: {exc}"))
    elif key == "sendrpid":
        if low in ("yes", "rpid"):
            peer.send_rpid, peer.send_pai = True, False
        elif low == "pai":
            peer.send_pai, peer.send_rpid = True, False
        elif low == "no":
            peer.send_pai = peer.send_rpid = False
        else:
            diagnostics.append(entry.diag(f"sendrpid must be yes, rpid, pai or no, got {value!r}"))
    elif key == "trustrpid":
        b = _bool(entry, diagnostics)
        if b is not None:
            peer.trust_id_inbound = b
    elif key == "call-limit":
        n = _uint(entry, diagnostics)
        if n is not None:
            peer.call_limit = n or None  # chan_sip: 0 is no limit
    elif key == "nat":
        _apply_nat(peer, entry, diagnostics)
    elif key in ("directmedia", "canreinvite"):
        if low in ("yes", "no", "nonat", "update", "outgoing", "update,nonat", "true",
                   "false"):
            peer.direct_media = low not in ("no", "false")
        else:
            diagnostics.append(entry.diag(f"{key} must be yes, no, nonat, update or outgoing, "
                                          f"got {value!r}"))
    elif key == "qualifyfreq":
        n = _uint(entry, diagnostics)
        if n is not None:
            peer.qualify_frequency = n or None
    elif key in ("callgroup", "pickupgroup"):
        if value and not _GROUP_RE.match(value):
            diagnostics.append(entry.diag(f"{key} must be numbers and ranges like 1,3-5, "
                                          f"got {value!r}"))
        elif key == "callgroup":
            peer.call_group = value or None
        else:
            peer.pickup_group = value or None
    elif key == "dtmfmode":
        if low not in ("rfc2833", "info", "shortinfo", "inband", "auto"):
            diagnostics.append(entry.diag(f"dtmfmode must be rfc2833, info, shortinfo, inband "
                                          f"or auto, got {value!r}"))
        else:
            peer.dtmfmode = low


def _apply_nat(peer: Peer, entry: Entry, diagnostics: list[Diagnostic]) -> None:
    flags = nat_flags(entry, diagnostics)
    if flags is not None:
        peer.force_rport, peer.rewrite_contact, peer.rtp_symmetric = flags


def nat_flags(entry: Entry, diagnostics: list[Diagnostic]) -> tuple[bool, bool, bool] | None:
    """sip.conf nat= as (force_rport, rewrite_contact, rtp_symmetric); None if wrong."""
    words = {w.strip() for w in entry.value.lower().split(",") if w.strip()}
    known = {"yes", "no", "never", "route", "force_rport", "comedia", "auto_force_rport",
             "auto_comedia"}
    if not words or not words <= known:
        diagnostics.append(entry.diag(
            "nat must be no, force_rport, comedia, auto_force_rport, auto_comedia or yes "
            f"(comma-separated), got {entry.value!r}"))
        return None
    if words & {"no", "never"}:
        return False, False, False
    # chan_sip answers to the source address and port of a NATed peer and sends
    # its requests there, which is what force_rport + rewrite_contact do for pjsip.
    rport = bool(words & {"yes", "route", "force_rport", "auto_force_rport"})
    return rport, rport, bool(words & {"yes", "comedia", "auto_comedia"})


def finish_peer(peer: Peer) -> None:
    """What follows from all of a peer's keys: its outbound credentials, its identify."""
    password = peer.remotesecret or peer.secret
    if password:
        # chan_sip answers a peer's challenge as defaultuser (else the peer name)
        # with remotesecret (else secret).
        peer.outbound_auth = OutboundAuth(peer.defaultuser or peer.name, password)
    if not peer.dynamic:
        try:
            peer.match = [ipaddress.ip_network(peer.host)]
        except ValueError:
            peer.match = []  # a host name: matched by name (resolved by the call core)


# --- [general] ----------------------------------------------------------------

def load_general_trunk_keys(section: Section, config: SipConfig,
                            diagnostics: list[Diagnostic]) -> None:
    """[general]: externip/externaddr/localnet, register retry keys, outboundproxy.

    `register =>` lines are read after the other keys, so registertimeout and
    defaultexpiry apply whatever the order of the lines.
    """
    general, nat = config.general, config.nat
    for entry in section.entries:
        key, value = entry.key, entry.value.strip()
        if key in ("externip", "externaddr", "externhost"):
            try:
                host, port = split_host_port(value)
            except ValueError as exc:
                diagnostics.append(entry.diag(f"{key}: {exc}"))
                continue
            address = (f"[{host}]" if ":" in host else host) + (f":{port}" if port else "")
            nat.external_signaling = nat.external_media = address
            if key == "externhost":
                diagnostics.append(entry.diag(
                    "externhost is resolved once at start-up (not every externrefresh "
                    "seconds)", severity="warning"))
        elif key == "localnet":
            nat.local_nets.extend(parse_networks(entry, diagnostics))
        elif key in ("registertimeout", "registerattempts"):
            n = _uint(entry, diagnostics)
            if n is not None:
                if key == "registertimeout" and n == 0:
                    diagnostics.append(entry.diag("registertimeout must be at least 1"))
                else:
                    setattr(general, key, n)
        elif key == "register_retry_403":
            b = _bool(entry, diagnostics)
            if b is not None:
                general.register_retry_403 = b
        elif key == "outboundproxy":
            try:
                general.outboundproxy = normalize_proxy(value)
            except ValueError as exc:
                diagnostics.append(entry.diag(f"outboundproxy: {exc}"))
        elif key == "nat":
            general.nat_flags = nat_flags(entry, diagnostics)  # every peer's default
    for entry in section.entries:
        if entry.key == "register":
            reg = parse_register(entry, general, diagnostics)
            if reg is None:
                continue
            first = config.registrations.get(reg.name)
            if first is not None:
                diagnostics.append(entry.diag(f"registration {reg.name} defined twice "
                                              f"(first at {first.file}:{first.lineno})"))
                continue
            config.registrations[reg.name] = reg


def parse_register(entry: Entry, general: SipGeneral,
                   diagnostics: list[Diagnostic]) -> Registration | None:
    """One `register =>` line; None (and an error) when it is malformed."""
    try:
        return _parse_register(entry, general)
    except _RegisterError as exc:
        diagnostics.append(Diagnostic(entry.file, entry.line, entry.value_col + exc.offset,
                                      f"register: {exc.message}"))
        return None


class _RegisterError(Exception):
    def __init__(self, message: str, offset: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


def _parse_register(entry: Entry, general: SipGeneral) -> Registration:
    text = entry.value
    at = text.rfind("@")
    if at <= 0 or at == len(text) - 1:
        raise _RegisterError(f"expected {REGISTER_FORMAT}, got {text!r}")
    userpart, hostpart = text[:at], text[at + 1:]
    host_offset = at + 1
    peer = None
    if "?" in userpart:
        peer, userpart = userpart.split("?", 1)
        peer = peer.strip() or None
    transport = "udp"
    if "://" in userpart:
        scheme, userpart = userpart.split("://", 1)
        transport = scheme.strip().lower()
        if transport not in ("udp", "tcp", "tls"):
            raise _RegisterError(f"transport {scheme!r} is not udp, tcp or tls")
    if "/" in userpart:
        raise _RegisterError(f"'/' in the user part: expected {REGISTER_FORMAT}")
    pieces = userpart.split(":", 2)
    userdomain = pieces[0]
    secret = pieces[1] if len(pieces) > 1 else ""
    authuser = pieces[2] if len(pieces) > 2 else ""
    domainport = None
    if ":" in authuser:
        # user@domain:port:secret:authuser (chan_sip's reordering)
        domainport, secret, authuser = secret, *authuser.split(":", 1)
    user, _, domain = userdomain.partition("@")
    user = user.strip().strip('"')
    if not user:
        raise _RegisterError(f"the user is empty: expected {REGISTER_FORMAT}")
    hostpart, _, expiry_text = hostpart.partition("~")
    hostpart, _, extension = hostpart.partition("/")
    try:
        host, port = split_host_port(hostpart)
    except ValueError as exc:
        raise _RegisterError(str(exc), host_offset) from None
    if domain and not valid_host(domain.strip("[]")):
        raise _RegisterError(f"domain {domain!r} is not a host name or address")
    if domainport is not None and (not domainport.isdigit()
                                   or not 0 < int(domainport) < 65536):
        raise _RegisterError(f"domain port {domainport!r} is not a number from 1 to 65535")
    expiry = general.defaultexpiry
    if expiry_text:
        if not expiry_text.strip().isdigit() or int(expiry_text) < 1:
            raise _RegisterError(f"expiry {expiry_text!r} is not a number of seconds",
                                 text.rfind("~") + 1)
        expiry = int(expiry_text)
    if port is None:
        port = 5061 if transport == "tls" else 5060
    hosturi = f"[{host}]" if ":" in host else host
    if domain:
        aor_host = domain + (f":{domainport}" if domainport else "")
        server_uri = f"sip:{aor_host}"
    else:
        aor_host = hosturi + (f":{port}" if port not in (5060, 5061) else "")
        server_uri = f"sip:{aor_host}"
    return Registration(
        name=f"{user}@{hosturi}:{port}",
        server_uri=server_uri,
        client_uri=f"sip:{user}@{aor_host}",
        server_host=host,
        server_port=port,
        transport=transport,
        contact_user=extension.strip() or "s",
        auth=OutboundAuth(authuser or user, secret) if secret else None,
        expiration=expiry,
        retry_interval=general.registertimeout,
        forbidden_retry_interval=general.registertimeout if general.register_retry_403 else 0,
        max_retries=general.registerattempts or None,
        outbound_proxy=general.outboundproxy,
        endpoint=peer,
        tech="SIP",
        file=entry.file,
        lineno=entry.line,
        col=entry.col,
    )
