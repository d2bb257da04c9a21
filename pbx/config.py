"""Configuration: pbx.yaml, sip.conf, extensions.conf and voicemail.conf.

Every problem is reported as ``file:line:col: message``; `load_config` raises
ConfigError carrying all of them, so a failed (re)load changes nothing.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pbx import office_conf as office
from pbx import sip_conf_trunk as trunk
from pbx.channel import CallerId
from pbx.codec_prefs import DEFAULT_CODECS, update_codecs
from pbx.conffile import Entry, Section, read_conf
from pbx.diagnostics import ConfigError, Diagnostic, tolerate
from pbx.features_conf import FeaturesConfig, load_features_conf
from pbx.security.acl import Acl
from pbx.security.settings import SecuritySettings
from pbx.sip_model import IpNetwork, NatSettings, OutboundAuth, Registration, TransportSpec

REPO_ROOT = Path(__file__).resolve().parent.parent


# --- pbx.yaml ---------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ListenSpec:
    """One `transport:host:port` listen address."""

    transport: str  # udp, tcp, tls, ws
    host: str  # IPv6 without brackets
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.transport}:{host}:{self.port}"


@dataclass(slots=True)
class SmtpSettings:
    host: str | None = None
    port: int = 25
    tls: bool = False
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0


@dataclass(slots=True)
class Settings:
    """What pbx.yaml says, with defaults for everything."""

    config_dir: Path
    listen: list[ListenSpec] = field(default_factory=lambda: [
        ListenSpec("udp", "127.0.0.1", 5060), ListenSpec("tcp", "127.0.0.1", 5060)])
    listen_set: bool = False  # pbx.yaml names sip.listen (else pjsip.conf transports may)
    realm: str = "pbx"
    user_agent: str = "PBX"
    external_ip: str | None = None
    rtp_ports: tuple[int, int] = (10000, 20000)
    rtp_timeout: float = 0.0
    storage_dir: Path = Path("var")
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    # Challenges offered, in order. MD5 only by default, as Asterisk: Debian's
    # baresip 1.0 (libre) rejects a 401 that also offers SHA-256, and SIPp
    # answers the first challenge whatever it is. [SHA-256, MD5] is RFC 8760.
    digest_algorithms: tuple[str, ...] = ("MD5",)
    http_listen: str = "127.0.0.1:8088"
    sounds_path: list[str] = field(default_factory=list)
    language: str = "en"
    voicemail_retry_min: float = 30.0  # first retry of a mail the server refused
    voicemail_retry_max: float = 3600.0  # back-off doubles up to this
    # RFC 3261 timers: retransmissions start at T1 and double up to T2.
    t1: float = 0.5
    t2: float = 4.0
    # RFC 4028 session timers (what we ask for; 0: off) and the least we accept.
    session_expires: int = 1800
    min_se: int = 90
    tls: Any = None  # pbx.transport.tls.TlsFiles from sip.tls, None when not set
    log_file: Path | None = None  # log.file: the log also goes there (stdout always)
    # Calls in progress at once (Asterisk's maxcalls in asterisk.conf); 0: no limit.
    # A new call over it gets 503, as Asterisk answers it.
    max_calls: int = 0
    security: SecuritySettings = field(default_factory=SecuritySettings)

    @property
    def db_path(self) -> Path:
        return self.storage_dir / "pbx.sqlite3"


_LISTEN_RE = re.compile(r"^(udp|tcp|tls|ws|wss):(\[[0-9a-fA-F:.]+\]|[^:\[\]]+):(\d{1,5})$")


def parse_listen(text: str) -> ListenSpec:
    """Parse `udp:127.0.0.1:5060` or `tcp:[::1]:5060`; ValueError says what is wrong."""
    m = _LISTEN_RE.match(text.strip())
    if not m:
        raise ValueError(f"listen address {text!r} is not transport:host:port "
                         "(e.g. udp:127.0.0.1:5060 or udp:[::1]:5060)")
    transport, host, port = m.group(1), m.group(2).strip("[]"), int(m.group(3))
    if not 0 < port < 65536:
        raise ValueError(f"port {port} out of range 1-65535")
    return ListenSpec(transport, host, port)


class YamlDoc:
    """A YAML document with the position of every node, for file:line:col errors.

    Whatever the file holds (bytes that are not UTF-8, control characters, YAML
    errors, tags such as !!python/object, absurd nesting or alias bombs), the
    result is a diagnostic with a position, never an exception.
    """

    MAX_NODES = 10_000  # with aliases expanded: bounds the work an alias bomb can cause

    def __init__(self, path: Path, diagnostics: list[Diagnostic]) -> None:
        self.path = str(path)
        self.diagnostics = diagnostics
        self.root: yaml.Node | None = None
        try:
            raw = path.read_bytes()
        except OSError as exc:
            diagnostics.append(Diagnostic(self.path, 1, 1, f"cannot read: {exc.strerror}"))
            return
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw.count(b"\n", 0, exc.start) + 1
            col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
            diagnostics.append(Diagnostic(self.path, line, col,
                                          f"not UTF-8 text: byte 0x{raw[exc.start]:02x}"))
            return
        try:
            root = yaml.compose(text)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            diagnostics.append(Diagnostic(self.path, line, col,
                                          f"YAML syntax: {exc.problem or exc}"))
            return
        except yaml.YAMLError as exc:  # ReaderError: a character YAML does not allow
            position = getattr(exc, "position", 0) or 0
            line = text.count("\n", 0, position) + 1
            col = position - (text.rfind("\n", 0, position) + 1) + 1
            reason = getattr(exc, "reason", None) or str(exc).splitlines()[0]
            diagnostics.append(Diagnostic(self.path, line, col, f"YAML: {reason}"))
            return
        except RecursionError:
            diagnostics.append(Diagnostic(self.path, 1, 1, "YAML nested too deeply"))
            return
        if root is not None and _count_nodes(root, self.MAX_NODES) > self.MAX_NODES:
            self.error(root, f"pbx.yaml holds more than {self.MAX_NODES} values "
                             "(with aliases expanded)")
            return
        self.root = root

    def error(self, node: yaml.Node, message: str) -> None:
        self.diagnostics.append(Diagnostic(self.path, node.start_mark.line + 1,
                                           node.start_mark.column + 1, message))

    def mapping(self, node: yaml.Node | None, where: str) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        """Keys of a mapping node -> (key node, value node)."""
        if node is None or (isinstance(node, yaml.ScalarNode) and node.value in ("", "~", "null")):
            return {}
        if not isinstance(node, yaml.MappingNode):
            self.error(node, f"{where} must be a mapping")
            return {}
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for k, v in node.value:
            if not isinstance(k, yaml.ScalarNode):
                self.error(k, f"{where}: a key must be a plain name")
                continue
            out[str(k.value)] = (k, v)
        return out

    def value(self, node: yaml.Node) -> Any:
        """The Python value of a node; INVALID (after a diagnostic) if YAML cannot build it."""
        try:
            return yaml.safe_load(yaml.serialize(node))
        except (yaml.YAMLError, ValueError, TypeError, OverflowError, RecursionError) as exc:
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            self.error(node, f"cannot read this value: {problem}")
            return INVALID


INVALID: Any = object()  # YamlDoc.value of a node YAML cannot turn into a value


def _count_nodes(root: yaml.Node, limit: int) -> int:
    """Nodes reachable from ``root``, aliases counted every time (stops past ``limit``)."""
    count = 0
    stack = [root]
    while stack and count <= limit:
        node = stack.pop()
        count += 1
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                stack.append(k)
                stack.append(v)
    return count


_KNOWN_YAML = {
    "sip": {"listen", "realm", "user_agent", "external_ip", "digest_algorithms", "t1", "t2",
            "session_expires", "min_se", "tls", "max_calls"},
    "rtp": {"ports", "timeout"},
    "storage": {"dir"},
    "smtp": {"host", "port", "tls", "starttls", "username", "password", "timeout"},
    "http": {"listen"},
    "sounds": {"path", "language"},
    "voicemail": {"retry_min", "retry_max"},
    "log": {"file"},
}
_NESTED_YAML = {"security"}  # sections read by their own module


def load_settings(config_dir: Path, diagnostics: list[Diagnostic]) -> Settings:
    """Read pbx.yaml (optional: every key has a default)."""
    settings = Settings(config_dir=config_dir)
    settings.storage_dir = config_dir / "var"
    path = config_dir / "pbx.yaml"
    if not path.exists():
        return settings
    doc = YamlDoc(path, diagnostics)
    top = doc.mapping(doc.root, "pbx.yaml")
    for name, (key_node, _) in top.items():
        if name not in _KNOWN_YAML and name not in _NESTED_YAML:
            known = ", ".join([*_KNOWN_YAML, *_NESTED_YAML])
            doc.error(key_node, f"unknown section '{name}' (known: {known})")
    sections = {name: doc.mapping(top[name][1], name) if name in top else {}
                for name in _KNOWN_YAML}
    for name, keys in sections.items():
        for key, (key_node, _) in keys.items():
            if key not in _KNOWN_YAML[name]:
                doc.error(key_node, f"unknown key '{name}.{key}' "
                                    f"(known: {', '.join(sorted(_KNOWN_YAML[name]))})")

    def get(section: str, key: str, kind: type | tuple[type, ...], check=None) -> Any:
        if key not in sections[section]:
            return None
        node = sections[section][key][1]
        value = doc.value(node)
        if value is None or value is INVALID:
            return None
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            kinds = (kind,) if isinstance(kind, type) else kind
            names = " or ".join(k.__name__ for k in kinds)
            doc.error(node, f"{section}.{key} must be {names}, got {value!r}")
            return None
        if check:
            problem = check(value)
            if problem:
                doc.error(node, f"{section}.{key}: {problem}")
                return None
        return value

    listen = get("sip", "listen", (list, str))
    if listen is not None:
        node = sections["sip"]["listen"][1]
        items = [listen] if isinstance(listen, str) else listen
        specs = []
        for i, item in enumerate(items):
            item_node = node.value[i] if isinstance(node, yaml.SequenceNode) else node
            try:
                specs.append(parse_listen(str(item)))
            except ValueError as exc:
                doc.error(item_node, f"sip.listen: {exc}")
        if specs:
            settings.listen = specs
            settings.listen_set = True
    if "tls" in sections["sip"]:
        settings.tls = _load_tls(doc, sections["sip"]["tls"][1], config_dir)
    if settings.tls is None and listen is not None:
        node = sections["sip"]["listen"][1]
        for i, spec in enumerate(settings.listen):
            if spec.transport == "tls":
                item_node = node.value[i] if isinstance(node, yaml.SequenceNode) else node
                doc.error(item_node, f"sip.listen: {spec} needs a certificate: set "
                                     "sip.tls.cert and sip.tls.key (`make cert` makes a pair)")
    for key, attr in (("realm", "realm"), ("user_agent", "user_agent"),
                      ("external_ip", "external_ip")):
        value = get("sip", key, str)
        if value is not None:
            setattr(settings, attr, value)

    for key, low, high in (("t1", 0.05, 5.0), ("t2", 1.0, 32.0)):
        v = get("sip", key, (int, float),
                lambda v, lo=low, hi=high: None if lo <= v <= hi else f"must be {lo}..{hi} s")
        if v is not None:
            setattr(settings, key, float(v))
    if settings.t2 < settings.t1:
        if "t2" in sections["sip"]:
            doc.error(sections["sip"]["t2"][1], "sip.t2 must not be less than sip.t1")
        settings.t2 = settings.t1
    for key, low in (("session_expires", 90), ("min_se", 90)):
        v = get("sip", key, int,
                lambda v, lo=low: None if v == 0 or v >= lo else f"must be 0 (off) or >= {lo} s")
        if v is not None:
            setattr(settings, key, v)

    max_calls = get("sip", "max_calls", int, lambda v: None if v >= 0 else "must be >= 0")
    if max_calls is not None:
        settings.max_calls = max_calls

    def port_range(value: list) -> str | None:
        if (len(value) != 2 or not all(isinstance(v, int) for v in value)
                or not 1024 <= value[0] < value[1] <= 65535):
            return "must be [low, high] with 1024 <= low < high <= 65535"
        if value[1] - value[0] < 1:
            return "range holds no even/odd port pair"
        return None

    def algorithms(value: list) -> str | None:
        bad = [v for v in value if str(v).upper() not in ("MD5", "SHA-256")]
        return f"unknown algorithm {bad[0]!r} (use MD5, SHA-256)" if bad or not value else None

    algos = get("sip", "digest_algorithms", list, algorithms)
    if algos is not None:
        settings.digest_algorithms = tuple(str(a).upper() for a in algos)
    ports = get("rtp", "ports", list, port_range)
    if ports is not None:
        settings.rtp_ports = (int(ports[0]), int(ports[1]))
    timeout = get("rtp", "timeout", (int, float), lambda v: "must be >= 0" if v < 0 else None)
    if timeout is not None:
        settings.rtp_timeout = float(timeout)
    storage = get("storage", "dir", str)
    if storage is not None:
        p = Path(storage)
        settings.storage_dir = p if p.is_absolute() else config_dir / p
    smtp = settings.smtp
    smtp.host = get("smtp", "host", str)
    for key in ("port",):
        v = get("smtp", key, int, lambda v: None if 0 < v < 65536 else "port out of range")
        if v is not None:
            smtp.port = v
    for key in ("tls", "starttls"):
        v = get("smtp", key, bool)
        if v is not None:
            setattr(smtp, key, v)
    for key in ("username", "password"):
        v = get("smtp", key, (str, int))
        if v is not None:
            setattr(smtp, key, str(v))
    v = get("smtp", "timeout", (int, float))
    if v is not None:
        smtp.timeout = float(v)
    http = get("http", "listen", str, _check_hostport)
    if http is not None:
        settings.http_listen = http
    sounds = get("sounds", "path", (list, str))
    if sounds is not None:
        items = [sounds] if isinstance(sounds, str) else [str(s) for s in sounds]
        settings.sounds_path = [s if Path(s).is_absolute() else str(config_dir / s) for s in items]
    language = get("sounds", "language", str)
    if language:
        settings.language = language
    for key in ("retry_min", "retry_max"):
        v = get("voicemail", key, (int, float), lambda v: "must be > 0" if v <= 0 else None)
        if v is not None:
            setattr(settings, f"voicemail_{key}", float(v))
    log_file = get("log", "file", str, lambda v: _log_file_problem(config_dir, v))
    if log_file is not None:
        settings.log_file = _relative(config_dir, log_file)
    if "security" in top:
        from pbx.security.settings import load_security

        settings.security = load_security(doc, top["security"][1], config_dir)
    return settings


_TLS_KEYS = ("cert", "key", "ca", "verify_server")


def _load_tls(doc: YamlDoc, node: yaml.Node, config_dir: Path) -> Any:
    """`sip.tls: {cert, key, ca, verify_server}` -> TlsFiles (None on any error)."""
    from pbx.transport.tls import TlsFiles, check_files

    keys = doc.mapping(node, "sip.tls")
    ok = True
    for key, (key_node, _) in keys.items():
        if key not in _TLS_KEYS:
            doc.error(key_node, f"unknown key 'sip.tls.{key}' (known: {', '.join(_TLS_KEYS)})")
            ok = False
    paths: dict[str, Path] = {}
    for key in ("cert", "key", "ca"):
        if key not in keys:
            if key != "ca" and keys:
                doc.error(node, f"sip.tls needs '{key}' (a PEM file)")
                ok = False
            continue
        value_node = keys[key][1]
        value = doc.value(value_node)
        if not isinstance(value, str) or not value:
            doc.error(value_node, f"sip.tls.{key} must be a file path, got {value!r}")
            ok = False
            continue
        p = Path(value)
        paths[key] = p if p.is_absolute() else config_dir / p
        if not paths[key].is_file():
            doc.error(value_node, f"sip.tls.{key}: {paths[key]} not found")
            ok = False
    verify = True
    if "verify_server" in keys:
        value_node = keys["verify_server"][1]
        value = doc.value(value_node)
        if not isinstance(value, bool):
            doc.error(value_node, f"sip.tls.verify_server must be true or false, got {value!r}")
            ok = False
        else:
            verify = value
    if not ok or "cert" not in paths:
        return None
    files = TlsFiles(paths["cert"], paths["key"], paths.get("ca"), verify)
    problem = check_files(files)
    if problem is not None:
        doc.error(keys["cert"][1], f"sip.tls: {problem}")
        return None
    return files
def _relative(config_dir: Path, text: str) -> Path:
    p = Path(text).expanduser()
    return p if p.is_absolute() else config_dir / p


def _log_file_problem(config_dir: Path, text: str) -> str | None:
    """Why the log file cannot be written, without creating anything (`pbx check`)."""
    if not text.strip():
        return "must name a file, e.g. var/log/pbx.log"
    path = _relative(config_dir, text)
    if path.is_dir():
        return f"{path} is a directory, not a file"
    if path.exists():
        return None if os.access(path, os.W_OK) else f"{path} is not writable"
    parent = path.parent
    while not parent.exists():  # the missing folders are created at start-up
        parent = parent.parent
    if not parent.is_dir():
        return f"{parent} is not a directory"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"cannot create {path}: {parent} is not writable"
    return None


def _check_hostport(value: str) -> str | None:
    """`host:port` for the management endpoint ([::1]:8088 for IPv6)."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        return f"{value!r} is not host:port (e.g. 127.0.0.1:8088)"
    host = host.strip("[]")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?", host):
            return f"{host!r} is not an address or host name"
    return None


