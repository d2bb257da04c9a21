"""pjsip.conf, read into the same model as sip.conf (pbx/config.py, pbx/sip_model.py).

Sections by `type=`: transport, endpoint, auth, aor, identify, registration.
Templates (`[name](!)`, `[x](tmpl)`) and `#include` come from pbx/conffile.py.
An option Asterisk has and the PBX does not act on is a warning naming
file:line:col; an option nobody knows is a warning too; a wrong value, a
reference to a missing section, or a name defined twice is an error.

An endpoint becomes a :class:`pbx.config.Peer` (tech ``PJSIP``): its `auth`
gives the inbound digest username and password, its `aors` what devices
register as (max_contacts, remove_existing, qualify_frequency; a static
`contact` makes it a host= peer), its `outbound_auth` what the PBX answers
a challenge with, and every `identify` naming it adds `match` networks.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from pbx import office_conf as office
from pbx.codec_prefs import update_codecs
from pbx.conffile import Entry, Section, read_conf
from pbx.config import ListenSpec, Peer, SipConfig, parse_callerid, parse_listen
from pbx.diagnostics import Diagnostic
from pbx.sip_conf_trunk import normalize_proxy, parse_networks, split_host_port
from pbx.sip_model import OutboundAuth, Registration, TransportSpec

_BOOL_WORDS = {"yes", "no", "true", "false", "y", "n", "t", "f", "1", "0", "on", "off"}
_TRUE = {"yes", "true", "y", "t", "1", "on"}

TYPES = ("transport", "endpoint", "auth", "aor", "identify", "registration")
# Types Asterisk has whose sections the PBX reads but does not use.
UNUSED_TYPES = {"global", "system", "domain_alias", "acl", "contact", "phoneprov",
                "resource_list", "outbound-publish", "inbound-publication", "asterisk-publication"}

# Options the PBX reads, per type.
USED: dict[str, frozenset[str]] = {
    "transport": frozenset({"type", "protocol", "bind", "external_media_address",
                            "external_signaling_address", "external_signaling_port",
                            "local_net"}),
    "endpoint": frozenset({"type", "context", "disallow", "allow", "auth", "outbound_auth",
                           "aors", "callerid", "mailboxes", "direct_media", "rtp_symmetric",
                           "force_rport", "rewrite_contact", "dtmf_mode", "from_user",
                           "from_domain", "send_pai", "send_rpid", "trust_id_inbound",
                           "call_group", "pickup_group", "language", "media_encryption",
                           "transport", "outbound_proxy", "tone_zone", "moh_suggest",
                           "moh_passthrough"})
                | office.PJSIP_ENDPOINT_KEYS,
    "auth": frozenset({"type", "auth_type", "username", "password", "realm"}),
    "aor": frozenset({"type", "max_contacts", "remove_existing", "qualify_frequency",
                      "contact", "mailboxes"}),
    "identify": frozenset({"type", "endpoint", "match"}),
    "registration": frozenset({"type", "server_uri", "client_uri", "contact_user",
                               "transport", "outbound_proxy", "expiration", "retry_interval",
                               "forbidden_retry_interval", "fatal_retry_interval",
                               "max_retries", "auth_rejection_permanent", "outbound_auth",
                               "line", "endpoint"}),
}

def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Options Asterisk 22 has that the PBX does not act on (a warning each).
UNUSED: dict[str, frozenset[str]] = {
    "transport": _names(
        "async_operations ca_list_file ca_list_path cert_file priv_key_file password "
        "external_signaling_hostname domain verify_server verify_client "
        "require_client_cert allow_wildcard_certs method tcp_keepalive_enable "
        "tcp_keepalive_idle_time tcp_keepalive_interval_time tcp_keepalive_probe_count "
        "cipher tos cos websocket_write_timeout allow_reload symmetric_transport"),
    "endpoint": _names(
        "rtp_ipv6 ice_support use_ptime 100rel timers timers_min_se "
        "timers_sess_expires media_address bind_rtp_to_media_address identify_by "
        "direct_media_method trust_connected_line send_connected_line "
        "connected_line_method direct_media_glare_mitigation disable_direct_media_on_nat "
        "callerid_privacy callerid_tag rpid_immediate send_diversion "
        "send_history_info voicemail_extension aggregate_mwi "
        "mwi_subscribe_replaces_unsolicited use_avpf force_avp "
        "media_use_received_transport rtp_keepalive rtp_timeout rtp_timeout_hold "
        "rtp_port_start rtp_port_end one_touch_recording inband_progress "
        "t38_udptl t38_udptl_ec "
        "t38_udptl_maxdatagram fax_detect fax_detect_timeout t38_udptl_nat t38_udptl_ipv6 "
        "t38_bind_udptl_to_media_address record_on_feature record_off_feature "
        "allow_transfer user_eq_phone sdp_owner sdp_session tos_audio "
        "tos_video cos_audio cos_video sub_min_expiry mwi_from_user "
        "rtp_engine dtls_verify dtls_rekey dtls_auto_generate_cert dtls_cert_file "
        "dtls_private_key dtls_cipher dtls_ca_file dtls_ca_path dtls_setup "
        "dtls_fingerprint srtp_tag_32 media_encryption_optimistic g726_non_standard "
        "redirect_method follow_redirect_methods set_var accountcode deny "
        "permit acl contact_deny contact_permit contact_acl "
        "contact_user preferred_codec_only asymmetric_rtp_codec rtcp_mux allow_overlap "
        "overlap_context refer_blind_progress notify_early_inuse_ringing "
        "max_audio_streams max_video_streams bundle webrtc incoming_mwi_mailbox "
        "follow_early_media_fork accept_multiple_sdp_answers suppress_q850_reason_headers "
        "ignore_183_without_sdp incoming_call_offer_pref outgoing_call_offer_pref "
        "codec_prefs_incoming_offer codec_prefs_outgoing_offer "
        "codec_prefs_incoming_answer codec_prefs_outgoing_answer stir_shaken_profile "
        "allow_unauthenticated_options geoloc_incoming_call_profile "
        "geoloc_outgoing_call_profile security_mechanisms security_negotiation send_aoc "
        "tenantid suppress_moh_on_sendonly"),
    "auth": _names(
        "refresh_token oauth_clientid oauth_secret md5_cred nonce_lifetime "
        "password_digest supported_algorithms_uac supported_algorithms_uas"),
    "aor": _names(
        "minimum_expiration maximum_expiration default_expiration qualify_timeout "
        "qualify_2xx_only authenticate_qualify remove_unavailable voicemail_extension "
        "outbound_proxy support_path"),
    "identify": frozenset({"match_header", "match_request_uri", "srv_lookups"}),
    "registration": _names(
        "contact_header_params max_random_initial_delay support_path support_outbound "
        "security_negotiation security_mechanisms user_agent"),
}

# Options accepted without a warning because what they choose is what this PBX
# always does. trust_id_outbound only matters for a caller ID marked private,
# and no caller ID is private here: identity headers (send_pai/send_rpid) go
# out as they would to a trusted endpoint.
SAME_HERE: dict[str, frozenset[str]] = {"endpoint": frozenset({"trust_id_outbound"})}

# pjsip's dtmf_mode -> the model's dtmfmode (sip.conf's words; pbx/dtmf_mode.py).
_DTMF = {"rfc4733": "rfc2833", "inband": "inband", "info": "info", "auto": "auto",
         "auto_info": "auto_info"}


@dataclass(slots=True)
class PjsipConfig:
    """What pjsip.conf defines, before it is merged with sip.conf."""

    peers: dict[str, Peer] = field(default_factory=dict)
    registrations: dict[str, Registration] = field(default_factory=dict)
    transports: dict[str, TransportSpec] = field(default_factory=dict)


@dataclass(slots=True)
class _Aor:
    max_contacts: int = 0  # Asterisk's default: no registrations
    remove_existing: bool = False
    qualify_frequency: int = 0
    contacts: list[str] = field(default_factory=list)
    mailboxes: str | None = None


class _Loader:
    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        self.sections: dict[str, dict[str, Section]] = {t: {} for t in TYPES}
        self._auths: dict[str, tuple[str | None, str | None, str | None]] = {}
        self._aors: dict[str, _Aor] = {}

    def error(self, entry: Entry, message: str) -> None:
        self.diagnostics.append(entry.diag(message))

    def warn_section(self, section: Section, message: str) -> None:
        self.diagnostics.append(Diagnostic(section.file, section.line, section.col, message,
                                           "warning"))

    # --- value helpers -------------------------------------------------------
    def boolean(self, entry: Entry) -> bool | None:
        value = entry.value.strip().lower()
        if value not in _BOOL_WORDS:
            self.error(entry, f"{entry.key} must be yes or no, got {entry.value!r}")
            return None
        return value in _TRUE

    def uint(self, entry: Entry) -> int | None:
        try:
            value = int(entry.value.strip())
        except ValueError:
            self.error(entry, f"{entry.key} must be a whole number, got {entry.value!r}")
            return None
        if value < 0:
            self.error(entry, f"{entry.key} must not be negative")
            return None
        return value

    def ref(self, entry: Entry, kind: str) -> Section | None:
        """The section of type ``kind`` an option names (an error if there is none)."""
        name = entry.value.strip()
        section = self.sections[kind].get(name)
        if section is None:
            self.error(entry, f"{entry.key}={name}: no [{name}] with type={kind} in pjsip.conf")
        return section

    # --- reading ---------------------------------------------------------------
    def classify(self, sections: list[Section]) -> None:
        for section in sections:
            if section.is_template:
                continue
            type_entry = section.entry("type")
            if type_entry is None:
                self.diagnostics.append(Diagnostic(
                    section.file, section.line, section.col,
                    f"[{section.name}] has no type= (one of {', '.join(TYPES)})"))
                continue
            kind = type_entry.value.strip().lower()
            if kind in UNUSED_TYPES:
                self.warn_section(section, f"[{section.name}] type={kind} is Asterisk's but "
                                           "this PBX does not use it (ignored)")
                continue
            if kind not in TYPES:
                self.error(type_entry, f"type must be one of {', '.join(TYPES)}, got {kind!r}")
                continue
            first = self.sections[kind].get(section.name)
            if first is not None:
                self.diagnostics.append(Diagnostic(
                    section.file, section.line, section.col,
                    f"{kind} [{section.name}] defined twice (first at "
                    f"{first.file}:{first.line})"))
                continue
            self.sections[kind][section.name] = section
            self.check_options(section, kind)

    def check_options(self, section: Section, kind: str) -> None:
        for entry in section.entries:
            if entry.key in USED[kind] or entry.key in SAME_HERE.get(kind, ()):
                continue
            if entry.key in UNUSED[kind]:
                message = (f"option '{entry.key}' of type={kind} is Asterisk's but this PBX "
                           "does not use it (ignored)")
            else:
                message = f"unknown option '{entry.key}' for type={kind} (ignored)"
            self.diagnostics.append(entry.diag(message, on_value=False, severity="warning"))

    def transport(self, section: Section) -> TransportSpec:
        spec = TransportSpec(section.name, file=section.file, line=section.line)
        ext_port: int | None = None
        bind_host, bind_port = "0.0.0.0", None
        for entry in section.entries:
            key, value = entry.key, entry.value.strip()
            if key == "protocol":
                if value.lower() not in ("udp", "tcp", "tls", "ws", "wss"):
                    self.error(entry, f"protocol must be udp, tcp, tls, ws or wss, got {value!r}")
                else:
                    spec.protocol = value.lower()
            elif key == "bind":
                try:
                    host, port = split_host_port(value)
                except ValueError as exc:
                    self.error(entry, f"bind: {exc}")
                    continue
                bind_host, bind_port = (f"[{host}]" if ":" in host else host), port
            elif key in ("external_media_address", "external_signaling_address"):
                try:
                    host, port = split_host_port(value)
                except ValueError as exc:
                    self.error(entry, f"{key}: {exc}")
                    continue
                address = (f"[{host}]" if ":" in host else host) + (f":{port}" if port else "")
                if key == "external_media_address":
                    spec.nat.external_media = address
                else:
                    spec.nat.external_signaling = address
            elif key == "external_signaling_port":
                ext_port = self.uint(entry)
            elif key == "local_net":
                spec.nat.local_nets.extend(parse_networks(entry, self.diagnostics))
        if not bind_port:  # pjsip's default port: 5061 for TLS, else 5060
            bind_port = 5061 if spec.protocol == "tls" else 5060
        spec.bind = f"{bind_host}:{bind_port}"
        if ext_port and spec.nat.external_signaling and ":" not in \
                spec.nat.external_signaling.rsplit("]", 1)[-1]:
            spec.nat.external_signaling += f":{ext_port}"
        return spec

    def auth(self, section: Section) -> tuple[str | None, str | None, str | None]:
        """(username, password, realm) of a type=auth section (read once)."""
        if section.name not in self._auths:
            self._auths[section.name] = self._read_auth(section)
        return self._auths[section.name]

    def _read_auth(self, section: Section) -> tuple[str | None, str | None, str | None]:
        username = password = realm = None
        for entry in section.entries:
            key, value = entry.key, entry.value.strip()
            if key == "auth_type":
                if value.lower() not in ("userpass", "digest"):
                    self.error(entry, f"auth_type={value} is not supported here: use "
                                      "auth_type=userpass with username= and password=")
            elif key == "username":
                username = value
            elif key == "password":
                password = entry.value  # a password may end in spaces only if quoted; keep
            elif key == "realm":
                realm = value or None
        if not username:
            self.diagnostics.append(Diagnostic(section.file, section.line, section.col,
                                               f"auth [{section.name}] has no username="))
        return username, password, realm

    def outbound_auth(self, entry: Entry) -> OutboundAuth | None:
        names = [n.strip() for n in entry.value.split(",") if n.strip()]
        if not names:
            return None
        if len(names) > 1:
            self.diagnostics.append(entry.diag(
                "only the first outbound_auth is used", severity="warning"))
        probe = Entry(entry.key, names[0], entry.file, entry.line, entry.col, entry.value_col)
        section = self.ref(probe, "auth")
        if section is None:
            return None
        username, password, realm = self.auth(section)
        if username is None:
            return None
        return OutboundAuth(username, password or "", realm)

    def endpoint(self, section: Section, transports: dict[str, TransportSpec]) -> Peer:
        # As Asterisk's res_pjsip: an endpoint's allow starts empty (no codec
        # unless it says which), not from sip.conf's [general].
        peer = Peer(name=section.name, tech="PJSIP", type="friend", context="default",
                    file=section.file, line=section.line, codecs=[])
        aor_entry: Entry | None = None
        for entry in section.entries:
            key, value = entry.key, entry.value.strip()
            low = value.lower()
            if key == "context":
                peer.context = value
            elif key in ("allow", "disallow"):
                update_codecs(peer.codecs, entry, self.diagnostics)
            elif key == "auth":
                auth = self.ref(entry, "auth")
                if auth is not None:
                    username, password, _realm = self.auth(auth)
                    peer.auth_username = username
                    peer.secret = password
            elif key == "outbound_auth":
                peer.outbound_auth = self.outbound_auth(entry)
            elif key == "aors":
                peer.aors = [a.strip() for a in value.split(",") if a.strip()]
                aor_entry = entry
            elif key == "callerid":
                peer.callerid = parse_callerid(value)
            elif key == "mailboxes":
                peer.mailbox = value or None
            elif key in ("direct_media", "rtp_symmetric", "force_rport", "rewrite_contact",
                         "send_pai", "send_rpid", "trust_id_inbound"):
                b = self.boolean(entry)
                if b is not None:
                    setattr(peer, key, b)
            elif key == "dtmf_mode":
                if low not in _DTMF:
                    self.error(entry, f"dtmf_mode must be one of {', '.join(_DTMF)}, "
                                      f"got {value!r}")
                else:
                    peer.dtmfmode = _DTMF[low]
            elif key == "from_user":
                peer.fromuser = value or None
            elif key == "from_domain":
                peer.fromdomain = value or None
            elif key in ("call_group", "pickup_group"):
                setattr(peer, key, value or None)
            elif key in office.PJSIP_ENDPOINT_KEYS:  # pbx/office_conf.py
                office.apply_pjsip_endpoint_key(peer, entry, self.diagnostics)
            elif key == "language":
                peer.language = value or None
            elif key == "tone_zone":
                peer.tonezone = low or None
            elif key == "moh_suggest":
                peer.mohsuggest = value or None
            elif key == "moh_passthrough":
                b = self.boolean(entry)
                if b is not None:
                    peer.moh_passthrough = b
            elif key == "media_encryption":
                if low not in ("no", "sdes", "dtls"):
                    self.error(entry, f"media_encryption must be no, sdes or dtls, "
                                      f"got {value!r}")
                elif low == "dtls":
                    self.diagnostics.append(entry.diag(
                        "media_encryption=dtls is not supported: use sdes (SRTP with SDES "
                        "keys, over a TLS transport)", severity="warning"))
                else:
                    peer.media_encryption = low
            elif key == "transport":
                spec = transports.get(value)
                if spec is None:
                    self.error(entry, f"transport={value}: no [{value}] with type=transport "
                                      "in pjsip.conf")
                else:
                    peer.transport = spec.protocol
            elif key == "outbound_proxy":
                try:
                    peer.outbound_proxy = normalize_proxy(value)
                except ValueError as exc:
                    self.error(entry, f"outbound_proxy: {exc}")
        self.apply_aors(peer, aor_entry)
        return peer

    def apply_aors(self, peer: Peer, aor_entry: Entry | None) -> None:
        if aor_entry is None:
            peer.max_contacts = 0
            return
        first = True
        for name in peer.aors:
            probe = Entry("aors", name, aor_entry.file, aor_entry.line, aor_entry.col,
                          aor_entry.value_col)
            section = self.ref(probe, "aor")
            if section is None:
                continue
            aor = self.aor(section)
            if first:  # bindings are kept per endpoint: the first aor sets the limits
                peer.max_contacts, peer.remove_existing = aor.max_contacts, aor.remove_existing
                first = False
            if aor.qualify_frequency:
                peer.qualify, peer.qualify_frequency = True, aor.qualify_frequency
            if aor.mailboxes and peer.mailbox is None:
                peer.mailbox = aor.mailboxes
            peer.contacts.extend(aor.contacts)
        if peer.contacts and peer.max_contacts == 0:
            self.make_static(peer, aor_entry)

    def aor(self, section: Section) -> _Aor:
        """A type=aor section's values (read and checked once)."""
        if section.name in self._aors:
            return self._aors[section.name]
        aor = self._aors[section.name] = _Aor()
        for entry in section.entries:
            key, value = entry.key, entry.value.strip()
            if key == "max_contacts":
                n = self.uint(entry)
                if n is not None:
                    aor.max_contacts = n
            elif key == "remove_existing":
                b = self.boolean(entry)
                if b is not None:
                    aor.remove_existing = b
            elif key == "qualify_frequency":
                n = self.uint(entry)
                if n is not None:
                    aor.qualify_frequency = n
            elif key == "contact":
                for uri in value.split(","):
                    uri = uri.strip()
                    if not uri:
                        continue
                    if not uri.lower().startswith(("sip:", "sips:")):
                        self.error(entry, f"contact {uri!r} is not a sip: URI")
                        continue
                    aor.contacts.append(uri)
            elif key == "mailboxes":
                aor.mailboxes = value or None
        return aor

    def make_static(self, peer: Peer, entry: Entry) -> None:
        """An aor with only static contacts: the endpoint is reached at the first."""
        uri = peer.contacts[0]
        rest = uri.split(":", 1)[1]
        rest, *params = rest.split(";")
        hostport = rest.rsplit("@", 1)[-1]
        try:
            host, port = split_host_port(hostport)
        except ValueError as exc:
            self.error(entry, f"contact {uri!r}: {exc}")
            return
        peer.host, peer.port = host, port or 5060
        for param in params:
            if param.lower().startswith("transport="):
                peer.transport = param.split("=", 1)[1].lower()

    def identify(self, section: Section, peers: dict[str, Peer]) -> None:
        target: Peer | None = None
        endpoint = section.entry("endpoint")
        if endpoint is None:
            self.diagnostics.append(Diagnostic(section.file, section.line, section.col,
                                               f"identify [{section.name}] has no endpoint="))
            return
        name = endpoint.value.strip()
        target = peers.get(name)
        if target is None:
            self.error(endpoint, f"endpoint={name}: no [{name}] with type=endpoint in pjsip.conf")
            return
        for entry in section.entries:
            if entry.key != "match":
                continue
            for part in entry.value.split(","):
                part = part.strip()
                if not part:
                    continue
                try:
                    target.match.append(ipaddress.ip_network(part, strict=False))
                except ValueError:
                    self.diagnostics.append(entry.diag(
                        f"match: {part!r} is not an address or network; host names are not "
                        "resolved here (write the provider's addresses)", severity="warning"))

    def registration(self, section: Section,
                     transports: dict[str, TransportSpec]) -> Registration | None:
        values: dict[str, Entry] = {e.key: e for e in section.entries}  # last one wins
        missing = [k for k in ("server_uri", "client_uri") if k not in values]
        if missing:
            self.diagnostics.append(Diagnostic(
                section.file, section.line, section.col,
                f"registration [{section.name}] needs {' and '.join(missing)}"))
            return None
        server_entry = values["server_uri"]
        server_uri = server_entry.value.strip()
        host, port, transport = self.sip_uri_target(server_entry)
        if host is None:
            return None
        client_uri = values["client_uri"].value.strip()
        if not client_uri.lower().startswith(("sip:", "sips:")) or "@" not in client_uri:
            self.error(values["client_uri"], f"client_uri must be sip:user@domain, "
                                             f"got {client_uri!r}")
            return None
        reg = Registration(name=section.name, server_uri=server_uri.split(";")[0],
                           client_uri=client_uri.split(";")[0], server_host=host,
                           server_port=port or 5060, transport=transport or "udp",
                           tech="PJSIP", file=section.file, lineno=section.line,
                           col=section.col)
        for entry in section.entries:
            key, value = entry.key, entry.value.strip()
            if key == "contact_user":
                reg.contact_user = value or "s"
            elif key == "transport":
                spec = transports.get(value)
                if spec is None:
                    self.error(entry, f"transport={value}: no [{value}] with type=transport "
                                      "in pjsip.conf")
                elif transport is None:
                    reg.transport = spec.protocol
            elif key == "outbound_auth":
                reg.auth = self.outbound_auth(entry)
            elif key in ("expiration", "retry_interval", "forbidden_retry_interval",
                         "fatal_retry_interval", "max_retries"):
                n = self.uint(entry)
                if n is None:
                    continue
                if key == "expiration" and n < 1:
                    self.error(entry, "expiration must be at least 1 second")
                    continue
                setattr(reg, key, n)
            elif key in ("auth_rejection_permanent", "line"):
                b = self.boolean(entry)
                if b is not None:
                    setattr(reg, key, b)
            elif key == "outbound_proxy":
                try:
                    reg.outbound_proxy = normalize_proxy(value)
                except ValueError as exc:
                    self.error(entry, f"outbound_proxy: {exc}")
            elif key == "endpoint":
                reg.endpoint = value or None
        return reg

    def sip_uri_target(self, entry: Entry) -> tuple[str | None, int | None, str | None]:
        """host, port and ;transport= of a sip: URI option (errors reported)."""
        uri = entry.value.strip()
        low = uri.lower()
        if not low.startswith(("sip:", "sips:")):
            self.error(entry, f"{entry.key} must be a sip: URI, got {uri!r}")
            return None, None, None
        rest = uri.split(":", 1)[1]
        rest, *params = rest.split(";")
        transport = None
        for param in params:
            if param.lower().startswith("transport="):
                transport = param.split("=", 1)[1].lower()
                if transport not in ("udp", "tcp", "tls", "ws", "wss"):
                    self.error(entry, f"{entry.key}: unknown transport {transport!r}")
                    return None, None, None
        if low.startswith("sips:") and transport is None:
            transport = "tls"
        try:
            host, port = split_host_port(rest.rsplit("@", 1)[-1])
        except ValueError as exc:
            self.error(entry, f"{entry.key}: {exc}")
            return None, None, None
        return host, port, transport


