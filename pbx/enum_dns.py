"""ENUM (RFC 6116): phone numbers to URIs through DNS NAPTR records, as Asterisk's
main/enum.c does it, for ENUMLOOKUP/ENUMQUERY.

The pure part builds the name to query (`+1-555-1234` -> `4.3.2.1.5.5.5.1.
e164.arpa`; ISN `1234*256` -> `4.3.2.1.256.<zone>`; `d`: the number as it
is) and turns NAPTR records into URIs: only terminal ``u`` records, the
technology from the service (`E2U+sip` -> sip), the record's
``!pattern!replacement!`` regular expression applied to the number, sorted
by order then preference.

The I/O part is :class:`NaptrResolver`: dnspython's asyncio resolver with a
bounded lifetime, so a lookup never holds a call longer than `timeout`
seconds; when no server answers (or the name does not exist, or anything
else goes wrong) the answer is "no records", which ENUMLOOKUP returns as an
empty string, as Asterisk does.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger("pbx.enum")

__all__ = ["DEFAULT_ZONE", "EnumResult", "Naptr", "NaptrResolver", "NaptrSource",
           "enum_domain", "enum_results"]

DEFAULT_ZONE = "e164.arpa"
LOOKUP_TIMEOUT = 3.0  # seconds a lookup may take in all (every server, every retry)


@dataclass(frozen=True, slots=True)
class Naptr:
    """One NAPTR record (RFC 3403)."""

    order: int
    preference: int
    flags: str
    service: str
    regexp: str
    replacement: str = "."


@dataclass(frozen=True, slots=True)
class EnumResult:
    """A usable record: the URI it gives and its technology (`sip`, `tel`, `mailto`...)."""

    uri: str
    tech: str


class NaptrSource(Protocol):
    """Where NAPTR records come from (the resolver, or a test's)."""

    async def naptr(self, name: str) -> list[Naptr] | None:
        """The records of `name`; None when the lookup failed (no answer, NXDOMAIN)."""
        ...


def enum_domain(number: str, zone: str = DEFAULT_ZONE, options: str = "") -> str:
    """The name to look up for `number` (ast_get_enum): digits reversed and dotted,
    then the zone; `d` looks the number up as it is; a `*` makes it an ISN
    (`1234*256`: extension 1234 in ITAD 256)."""
    number = number[1:] if number.startswith("n") else number
    number = number.lstrip("+")
    zone = zone.strip(".") or DEFAULT_ZONE
    middle = ""
    left = number
    if "*" in number:  # ISN
        left, _, itad = number.partition("*")
        middle = itad + "."
    elif "d" in options:
        left, middle = "", number + "."
    flipped = "".join(f"{c}." for c in reversed(left) if c.isdigit())
    return f"{flipped}{middle}{zone}"


def _tech_of(service: str) -> str:
    """`E2U+sip` -> sip, `E2U+voice:sip` -> sip, `sip+E2U` (old form) -> sip."""
    low = service.lower()
    at = low.find("e2u+")
    if at >= 0:
        rest = service[at + 4:]
        return rest.split(":", 1)[1] if ":" in rest else rest
    at = low.find("+e2u")
    if at >= 0:
        return service[:at].split(":", 1)[0]
    return ""


def _apply(regexp: str, subject: str) -> str | None:
    """A NAPTR `!pattern!replacement!` (trailing `i`: any case) applied to `subject`."""
    if len(regexp) < 7:
        return None
    delim = regexp[0]
    flags = 0
    body = regexp[1:]
    if body.endswith(delim + "i"):
        flags = re.IGNORECASE
        body = body[:-2]
    elif body.endswith(delim):
        body = body[:-1]
    else:
        return None
    pattern, sep, replacement = body.partition(delim)
    if not sep or delim in replacement:
        return None
    try:
        m = re.search(pattern, subject, flags)
    except re.error:
        return None
    if m is None:
        return None

    def backref(ref: re.Match[str]) -> str:
        n = int(ref.group(1))
        return (m.group(n) or "") if n <= (m.re.groups or 0) else ""

    return re.sub(r"\\(\d)", backref, replacement)


def enum_results(records: Sequence[Naptr], number: str, tech: str) -> list[EnumResult]:
    """The usable records for `number`, in Asterisk's order (order, then preference),
    of technology `tech` (`ALL`: any; `pjsip` and `sip` both take E2U+sip records:
    Asterisk's default `pjsip` otherwise matches nothing real)."""
    subject = number[1:] if number.startswith("n") else number
    subject = subject.split("*", 1)[0]
    want = tech.lower()
    if want == "pjsip":
        want = "sip"
    out: list[tuple[int, int, int, EnumResult]] = []
    for i, rec in enumerate(records):
        if not rec.flags.lower().startswith("u"):
            continue
        found = _tech_of(rec.service)
        if want != "all" and found.lower() != want:
            continue
        uri = _apply(rec.regexp, subject)
        if not uri:
            continue
        out.append((rec.order, rec.preference, i, EnumResult(uri, found)))
    out.sort(key=lambda r: r[:3])
    return [r[3] for r in out]


class NaptrResolver:
    """NAPTR lookups through the system's DNS servers (or `nameservers`), bounded in time."""

    def __init__(self, nameservers: list[str] | None = None, port: int = 53,
                 timeout: float = LOOKUP_TIMEOUT) -> None:
        import dns.asyncresolver

        self.timeout = timeout
        if nameservers is None:
            try:
                self._resolver = dns.asyncresolver.Resolver()
            except Exception as exc:  # no /etc/resolv.conf: no DNS at all
                log.warning("ENUM: no DNS resolver configuration (%s): lookups find nothing",
                            exc)
                self._resolver = dns.asyncresolver.Resolver(configure=False)
        else:
            self._resolver = dns.asyncresolver.Resolver(configure=False)
            self._resolver.nameservers = list(nameservers)
            self._resolver.port = port

    async def naptr(self, name: str) -> list[Naptr] | None:
        import dns.exception
        import dns.resolver

        if not self._resolver.nameservers:
            return None
        try:
            answer = await self._resolver.resolve(name, "NAPTR", lifetime=self.timeout,
                                                  search=False)
        except (dns.exception.DNSException, OSError) as exc:
            log.debug("ENUM: %s: %s", name, exc)
            return None
        return [Naptr(r.order, r.preference, r.flags.decode(errors="replace"),
                      r.service.decode(errors="replace"), r.regexp.decode(errors="replace"),
                      r.replacement.to_text()) for r in answer]