# --- sip.conf ---------------------------------------------------------------

def _yes(value: str) -> bool:
    return value.strip().lower() in ("yes", "true", "y", "t", "1", "on")


_BOOL_WORDS = {"yes", "no", "true", "false", "y", "n", "t", "f", "1", "0", "on", "off"}


@dataclass(slots=True)
class SipGeneral:
    context: str = "default"
    allowguest: bool = False
    alwaysauthreject: bool = True
    realm: str | None = None
    defaultexpiry: int = 120
    minexpiry: int = 60
    maxexpiry: int = 3600
    qualifyfreq: int = 60
    qualify: bool = False
    useragent: str | None = None
    rtptimeout: int = 0
    # outbound registrations (chan_sip names): retry every registertimeout seconds,
    # registerattempts tries (0: forever), a 403 retried only with register_retry_403
    registertimeout: int = 20
    registerattempts: int = 0
    register_retry_403: bool = False
    outboundproxy: str | None = None
    # allow=/disallow= of [general]: what peers start from (pbx/codec_prefs.py)
    codecs: list[str] = field(default_factory=lambda: list(DEFAULT_CODECS))
    # [general] nat=: (force_rport, rewrite_contact, rtp_symmetric) every peer starts from
    nat_flags: tuple[bool, bool, bool] | None = None
    # office features (pbx/office_conf.py): peers start from these
    subscribecontext: str | None = None
    allowsubscribe: bool = True
    accept_outofcall_message: bool = True
    outofcall_message_context: str | None = None
    # permit/deny/acl in [general]: who may send SIP at all (pjsip's type=acl); others
    # are dropped unread. Empty: everyone.
    acls: tuple[Acl, ...] = ()
    # udpbindaddr, tcpenable... (pbx/sip_conf_bind.py): key -> its entry
    binds: dict[str, Entry] = field(default_factory=dict)