def load_pjsip_conf(path: Path, diagnostics: list[Diagnostic]) -> PjsipConfig:
    """Read pjsip.conf; problems go to ``diagnostics``."""
    config = PjsipConfig()
    conf = read_conf(path, diagnostics)
    loader = _Loader(diagnostics)
    loader.classify(conf.sections)
    for name, section in loader.sections["transport"].items():
        config.transports[name] = loader.transport(section)
    for name, section in loader.sections["endpoint"].items():
        config.peers[name] = loader.endpoint(section, config.transports)
    # Sections nobody refers to are still checked: a typo there is still a typo.
    for section in loader.sections["auth"].values():
        loader.auth(section)
    for section in loader.sections["aor"].values():
        loader.aor(section)
    for section in loader.sections["identify"].values():
        loader.identify(section, config.peers)
    for name, section in loader.sections["registration"].items():
        reg = loader.registration(section, config.transports)
        if reg is not None:
            config.registrations[name] = reg
    for peer in config.peers.values():
        if peer.aors and peer.max_contacts == 0 and not peer.contacts:
            diagnostics.append(Diagnostic(
                peer.file, peer.line, 1,
                f"endpoint [{peer.name}]: its aor has max_contacts=0 (Asterisk's default): "
                "no device can register to it; set max_contacts=1", "warning"))
        elif peer.dynamic and peer.max_contacts > 0 and not peer.secret:
            diagnostics.append(Diagnostic(
                peer.file, peer.line, 1,
                f"endpoint [{peer.name}] has no auth=: any device may register and call "
                "as this endpoint", "warning"))
    return config


