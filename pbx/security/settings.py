"""pbx.yaml's `security:` section: ban thresholds, trusted networks, input limits.

Every default is chosen in README "Securing your PBX" (with the reasons).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pbx.security.acl import AclError, parse_network
from pbx.security.banlist import BanPolicy

if TYPE_CHECKING:
    import yaml

    from pbx.config import YamlDoc

__all__ = ["InputLimits", "SecuritySettings", "TrustedEntry", "load_security"]


@dataclass(frozen=True, slots=True)
class InputLimits:
    """What one message or one connection may cost (pbx.yaml `security.limits`)."""

    max_message_size: int = 65535  # bytes; larger: 513 (TCP: then the connection closes)
    max_headers: int = 200  # header lines; 70 hops of Via + Record-Route stay below
    max_header_line: int = 16384  # bytes of one header line (folded lines count together)
    tcp_per_source: int = 64  # open TCP connections from one address (trusted: no limit)
    tcp_total: int = 2048  # open TCP connections in all
    message_timeout: float = 10.0  # s from a message's first byte to its last (slowloris)
    tcp_idle: float = 600.0  # s without a byte before a TCP connection is closed


@dataclass(frozen=True, slots=True)
class TrustedEntry:
    """One `security.trusted` item: a network, or the name of an acl.conf ACL."""

    text: str
    line: int
    col: int
    acl_name: str | None = None  # set when the item names an acl.conf section


@dataclass(slots=True)
class SecuritySettings:
    allow_insecure: bool = False
    trusted: list[TrustedEntry] = field(default_factory=list)
    ban: BanPolicy = field(default_factory=BanPolicy)
    limits: InputLimits = field(default_factory=InputLimits)
    log_file: Path | None = None


_BAN_KEYS = {"enabled": bool, "time": float, "auth_failures": int, "auth_window": float,
             "rate": float, "rate_window": float}
_LIMIT_KEYS = {"max_message_size": int, "max_headers": int, "max_header_line": int,
               "tcp_per_source": int, "tcp_total": int, "message_timeout": float,
               "tcp_idle": float}
_MINIMUM = {"max_message_size": 1024, "max_headers": 10, "max_header_line": 256}
_MAXIMUM = {"max_message_size": 65535}  # the parser's own cap (the largest UDP datagram)
KNOWN_KEYS = {"allow_insecure", "trusted", "ban", "limits", "log_file"}


def load_security(doc: YamlDoc, node: yaml.Node | None, config_dir: Path) -> SecuritySettings:
    """Read `security:`; problems go to the document's diagnostics with file:line:col."""
    out = SecuritySettings()
    keys = doc.mapping(node, "security")
    for key, (key_node, _) in keys.items():
        if key not in KNOWN_KEYS:
            doc.error(key_node, f"unknown key 'security.{key}' (known: "
                                f"{', '.join(sorted(KNOWN_KEYS))})")
    if "allow_insecure" in keys:
        value = doc.value(keys["allow_insecure"][1])
        if isinstance(value, bool):
            out.allow_insecure = value
        elif value is not None:
            doc.error(keys["allow_insecure"][1], "security.allow_insecure must be true or false")
    if "trusted" in keys:
        out.trusted = _trusted(doc, keys["trusted"][1])
    if "log_file" in keys:
        value = doc.value(keys["log_file"][1])
        if isinstance(value, str) and value:
            path = Path(value)
            out.log_file = path if path.is_absolute() else config_dir / path
        elif value is not None:
            doc.error(keys["log_file"][1], "security.log_file must be a file path")
    if "ban" in keys:
        out.ban = BanPolicy(**_numbers(doc, keys["ban"][1], "security.ban", _BAN_KEYS))
    if "limits" in keys:
        out.limits = InputLimits(**_numbers(doc, keys["limits"][1], "security.limits",
                                            _LIMIT_KEYS))
    return out


def _trusted(doc: YamlDoc, node: yaml.Node) -> list[TrustedEntry]:
    import yaml

    items = node.value if isinstance(node, yaml.SequenceNode) else [node]
    out: list[TrustedEntry] = []
    for item in items:
        if not isinstance(item, yaml.ScalarNode) or not str(item.value).strip():
            doc.error(item, "security.trusted: each item is a network (10.0.0.0/8, "
                            "192.168.1.0/255.255.255.0, 2001:db8::/32) or an acl.conf name")
            continue
        text = str(item.value).strip()
        line, col = item.start_mark.line + 1, item.start_mark.column + 1
        try:
            parse_network(text)
        except AclError as exc:
            if text.replace("-", "").replace("_", "").isalnum() and not text[0].isdigit():
                out.append(TrustedEntry(text, line, col, acl_name=text))
            else:
                doc.error(item, f"security.trusted: {exc}")
            continue
        out.append(TrustedEntry(text, line, col))
    return out


def _numbers(doc: YamlDoc, node: yaml.Node, where: str, kinds: dict[str, type]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, (key_node, value_node) in doc.mapping(node, where).items():
        kind = kinds.get(key)
        if kind is None:
            doc.error(key_node, f"unknown key '{where}.{key}' (known: "
                                f"{', '.join(sorted(kinds))})")
            continue
        value = doc.value(value_node)
        if value is None:
            continue
        if kind is bool:
            if not isinstance(value, bool):
                doc.error(value_node, f"{where}.{key} must be true or false")
                continue
        elif isinstance(value, bool) or not isinstance(value, (int, float)) or (
                kind is int and not isinstance(value, int)):
            doc.error(value_node, f"{where}.{key} must be a "
                                  f"{'whole number' if kind is int else 'number'}, got {value!r}")
            continue
        elif value <= 0 or value != value or value == float("inf"):
            doc.error(value_node, f"{where}.{key} must be greater than 0")
            continue
        elif value < _MINIMUM.get(key, 0):
            doc.error(value_node, f"{where}.{key} must be at least {_MINIMUM[key]}")
            continue
        elif value > _MAXIMUM.get(key, value):
            doc.error(value_node, f"{where}.{key} must be at most {_MAXIMUM[key]}")
            continue
        values[key] = kind(value)
    return values