@dataclass(slots=True)
class Peer:
    """A [section] of sip.conf: an extension's phone, or a trunk."""

    name: str
    type: str = "friend"
    secret: str | None = None
    md5secret: str | None = None
    context: str = "default"
    host: str = "dynamic"  # or an address
    port: int = 5060
    transport: str = "udp"
    callerid: CallerId = field(default_factory=CallerId)
    mailbox: str | None = None
    qualify: bool = False
    qualify_ms: int = 2000  # qualify=<ms> sets the reachability limit
    defaultuser: str | None = None
    fromuser: str | None = None
    fromdomain: str | None = None
    # Asterisk codec names in preference order, from allow=/disallow= (sip.conf
    # peer or pjsip.conf endpoint; pbx/codec_prefs.py has the rules).
    codecs: list[str] = field(default_factory=lambda: list(DEFAULT_CODECS))
    dtmfmode: str = "rfc2833"
    language: str | None = None
    tonezone: str | None = None  # indications.conf country of its calls' tones (tonezone=)
    # --- trunks (issue 11): both loaders fill these; types in pbx/sip_model.py ---
    tech: str = "SIP"  # SIP (sip.conf) or PJSIP (pjsip.conf)
    auth_username: str | None = None  # username of its inbound digest; None: the name
    remotesecret: str | None = None
    outbound_auth: OutboundAuth | None = None  # answers this peer's 401/407 (UAC)
    insecure: frozenset[str] = frozenset()  # {"port", "invite"}: sip.conf insecure=
    outbound_proxy: str | None = None  # sip:host[:port] requests to this peer go through
    send_pai: bool = False  # P-Asserted-Identity on calls to it (sendrpid=pai, send_pai)
    send_rpid: bool = False  # Remote-Party-ID (sendrpid=yes|rpid, send_rpid)
    trust_id_inbound: bool = False  # take caller ID from its PAI/RPID (trustrpid)
    call_limit: int | None = None  # concurrent calls (call-limit); None: no limit
    force_rport: bool = True  # nat=force_rport (chan_sip's and pjsip's default)
    rewrite_contact: bool = False  # reach it at the REGISTER's source (nat=yes)
    rtp_symmetric: bool = False  # send RTP where its RTP comes from (nat=comedia)
    direct_media: bool = True
    match: list[IpNetwork] = field(default_factory=list)  # identify: source networks
    contacts: list[str] = field(default_factory=list)  # static contact URIs (pjsip aor)
    aors: list[str] = field(default_factory=list)  # what devices register as; []: [name]
    max_contacts: int = 20
    remove_existing: bool = False  # a new contact over max_contacts replaces the oldest
    qualify_frequency: int | None = None  # seconds; None: [general] qualifyfreq
    call_group: str | None = None
    pickup_group: str | None = None
    # --- office features (pbx/office_conf.py reads these keys) ---
    named_call_group: str | None = None  # namedcallgroup / named_call_group
    named_pickup_group: str | None = None
    subscribe_context: str | None = None  # where SUBSCRIBE finds hints; None: context
    allow_subscribe: bool = True
    message_context: str | None = None  # where MESSAGE runs; None: context
    busy_level: int | None = None  # busylevel / device_state_busy_at
    # Music on hold: the class the other party hears when this peer holds
    # (mohsuggest, pjsip moh_suggest), the class this peer hears by default
    # (mohinterpret), and pjsip's moh_passthrough (pass the hold on instead).
    mohsuggest: str | None = None
    mohinterpret: str | None = None
    moh_passthrough: bool = False
    # "sdes": SRTP required on this peer's calls (sip.conf encryption=yes,
    # pjsip.conf media_encryption=sdes); "no": plain RTP offered, SRTP accepted.
    media_encryption: str = "no"
    file: str = ""
    line: int = 0
    # permit/deny/acl: addresses this peer may register and call from (Asterisk's
    # per-peer ACL); every list must allow. Empty: anywhere.
    acls: tuple[Acl, ...] = ()
    file: str = ""
    line: int = 0
    col: int = 1
    # qualify results for a static host= peer (dynamic peers keep them per binding)
    reachable: bool | None = None
    rtt_ms: float | None = None
    last_qualify: float = 0.0

    @property
    def authenticates(self) -> bool:
        """It has a password, so its requests are challenged: secret=, or md5secret=
        (MD5 of name:realm:secret, as Asterisk's; it answers MD5 digests only)."""
        return bool(self.secret or self.md5secret)

    @property
    def dynamic(self) -> bool:
        return self.host == "dynamic"

    @property
    def can_call(self) -> bool:
        """type=user/friend may place calls to us."""
        return self.type in ("friend", "user")

    @property
    def can_be_called(self) -> bool:
        return self.type in ("friend", "peer")

    @property
    def busy_at(self) -> int | None:
        """In-use calls that make the device BUSY (busylevel, else call-limit)."""
        return self.busy_level or self.call_limit

    @property
    def requires_srtp(self) -> bool:
        """Calls to and from this peer must use SRTP (488 to a plain RTP offer)."""
        return self.media_encryption == "sdes"