def transport_listen(transports: dict[str, TransportSpec], have_tls_cert: bool,
                     diagnostics: list[Diagnostic]) -> list[ListenSpec]:
    """Where to listen when pbx.yaml does not say (no sip.listen): at each
    transport's bind, as Asterisk does. ws/wss are not served (a warning), nor
    tls without sip.tls's certificate (an error: the user asked for TLS)."""
    out: list[ListenSpec] = []
    for name, spec in transports.items():
        if spec.protocol in ("ws", "wss"):
            diagnostics.append(Diagnostic(spec.file, spec.line, 1,
                                          f"transport [{name}] protocol={spec.protocol}: "
                                          "WebSocket is not supported (ignored)", "warning"))
            continue
        if spec.protocol == "tls" and not have_tls_cert:
            diagnostics.append(Diagnostic(spec.file, spec.line, 1,
                                          f"transport [{name}] protocol=tls needs a certificate: "
                                          "set sip.tls.cert and sip.tls.key in pbx.yaml "
                                          "(`make cert` makes a pair)"))
            continue
        listen = parse_listen(f"{spec.protocol}:{spec.bind}")
        if listen not in out:
            out.append(listen)
    return out


def merge_into(sip: SipConfig, pjsip: PjsipConfig, listen: list[str] | None,
               diagnostics: list[Diagnostic]) -> None:
    """Add pjsip.conf's endpoints, registrations and transports to the sip.conf model.

    A name both files define is an error at the pjsip.conf section. ``listen``
    is pbx.yaml's sip.listen (`udp:127.0.0.1:5060`): the sockets are opened
    there, so a transport bind= that is not among them only gets a warning
    (None: pbx.yaml does not say, and the PBX listens at the binds).
    """
    for name, peer in pjsip.peers.items():
        first = sip.peers.get(name)
        if first is not None:
            diagnostics.append(Diagnostic(peer.file, peer.line, 1,
                                          f"endpoint [{name}] is also a peer in sip.conf "
                                          f"(at {first.file}:{first.line})"))
            continue
        sip.peers[name] = peer
    for name, reg in pjsip.registrations.items():
        first_reg = sip.registrations.get(name)
        if first_reg is not None:
            diagnostics.append(Diagnostic(reg.file, reg.lineno, reg.col,
                                          f"registration [{name}] defined twice (first at "
                                          f"{first_reg.file}:{first_reg.lineno})"))
            continue
        sip.registrations[name] = reg
    for name, spec in pjsip.transports.items():
        sip.transports[name] = spec
        bound = f"{spec.protocol}:{spec.bind}"
        host, port = bound.rsplit(":", 1)
        wildcard = host.endswith(("0.0.0.0", "[::]"))
        listened = listen is None or any(
            item == bound or (wildcard and item.startswith(f"{spec.protocol}:")
                              and item.endswith(f":{port}")) for item in listen)
        if not listened:
            diagnostics.append(Diagnostic(
                spec.file, spec.line, 1,
                f"transport [{name}] bind={spec.bind} ({spec.protocol}) is not in pbx.yaml "
                f"sip.listen ({', '.join(listen or ())}): the PBX listens where pbx.yaml says",
                "warning"))
        if sip.nat.external_signaling is None and spec.nat.external_signaling:
            sip.nat.external_signaling = spec.nat.external_signaling
        if sip.nat.external_media is None and spec.nat.external_media:
            sip.nat.external_media = spec.nat.external_media
        sip.nat.local_nets.extend(n for n in spec.nat.local_nets if n not in sip.nat.local_nets)
