"""Asterisk's access control lists: ordered `permit`/`deny` rules (main/acl.c).

A pure model, shared by sip.conf (`permit`, `deny`, `acl=` per peer and in
[general]), acl.conf's named lists, pjsip.conf (`identify` matches, `type=acl`)
and pbx.yaml's `security.trusted`.

Semantics are Asterisk's `ast_apply_ha`: rules are tried in the order written
and the *last* one matching the address decides; an address no rule matches is
allowed. Several lists apply together (`ast_apply_acl`): any list denying wins.
Rules are written as Asterisk does: `192.168.1.0/255.255.255.0`, `10.0.0.0/8`,
`2001:db8::/32`, a bare address (one host), comma-separated lists, and a
leading `!` that inverts the rule (`permit=!10.0.0.5` denies 10.0.0.5). An IPv4
rule also matches the IPv4-mapped IPv6 form of the address (`::ffff:a.b.c.d`).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

__all__ = ["Acl", "AclError", "AclRule", "parse_address", "parse_network"]


class AclError(ValueError):
    """A rule that cannot be read; the message says why (for file:line:col)."""


@dataclass(frozen=True, slots=True)
class AclRule:
    """One `permit=` or `deny=` network."""

    permit: bool
    network: Network

    def __str__(self) -> str:
        return f"{'permit' if self.permit else 'deny'}={self.network.with_netmask}"


def parse_network(text: str) -> Network:
    """`a.b.c.d/m.m.m.m`, `a.b.c.d/nn`, `v6/nn` or one address; AclError says why not."""
    value = text.strip().strip("[]") if "/" not in text else text.strip()
    if not value:
        raise AclError("empty address")
    addr, slash, mask = value.partition("/")
    addr = addr.strip().strip("[]")
    try:
        if not slash:
            return ipaddress.ip_network(addr)
        mask = mask.strip()
        # Asterisk accepts host bits set (192.168.1.5/24 means 192.168.1.0/24).
        return ipaddress.ip_network(f"{addr}/{mask}", strict=False)
    except ValueError as exc:
        raise AclError(f"{text.strip()!r} is not an address or network "
                       "(e.g. 192.168.1.0/24, 192.168.1.0/255.255.255.0, 2001:db8::/32)") from exc


@lru_cache(maxsize=4096)
def parse_address(host: str) -> IpAddress | None:
    """The IP address of a source host string, or None if it is not one.

    Cached: the same few thousand sources are asked about on every message.
    IPv4-mapped IPv6 addresses are returned as IPv4 (Asterisk compares them so).
    """
    try:
        addr = ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


class Acl:
    """An ordered list of rules; immutable once built (a reload builds a new one)."""

    __slots__ = ("name", "rules")

    def __init__(self, rules: list[AclRule] | tuple[AclRule, ...] = (), name: str = "") -> None:
        self.rules: tuple[AclRule, ...] = tuple(rules)
        self.name = name

    @classmethod
    def from_lines(cls, lines: list[tuple[str, str]], name: str = "") -> Acl:
        """Rules from (`permit`|`deny`, value) pairs as written in a .conf file."""
        rules: list[AclRule] = []
        for sense, value in lines:
            rules.extend(cls.parse_rules(sense, value))
        return cls(rules, name)

    @staticmethod
    def parse_rules(sense: str, value: str) -> list[AclRule]:
        """`permit`/`deny` and its value (comma-separated, `!` inverts) -> rules."""
        sense = sense.strip().lower()
        if sense not in ("permit", "deny"):
            raise AclError(f"expected permit or deny, got {sense!r}")
        rules = []
        for part in value.split(","):
            part = part.strip()
            permit = sense == "permit"
            if part.startswith("!"):
                permit, part = not permit, part[1:]
            rules.append(AclRule(permit, parse_network(part)))
        if not rules:
            raise AclError(f"{sense} needs an address")
        return rules

    def __bool__(self) -> bool:
        return bool(self.rules)

    def __add__(self, other: Acl) -> Acl:
        return Acl(self.rules + other.rules, self.name or other.name)

    def verdict(self, host: str | IpAddress) -> bool | None:
        """True/False from the last rule matching ``host``; None if no rule matches."""
        addr = parse_address(host) if isinstance(host, str) else host
        if addr is None:
            return None
        result: bool | None = None
        for rule in self.rules:
            net = rule.network
            if net.version == addr.version and addr in net:
                result = rule.permit
        return result

    def allows(self, host: str | IpAddress) -> bool:
        """Asterisk's ast_apply_ha: the last matching rule decides; no match allows."""
        return self.verdict(host) is not False

    def permits_explicitly(self, host: str | IpAddress) -> bool:
        """True only when a `permit` rule is the last match (for trust, never default)."""
        return self.verdict(host) is True

    def __repr__(self) -> str:
        label = f" {self.name}" if self.name else ""
        return f"<Acl{label} {', '.join(str(r) for r in self.rules)}>"


def allowed_by_all(acls: list[Acl] | tuple[Acl, ...], host: str) -> bool:
    """Asterisk's ast_apply_acl: every list must allow ``host``."""
    return all(acl.allows(host) for acl in acls)