@dataclass(slots=True)
class SipConfig:
    general: SipGeneral = field(default_factory=SipGeneral)
    peers: dict[str, Peer] = field(default_factory=dict)
    registrations: dict[str, Registration] = field(default_factory=dict)
    transports: dict[str, TransportSpec] = field(default_factory=dict)  # pjsip.conf
    nat: NatSettings = field(default_factory=NatSettings)  # sip.conf [general]
    _by_host: dict[str, list[Peer]] | None = None
    _by_aor: dict[str, Peer] | None = None
    _by_auth: dict[str, Peer] | None = None
    _matches: list[tuple[IpNetwork, Peer]] | None = None

    def peer_for_aor(self, aor: str) -> Peer | None:
        """The peer/endpoint a REGISTER's To user belongs to (pjsip: one of its aors)."""
        if self._by_aor is None:
            self._by_aor = {}
            for peer in self.peers.values():
                for name in peer.aors or [peer.name]:
                    self._by_aor.setdefault(name, peer)
        return self._by_aor.get(aor)

    def peer_by_auth_user(self, username: str) -> Peer | None:
        """The peer whose inbound digest username is ``username``."""
        if self._by_auth is None:
            self._by_auth = {}
            for peer in self.peers.values():
                self._by_auth.setdefault(peer.auth_username or peer.name, peer)
        return self._by_auth.get(username)

    def peer_by_address(self, host: str, port: int) -> Peer | None:
        """A `host=<address>` peer matching a source address (port optional match)."""
        if self._by_host is None:
            # Indexed once: every INVITE from a non-peer asks (1,000-peer configs).
            self._by_host = {}
            for peer in self.peers.values():
                if not peer.dynamic and peer.can_call:
                    self._by_host.setdefault(peer.host, []).append(peer)
        candidates = self._by_host.get(host)
        if not candidates:
            return self._peer_by_match(host)
        return next((p for p in candidates if p.port == port), candidates[0])

    def _peer_by_match(self, host: str) -> Peer | None:
        """pjsip `identify` match= networks: the most specific network wins."""
        if self._matches is None:
            # Most specific first, built once: most sources match nothing, and
            # a 1,000-peer config must not cost 1,000 checks per INVITE.
            self._matches = sorted(((net, peer) for peer in self.peers.values()
                                    for net in peer.match), key=lambda e: -e[0].prefixlen)
        if not self._matches:
            return None
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return None
        return next((peer for net, peer in self._matches if ip in net), None)


_CALLERID_RE = re.compile(r'^\s*(?:"(?P<q>[^"]*)"|(?P<n>[^<]*?))\s*(?:<(?P<num>[^>]*)>)?\s*$')


def parse_callerid(text: str) -> CallerId:
    """`"Name" <num>`, `Name <num>`, `<num>` or a bare number."""
    m = _CALLERID_RE.match(text)
    if not m:
        return CallerId(name=text.strip())
    name = m.group("q") if m.group("q") is not None else (m.group("n") or "").strip()
    num = m.group("num")
    if num is None:
        # A bare value is a number if it looks like one, else a name.
        if re.fullmatch(r"[+\d*#]+", name):
            return CallerId(num=name, name="")
        return CallerId(num="", name=name)
    return CallerId(num=num.strip(), name=name)


_PEER_KEYS = {
    "type", "secret", "md5secret", "remotesecret", "context", "host", "port", "transport",
    "callerid", "mailbox", "qualify", "qualifyfreq", "defaultuser", "username", "fromuser",
    "fromdomain", "allow", "disallow", "dtmfmode", "language", "nat", "canreinvite",
    "directmedia", "insecure", "call-limit", "callcounter", "busylevel", "subscribecontext",
    "trustrpid", "sendrpid", "videosupport", "defaultip", "deny", "permit", "acl",
    "accountcode", "amaflags", "callgroup", "pickupgroup", "namedcallgroup",
    "namedpickupgroup", "allowtransfer", "description", "encryption", "avpf", "icesupport",
    "force_avp", "dtlsenable", "rtptimeout", "rtpholdtimeout", "session-timers",
    "t38pt_udptl", "outboundproxy", "setvar", "cid_number", "fullname", "hasvoicemail",
    "vmexten", "mohsuggest", "mohinterpret", "progressinband", "promiscredir",
    "useclientcode", "registertrying", "regexten", "rfc2833compensate", "ignoresdpversion",
    "allowsubscribe", "auth", "autoframing", "directrtpsetup", "g726nonstandard", "parkinglot",
    "subscribemwi", "timert1", "timerb", "maxcallbitrate", "supportpath", "qualifygap",
    "qualifypeers", "lang", "tonezone",
}

_GENERAL_INT = {"defaultexpiry", "minexpiry", "maxexpiry", "qualifyfreq", "rtptimeout"}
_GENERAL_BOOL = {"allowguest", "alwaysauthreject", "qualify"}


def load_sip_conf(path: Path, diagnostics: list[Diagnostic],
                  named_acls: dict[str, Acl] | None = None) -> SipConfig:
    """Read sip.conf as chan_sip users write it (`acl=` names come from acl.conf)."""
    named_acls = named_acls or {}
    config = SipConfig()
    if not path.exists():
        diagnostics.append(Diagnostic(str(path), 1, 1, "sip.conf not found", "warning"))
        return config
    conf = read_conf(path, diagnostics)
    general = conf.section("general")
    if general is not None:
        _load_general(general, config.general, diagnostics, named_acls)
        trunk.load_general_trunk_keys(general, config, diagnostics)
    for section in conf.sections:
        if section.name == "general" or section.is_template:
            continue
        if section.name in ("authentication",):
            continue
        peer = _load_peer(section, config.general, diagnostics, named_acls)
        if peer is None:
            continue
        if peer.name in config.peers:
            first = config.peers[peer.name]
            diagnostics.append(Diagnostic(section.file, section.line, section.col,
                                          f"peer [{peer.name}] defined twice "
                                          f"(first at {first.file}:{first.line})"))
            continue
        config.peers[peer.name] = peer
    return config


def _load_general(section: Section, general: SipGeneral, diagnostics: list[Diagnostic],
                  named_acls: dict[str, Acl]) -> None:
    from pbx.security.aclconf import AclBuilder
    from pbx.sip_conf_bind import BIND_KEYS

    acl = AclBuilder(named_acls, diagnostics)
    for entry in section.entries:
        key = entry.key
        if key in ("permit", "deny", "acl"):
            acl.add(entry)
        elif key in BIND_KEYS:
            general.binds[key] = entry
        elif key in _GENERAL_INT:
            value = _int(entry, diagnostics)
            if value is not None:
                setattr(general, key, value)
        elif key in _GENERAL_BOOL:
            if _bool_ok(entry, diagnostics):
                setattr(general, key, _yes(entry.value))
        elif key == "context":
            general.context = entry.value
        elif key == "realm":
            general.realm = entry.value or None
        elif key == "useragent":
            general.useragent = entry.value
        elif key in ("allow", "disallow"):
            update_codecs(general.codecs, entry, diagnostics)
        elif key in office.SIP_GENERAL_KEYS:
            office.apply_sip_general_key(general, entry, diagnostics)
    general.acls = acl.result()
    if general.minexpiry > general.maxexpiry:
        entry = section.entry("minexpiry")
        if entry:
            diagnostics.append(entry.diag(f"minexpiry ({general.minexpiry}) is greater than "
                                          f"maxexpiry ({general.maxexpiry})"))


def _int(entry: Entry, diagnostics: list[Diagnostic]) -> int | None:
    try:
        value = int(entry.value)
    except ValueError:
        diagnostics.append(entry.diag(f"{entry.key} must be a whole number, got {entry.value!r}"))
        return None
    if value < 0:
        diagnostics.append(entry.diag(f"{entry.key} must not be negative"))
        return None
    return value


def _bool_ok(entry: Entry, diagnostics: list[Diagnostic]) -> bool:
    if entry.value.strip().lower() not in _BOOL_WORDS:
        diagnostics.append(entry.diag(f"{entry.key} must be yes or no, got {entry.value!r}"))
        return False
    return True


def _load_peer(section: Section, general: SipGeneral, diagnostics: list[Diagnostic],
               named_acls: dict[str, Acl]) -> Peer | None:
    from pbx.security.aclconf import AclBuilder

    peer = Peer(name=section.name, context=general.context, qualify=general.qualify,
                file=section.file, line=section.line, col=section.col,
                codecs=list(general.codecs))
    trunk.start_peer(peer, general)
    office.start_sip_peer(peer, general)
    acl = AclBuilder(named_acls, diagnostics)
    for entry in section.entries:
        key, value = entry.key, entry.value
        if key in ("permit", "deny", "acl"):
            acl.add(entry)
            continue
        if key in office.SIP_PEER_KEYS:  # groups, subscriptions, messages: pbx/office_conf.py
            office.apply_sip_peer_key(peer, entry, diagnostics)
            continue
        if key not in _PEER_KEYS:
            diagnostics.append(entry.diag(f"unknown option '{key}' in [{section.name}]",
                                          on_value=False, severity="warning"))
            continue
        if key in trunk.TRUNK_PEER_KEYS:  # trunk and NAT keys: pbx/sip_conf_trunk.py
            trunk.apply_peer_key(peer, entry, diagnostics)
            continue
        if key in trunk.UNUSED_PEER_KEYS:
            diagnostics.append(trunk.unused_peer_key(entry, section.name))
            continue
        if key == "type":
            if value not in ("friend", "peer", "user"):
                diagnostics.append(entry.diag(f"type must be friend, peer or user, got {value!r}"))
                continue
            peer.type = value
        elif key == "secret":
            peer.secret = value
        elif key == "md5secret":
            peer.md5secret = value
        elif key == "context":
            peer.context = value
        elif key == "host":
            if value != "dynamic" and not _valid_host(value):
                diagnostics.append(entry.diag(f"host must be 'dynamic' or an address, "
                                              f"got {value!r}"))
                continue
            peer.host = value.strip("[]")
        elif key == "port":
            port = _int(entry, diagnostics)
            if port is not None:
                if not 0 < port < 65536:
                    diagnostics.append(entry.diag(f"port {port} out of range 1-65535"))
                else:
                    peer.port = port
        elif key == "transport":
            first = value.split(",")[0].strip().lower()
            if first not in ("udp", "tcp", "tls", "ws", "wss"):
                diagnostics.append(entry.diag(f"unknown transport {value!r}"))
            else:
                peer.transport = first
        elif key == "callerid":
            peer.callerid = parse_callerid(value)
        elif key == "mailbox":
            peer.mailbox = value or None
        elif key == "qualify":
            low = value.lower()
            if low.isdigit():
                peer.qualify = int(low) > 0
                peer.qualify_ms = int(low) or peer.qualify_ms
            elif _bool_ok(entry, diagnostics):
                peer.qualify = _yes(value)
        elif key in ("defaultuser", "username"):
            peer.defaultuser = value
        elif key == "fromuser":
            peer.fromuser = value
        elif key == "fromdomain":
            peer.fromdomain = value
        elif key in ("allow", "disallow"):
            update_codecs(peer.codecs, entry, diagnostics)
        elif key == "language":
            peer.language = value
        elif key == "tonezone":
            peer.tonezone = value.strip().lower() or None
        elif key in ("mohsuggest", "mohinterpret"):
            setattr(peer, key, value or None)
        elif key == "encryption" and _bool_ok(entry, diagnostics):
            peer.media_encryption = "sdes" if _yes(value) else "no"
    if peer.transport == "tls" and section.entry("port") is None:
        peer.port = 5061  # the sips: port (RFC 3261 sec. 19.1.2), as Asterisk defaults
    if not peer.codecs:
        entry = section.entry("disallow") or section.entry("allow")
        where = (entry.line, entry.col) if entry else (section.line, section.col)
        diagnostics.append(Diagnostic(section.file, *where,
                                      f"[{peer.name}] allows no codec this PBX supports: every "
                                      "call to or from it fails with 488", "warning"))
    peer.acls = acl.result()
    trunk.finish_peer(peer)
    if peer.dynamic and peer.can_call and not peer.authenticates:
        # Asterisk accepts this too (anyone may register as this name); say so.
        diagnostics.append(Diagnostic(section.file, section.line, section.col,
                                      f"[{peer.name}] has no secret: any device may register "
                                      "and call as this peer", "warning"))
    return peer


def _valid_host(value: str) -> bool:
    host = value.strip("[]")
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return bool(re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?", host))


def _check_registrations(sip: SipConfig, diagnostics: list[Diagnostic]) -> None:
    """A registration's endpoint (sip.conf `peer?`, pjsip endpoint=) must exist."""
    for reg in sip.registrations.values():
        if reg.endpoint is not None and reg.endpoint not in sip.peers:
            diagnostics.append(Diagnostic(reg.file, reg.lineno, reg.col,
                                          f"registration {reg.name} names peer "
                                          f"'{reg.endpoint}' which is not defined"))


# --- everything -------------------------------------------------------------

@dataclass(slots=True)
class Config:
    settings: Settings
    sip: SipConfig
    dialplan: Any = None  # dialplan.model.Dialplan
    voicemail: Any = None  # voicemail.config.VoicemailConfig
    queues: Any = None  # pbx.queue.config.QueuesConfig (None without queues.conf)
    indications: Any = None  # pbx.indications.Indications; None: no indications.conf
    confbridge: Any = None  # pbx.conference.config.ConfBridgeConfig (defaults without the file)
    parking: Any = None  # pbx.parking_conf.ParkingConfig (res_parking.conf)
    warnings: list[Diagnostic] = field(default_factory=list)
    prompts: list[tuple[str, str, float]] = field(default_factory=list)  # (name, file, s)
    strict: bool = True  # how it was loaded: a reload keeps the same rule
    features: FeaturesConfig = field(default_factory=FeaturesConfig)  # features.conf
    moh: Any = None  # pbx.moh_conf.MohConfig: musiconhold.conf's classes
    acls: dict[str, Acl] = field(default_factory=dict)  # acl.conf's named ACLs
    trusted: tuple[Acl, ...] = ()  # security.trusted: never banned nor rate-limited

    @property
    def realm(self) -> str:
        return self.sip.general.realm or self.settings.realm


def _load_queues(config_dir: Path, config: Config, diagnostics: list[Diagnostic]) -> None:
    """queues.conf (call queues) when there is one; Queue() names checked against it."""
    from pbx.queue.config import check_references, load_queues_conf

    path = config_dir / "queues.conf"
    if path.exists():
        config.queues = load_queues_conf(path, diagnostics)
    moh_classes = config.moh.classes if config.moh is not None else None
    diagnostics.extend(check_references(config.queues, config.dialplan, config.sip.peers,
                                        moh_classes))


def load_config(config_dir: str | Path, *, strict: bool = True) -> Config:
    """Load and check every file of the config dir; raise ConfigError on any error.

    With `strict=False` (`pbx run` without --strict) the errors Asterisk loads
    anyway (Diagnostic.loadable: an unknown application, an include of a
    missing context, ...) become warnings, so only the calls reaching them fail."""
    config_dir = Path(config_dir)
    diagnostics: list[Diagnostic] = []
    if not config_dir.is_dir():
        raise ConfigError([Diagnostic(str(config_dir), 1, 1, "configuration folder not found")])
    settings = load_settings(config_dir, diagnostics)
    from pbx.security.aclconf import load_acl_conf

    acls = load_acl_conf(config_dir / "acl.conf", diagnostics)
    pjsip_path = config_dir / "pjsip.conf"
    if pjsip_path.exists() and not (config_dir / "sip.conf").exists():
        sip = SipConfig()  # pjsip.conf alone is a whole configuration
    else:
        sip = load_sip_conf(config_dir / "sip.conf", diagnostics, acls)
    # Without sip.listen the PBX listens where Asterisk's files say: sip.conf's bind
    # keys and pjsip.conf's transports (else its loopback default).
    binds: list[ListenSpec] = []
    if not settings.listen_set:
        from pbx.sip_conf_bind import sip_conf_listen

        binds = sip_conf_listen(sip.general.binds, settings.tls is not None, diagnostics)
    if pjsip_path.exists():
        from pbx.pjsip_conf import load_pjsip_conf, merge_into

        pjsip = load_pjsip_conf(pjsip_path, diagnostics)
        if not settings.listen_set and pjsip.transports:
            from pbx.pjsip_conf import transport_listen

            binds += [spec for spec in transport_listen(
                pjsip.transports, settings.tls is not None, diagnostics) if spec not in binds]
        merge_into(sip, pjsip, [str(s) for s in settings.listen] if settings.listen_set
                   else None, diagnostics)
    if binds:
        settings.listen = binds
    _check_registrations(sip, diagnostics)
    config = Config(settings=settings, sip=sip, acls=acls,
                    trusted=_trusted_acls(settings, acls, config_dir, diagnostics))
    config.features = load_features_conf(config_dir / "features.conf", diagnostics)
    if (config_dir / "indications.conf").exists():
        from pbx.indications import load_indications

        config.indications = load_indications(config_dir / "indications.conf", diagnostics)
    from pbx.moh_conf import check_peer_classes, load_moh_conf

    config.moh = load_moh_conf(config_dir / "musiconhold.conf", diagnostics)
    diagnostics.extend(check_peer_classes(config.moh, sip.peers))
    from pbx.parking_conf import load_res_parking_conf

    # Before the dialplan: a lot's extensions are part of it (include => parkedcalls).
    config.parking = load_res_parking_conf(config_dir / "res_parking.conf", diagnostics)
    from pbx.dialplan_loader import load_dialplan  # late: dialplan imports are heavier

    config.dialplan = load_dialplan(config_dir, config, diagnostics)
    try:
        from voicemail.config import load_voicemail_conf
    except ImportError:  # voicemail package not built yet
        load_voicemail_conf = None
    if load_voicemail_conf is not None and (config_dir / "voicemail.conf").exists():
        config.voicemail = load_voicemail_conf(config_dir / "voicemail.conf", diagnostics)
        from voicemail.config import check_references

        diagnostics.extend(check_references(config.voicemail, config.dialplan, sip.peers))
    _load_queues(config_dir, config, diagnostics)
    if config.dialplan is not None:
        from pbx.ivr_checks import check_ivr_apps

        diagnostics.extend(check_ivr_apps(config))
    from pbx.security.exposure import insecure_problems, stored_pins, toll_fraud_warnings

    diagnostics.extend(insecure_problems(config, stored_pins(settings.db_path)))
    diagnostics.extend(toll_fraud_warnings(config))
    from pbx.conference.config import load_confbridge

    config.confbridge = load_confbridge(config_dir, config.dialplan, diagnostics)
    if not strict:
        diagnostics = tolerate(diagnostics)
    # A template's line is checked once for each section built from it: say it once.
    diagnostics = list({str(d): d for d in diagnostics}.values())
    errors = [d for d in diagnostics if d.severity == "error"]
    config.warnings = [d for d in diagnostics if d.severity != "error"]
    config.strict = strict
    if errors:
        raise ConfigError(diagnostics)
    return config


def _trusted_acls(settings: Settings, acls: dict[str, Acl], config_dir: Path,
                  diagnostics: list[Diagnostic]) -> tuple[Acl, ...]:
    """security.trusted as ACLs: its networks as one list, each acl.conf name as another."""
    from pbx.security.acl import AclRule, parse_network

    path = str(config_dir / "pbx.yaml")
    rules: list[AclRule] = []
    lists: list[Acl] = []
    for entry in settings.security.trusted:
        if entry.acl_name is None:
            rules.append(AclRule(True, parse_network(entry.text)))
        elif entry.acl_name in acls:
            lists.append(acls[entry.acl_name])
        else:
            known = ", ".join(sorted(acls)) or "acl.conf defines none"
            diagnostics.append(Diagnostic(path, entry.line, entry.col,
                                          f"security.trusted: {entry.text!r} is neither a "
                                          f"network nor an ACL of acl.conf ({known})"))
    return ((Acl(rules, "security.trusted"),) if rules else ()) + tuple(lists)
