"""SIP/SIPS/tel URIs, name-addr values and Via values (RFC 3261 sec. 19.1, 20, 25; RFC 5118).

Parsed objects keep the text they came from: ``str()`` of an unmodified
parsed :class:`Uri` returns the original spelling (escapes included), and a
modified one is rebuilt with minimal escaping.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

__all__ = [
    "NameAddr",
    "Uri",
    "UriError",
    "Via",
    "escape",
    "is_simple_uri",
    "parse_name_addr",
    "parse_uri",
    "parse_via",
]


class UriError(ValueError):
    """A URI, name-addr or Via value does not follow the grammar."""


_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*")
_TOKEN_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
# Characters that never appear raw in a URI (whitespace, controls, <>, ", non-ASCII).
_BAD_URI_CHARS = re.compile(r"[\x00-\x20\x7f<>\"\\{}|^\u0080-\U0010ffff]")
_HOST_RE = re.compile(r"[A-Za-z0-9\-._]+")
_IPV6_CHARS = re.compile(r"[0-9A-Fa-f:.]+")
_DIGITS = frozenset("0123456789")

# RFC 3261 25.1: unreserved and the extra characters each URI part may hold unescaped.
_UNRESERVED = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.!~*'()"
)
_USER_SAFE = _UNRESERVED | frozenset("&=+$,;?/")
_PASSWORD_SAFE = _UNRESERVED | frozenset("&=+$,")
_PARAM_SAFE = _UNRESERVED | frozenset("[]/:&+$")
_HEADER_SAFE = _UNRESERVED | frozenset("[]/?:+$")


def escape(text: str, safe: frozenset[str] = _USER_SAFE) -> str:
    """%-escape every character of ``text`` not in ``safe`` (UTF-8, surrogateescape)."""
    if safe.issuperset(text):
        return text
    out: list[str] = []
    for c in text:
        if c in safe:
            out.append(c)
        else:
            out.extend(f"%{b:02X}" for b in c.encode("utf-8", "surrogateescape"))
    return "".join(out)


def _unescape(text: str) -> str:
    # One pass only: "%2541" -> "%41", never "A" (RFC 4475 esc01).
    if "%" not in text:
        return text
    return unquote(text, errors="surrogateescape")


def _parse_port(text: str) -> int:
    if not text or not set(text) <= _DIGITS or len(text) > 5:
        raise UriError(f"bad port {text!r}")
    port = int(text)
    if port > 65535:
        raise UriError(f"port out of range {text!r}")
    return port


def _parse_ipv6(text: str) -> str:
    """Validate the inside of ``[...]``; tolerate RFC 5118 4.10's ``:::`` typo."""
    if not _IPV6_CHARS.fullmatch(text):
        raise UriError(f"bad IPv6 reference {text!r}")
    candidate = text.replace(":::", "::") if ":::" in text else text
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError as exc:
        raise UriError(f"bad IPv6 reference {text!r}") from exc
    return candidate


def _parse_hostport(text: str) -> tuple[str, int | None]:
    """``host[:port]`` with IPv6 in brackets; returns host without brackets."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise UriError(f"unterminated IPv6 reference {text!r}")
        host = _parse_ipv6(text[1:end])
        rest = text[end + 1:]
        if not rest:
            return host, None
        if rest[0] != ":":
            raise UriError(f"junk after IPv6 reference {text!r}")
        return host, _parse_port(rest[1:])
    host, colon, port = text.partition(":")
    if not host or not _HOST_RE.fullmatch(host):
        raise UriError(f"bad host {text!r}")
    return host, (_parse_port(port) if colon else None)


@dataclass(slots=True)
class Uri:
    """A parsed URI.

    sip/sips: ``user`` and ``password`` are unescaped; ``host`` has no IPv6
    brackets. tel: the telephone number is in ``user`` and ``host`` is "".
    Other schemes (``http:``, ``isbn:``...): everything after the colon is in
    ``opaque`` and ``host`` is "". ``params`` names are lowercased, values
    unescaped (None for a bare name); ``headers`` (after ``?``) unescaped.
    """

    scheme: str = "sip"
    user: str | None = None
    password: str | None = None
    host: str = ""
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    opaque: str | None = None
    _raw: str | None = field(default=None, repr=False, compare=False)
    _sig: Any = field(default=None, repr=False, compare=False)

    def _signature(self) -> tuple[Any, ...]:
        return (self.scheme, self.user, self.password, self.host, self.port,
                tuple(self.params.items()), tuple(self.headers.items()), self.opaque)

    @property
    def transport(self) -> str:
        """Lowercased ``transport`` param; default "tls" for sips, else "udp"."""
        t = self.params.get("transport")
        if t:
            return t.lower()
        return "tls" if self.scheme == "sips" else "udp"

    @property
    def is_sip(self) -> bool:
        """True for sip: and sips: URIs."""
        return self.scheme in ("sip", "sips")

    def host_port(self) -> str:
        """``host[:port]`` with IPv6 bracketed."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"

    def aor(self) -> str:
        """Canonical address-of-record key ``user@host`` (no scheme, no port).

        The user is re-escaped minimally (so ``%75ser`` and ``user`` give the
        same key, and ``%00`` stays visible), the host is lowercased.
        """
        host = self.host.lower()
        if self.scheme == "tel":
            return escape(self.user or "")
        if self.opaque is not None:
            return f"{self.scheme}:{self.opaque}"
        if self.user is None:
            return host
        return f"{escape(self.user)}@{host}"

    def copy(self) -> Uri:
        """Deep-enough copy (params and headers dicts are new)."""
        return Uri(self.scheme, self.user, self.password, self.host, self.port,
                   dict(self.params), dict(self.headers), self.opaque, self._raw, self._sig)

    def __str__(self) -> str:
        if self._raw is not None and self._sig == self._signature():
            return self._raw
        return self._build()

    def _build(self) -> str:
        parts: list[str] = [self.scheme, ":"]
        if self.opaque is not None:
            parts.append(self.opaque)
            return "".join(parts)
        if self.scheme == "tel":
            parts.append(escape(self.user or "", _PASSWORD_SAFE))
        else:
            if self.user is not None:
                parts.append(escape(self.user))
                if self.password is not None:
                    parts.append(":")
                    parts.append(escape(self.password, _PASSWORD_SAFE))
                parts.append("@")
            parts.append(self.host_port())
        for name, value in self.params.items():
            parts.append(";")
            parts.append(escape(name, _PARAM_SAFE))
            if value is not None:
                parts.append("=")
                parts.append(escape(value, _PARAM_SAFE))
        if self.headers:
            parts.append("?")
            parts.append("&".join(
                f"{escape(k, _HEADER_SAFE)}={escape(v, _HEADER_SAFE)}"
                for k, v in self.headers.items()
            ))
        return "".join(parts)


def _parse_uri_params(text: str) -> dict[str, str | None]:
    params: dict[str, str | None] = {}
    for item in text.split(";"):
        name, eq, value = item.partition("=")
        if not name:
            raise UriError("empty URI parameter")
        params[_unescape(name).lower()] = _unescape(value) if eq else None
    return params


# The common shape (no escapes, no password, lowercase param names, no headers): one
# regex and the rebuilt text equals the input, so no raw copy needs keeping.
_SIP_FAST = re.compile(
    r"(sips?):(?:([A-Za-z0-9\-_.!~*'()&=+$,]+)@)?([A-Za-z0-9\-.]+)(?::([1-9][0-9]{0,4}))?"
    r"((?:;[a-z0-9\-_.!~*'()\[\]/:&+$]+(?:=[A-Za-z0-9\-_.!~*'()\[\]/:&+$]+)?)*)"
)


def is_simple_uri(text: str) -> bool:
    """True when ``text`` has the common sip/sips shape: :func:`parse_uri` takes it
    without error and without URI headers (a cheap check, no objects built)."""
    m = _SIP_FAST.fullmatch(text)
    if m is None:
        return False
    port = m.group(4)
    return port is None or int(port) <= 65535


def parse_uri(text: str) -> Uri:
    """Parse a URI (no surrounding ``<>`` or whitespace allowed); raise UriError."""
    m = _SIP_FAST.fullmatch(text)
    if m is not None:
        scheme, user, host, port, ptext = m.groups()
        params: dict[str, str | None] = {}
        if ptext:
            items = ptext[1:].split(";")
            for item in items:
                name, eq, value = item.partition("=")
                params[name] = value if eq else None
            if len(params) != len(items):
                return _parse_uri_slow(text)  # repeated names: keep the raw text
        if port is not None:
            nport: int | None = int(port)
            if nport > 65535:  # type: ignore[operator]
                raise UriError(f"port out of range in {text!r}")
        else:
            nport = None
        return Uri(scheme, user, None, host, nport, params, {})
    return _parse_uri_slow(text)


def _parse_uri_slow(text: str) -> Uri:
    colon = text.find(":")
    if colon <= 0:
        raise UriError(f"no scheme in {text!r}")
    scheme = text[:colon].lower()
    if scheme not in ("sip", "sips", "tel") and not _SCHEME_RE.fullmatch(scheme):
        raise UriError(f"bad scheme in {text!r}")
    rest = text[colon + 1:]
    if not rest or _BAD_URI_CHARS.search(rest):
        raise UriError(f"bad characters in URI {text!r}")
    if scheme == "sip" or scheme == "sips":
        uri = _parse_sip(scheme, rest)
    elif scheme == "tel":
        number, semi, ptext = rest.partition(";")
        if not number:
            raise UriError("empty telephone number")
        uri = Uri(scheme, _unescape(number), None, "", None,
                  _parse_uri_params(ptext) if semi else {})
    else:
        uri = Uri(scheme, opaque=rest)
    uri._raw = text
    uri._sig = uri._signature()
    return uri


def _parse_sip(scheme: str, rest: str) -> Uri:
    # '@' cannot appear unescaped in params or headers, so the last one ends userinfo
    # (the user part itself may hold ';', '?', '/' - RFC 4475 intmeth, semiuri).
    at = rest.rfind("@")
    user: str | None = None
    password: str | None = None
    if at >= 0:
        userinfo = rest[:at]
        rest = rest[at + 1:]
        if not userinfo:
            raise UriError("empty user part")
        u, colon, p = userinfo.partition(":")
        if not u:
            raise UriError("empty user part")
        user = _unescape(u)
        password = _unescape(p) if colon else None
    headers: dict[str, str] = {}
    q = rest.find("?")
    if q >= 0:
        htext = rest[q + 1:]
        rest = rest[:q]
        for item in htext.split("&"):
            hname, eq, hvalue = item.partition("=")
            if not hname or not eq:
                raise UriError("bad URI header")
            headers[_unescape(hname)] = _unescape(hvalue)
    semi = rest.find(";")
    if rest.startswith("["):
        # IPv6 reference: ';' cannot occur inside the brackets, but look past them anyway
        close = rest.find("]")
        semi = rest.find(";", close) if close >= 0 else semi
    if semi >= 0:
        host, port = _parse_hostport(rest[:semi])
        params = _parse_uri_params(rest[semi + 1:])
    else:
        host, port = _parse_hostport(rest)
        params = {}
    return Uri(scheme, user, password, host, port, params, headers)


# --- generic header parameters (after a name-addr, a Via sent-by, ...) ----------

def _parse_header_params(text: str, what: str) -> dict[str, str | None]:
    """Parse ``*( SEMI name [EQUAL value] )`` with LWS and quoted-string values.

    Quoted values keep their quotes so that serialising gives back the same text.
    """
    params: dict[str, str | None] = {}
    s = text.strip(" \t")
    if not s:
        return params
    if s[0] != ";":
        raise UriError(f"junk after {what}: {s!r}")
    if '"' not in s:
        for item in s[1:].split(";"):
            name, eq, value = item.partition("=")
            name = name.strip(" \t")
            if not _TOKEN_RE.fullmatch(name):
                raise UriError(f"bad parameter in {what}: {item!r}")
            if eq:
                value = value.strip(" \t")
                if not value or " " in value or "\t" in value:
                    raise UriError(f"bad parameter value in {what}: {item!r}")
                params[name.lower()] = value
            else:
                params[name.lower()] = None
        return params
    # Slow path: a quoted value may contain ';' and '='.
    i, n = 1, len(s)
    while True:
        j = i
        while j < n and s[j] not in ";=":
            j += 1
        name = s[i:j].strip(" \t")
        if not _TOKEN_RE.fullmatch(name):
            raise UriError(f"bad parameter in {what}")
        value: str | None = None
        if j < n and s[j] == "=":
            k = j + 1
            while k < n and s[k] in " \t":
                k += 1
            if k < n and s[k] == '"':
                _, end = _read_quoted(s, k)
                value = s[k:end]
                j = end
                while j < n and s[j] in " \t":
                    j += 1
                if j < n and s[j] != ";":
                    raise UriError(f"junk after quoted parameter in {what}")
            else:
                j = k
                while j < n and s[j] != ";":
                    j += 1
                value = s[k:j].strip(" \t")
                if not value:
                    raise UriError(f"empty parameter value in {what}")
        params[name.lower()] = value
        if j >= n:
            return params
        i = j + 1


def _read_quoted(s: str, start: int) -> tuple[str, int]:
    """Read a quoted-string at ``s[start] == '"'``; return (unescaped, index after)."""
    out: list[str] = []
    i = start + 1
    n = len(s)
    while i < n:
        ch = s[i]
        if ch == "\\":
            if i + 1 >= n:
                break
            out.append(s[i + 1])
            i += 2
            continue
        if ch == '"':
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    raise UriError("unterminated quoted string")


def _format_params(params: dict[str, str | None]) -> str:
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())


@dataclass(slots=True)
class NameAddr:
    """``display <uri>;params`` (From, To, Contact, Route...).

    ``display`` is unquoted (None when absent); ``params`` are the header
    parameters (tag, expires, q...), names lowercased, quoted values kept with
    their quotes.
    """

    display: str | None = None
    uri: Uri = field(default_factory=Uri)
    params: dict[str, str | None] = field(default_factory=dict)

    @property
    def tag(self) -> str | None:
        """The ``tag`` parameter, or None."""
        return self.params.get("tag")

    @property
    def expires(self) -> int | None:
        """The ``expires`` parameter as int (None if absent or not a number)."""
        v = self.params.get("expires")
        if v is None or not v.isdigit():
            return None
        return int(v)

    @property
    def q(self) -> float | None:
        """The ``q`` parameter as float (None if absent or invalid)."""
        v = self.params.get("q")
        try:
            return None if v is None else float(v)
        except ValueError:
            return None

    def __str__(self) -> str:
        if self.display is not None:
            quoted = self.display.replace("\\", "\\\\").replace('"', '\\"')
            head = f'"{quoted}" <{self.uri}>'
        else:
            head = f"<{self.uri}>"
        return head + _format_params(self.params) if self.params else head


_NAME_ADDR_FAST = re.compile(
    r'(?:"([^"\\]*)" ?|([A-Za-z0-9\-.!%*_+`\'~][A-Za-z0-9\-.!%*_+`\'~ ]*)? ?)'
    r"<([^<>\"\s]+)>((?:;[A-Za-z0-9\-.!%*_+`'~]+(?:=[A-Za-z0-9\-.!%*_+`'~]+)?)*)"
)
# Same shape with the common sip URI inlined: one regex for the whole From/To value.
_NAME_ADDR_SIP_FAST = re.compile(
    r'(?:"([^"\\]*)" ?|([A-Za-z0-9\-.!%*_+`\'~][A-Za-z0-9\-.!%*_+`\'~ ]*)? ?)'
    r"<(sips?):(?:([A-Za-z0-9\-_.!~*'()&=+$,]+)@)?([A-Za-z0-9\-.]+)(?::([1-9][0-9]{0,4}))?>"
    r"((?:;[A-Za-z0-9\-.!%*_+`'~]+(?:=[A-Za-z0-9\-.!%*_+`'~]+)?)*)"
)


def parse_name_addr(text: str) -> NameAddr:
    """Parse ``name-addr`` or ``addr-spec`` followed by header params; raise UriError.

    In addr-spec form (no ``<>``) everything from the first ``;`` after the
    host belongs to the header, not the URI (RFC 3261 20.10).
    """
    m = _NAME_ADDR_SIP_FAST.fullmatch(text)
    if m is not None:
        quoted, plain, scheme, user, host, port, ptext = m.groups()
        nport = None if port is None else int(port)
        if nport is None or nport <= 65535:
            params = {}
            if ptext:
                for item in ptext[1:].split(";"):
                    name, eq, value = item.partition("=")
                    params[name.lower()] = value if eq else None
            display = quoted if quoted is not None else (plain.rstrip(" ") if plain else None)
            return NameAddr(display, Uri(scheme, user, None, host, nport, {}, {}), params)
    m = _NAME_ADDR_FAST.fullmatch(text)
    if m is not None:
        quoted, plain, uri_text, ptext = m.groups()
        params = {}
        if ptext:
            for item in ptext[1:].split(";"):
                name, eq, value = item.partition("=")
                params[name.lower()] = value if eq else None
        display = quoted if quoted is not None else (plain.rstrip(" ") if plain else None)
        return NameAddr(display, parse_uri(uri_text), params)
    return _parse_name_addr_slow(text)


def _parse_name_addr_slow(text: str) -> NameAddr:
    s = text.strip(" \t")
    if not s:
        raise UriError("empty address")
    if s[0] == '"':
        display, pos = _read_quoted(s, 0)
        rest = s[pos:].lstrip(" \t")
        if not rest.startswith("<"):
            raise UriError("quoted display name without <URI>")
        uri, after = _read_angle(rest)
        return NameAddr(display, uri, _parse_header_params(after, "address"))
    lt = s.find("<")
    if lt >= 0:
        dn = s[:lt].strip(" \t")
        if dn:
            # An unquoted display name is a sequence of tokens (RFC 4475 baddn).
            for word in dn.split():
                if not _TOKEN_RE.fullmatch(word):
                    raise UriError(f"display name must be quoted: {dn!r}")
        uri, after = _read_angle(s[lt:])
        return NameAddr(dn or None, uri, _parse_header_params(after, "address"))
    # addr-spec
    colon = s.find(":")
    at = s.find("@")
    semi = s.find(";", at if at >= 0 else max(colon, 0))
    uri_text = (s if semi < 0 else s[:semi]).rstrip(" \t")
    if "?" in uri_text or "," in uri_text:
        raise UriError("URI with '?' or ',' must be enclosed in <>")
    uri = parse_uri(uri_text)
    params = _parse_header_params(s[semi:], "address") if semi >= 0 else {}
    return NameAddr(None, uri, params)


def _read_angle(s: str) -> tuple[Uri, str]:
    end = s.find(">")
    if end < 0:
        raise UriError("missing '>'")
    # No stripping inside <>: spaces there are an error (RFC 4475 badaspec).
    return parse_uri(s[1:end]), s[end + 1:]


# --- Via ----------------------------------------------------------------------

_VIA_PROTO_RE = re.compile(
    r"[ \t]*([A-Za-z0-9\-.!%*_+`'~]+)[ \t]*/[ \t]*([A-Za-z0-9\-.!%*_+`'~]+)"
    r"[ \t]*/[ \t]*([A-Za-z0-9\-.!%*_+`'~]+)[ \t]+"
)


@dataclass(slots=True)
class Via:
    """One Via value: ``SIP/2.0/<transport> host[:port];params``.

    ``transport`` is uppercased; ``host`` has no IPv6 brackets; param names
    are lowercased, values kept raw (``received`` may carry brackets, the
    property strips them).
    """

    transport: str
    host: str
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    version: str = "2.0"

    @property
    def branch(self) -> str | None:
        """The branch parameter, or None."""
        return self.params.get("branch")

    @property
    def received(self) -> str | None:
        """The received parameter without IPv6 brackets, or None."""
        r = self.params.get("received")
        if r and r.startswith("[") and r.endswith("]"):
            return r[1:-1]
        return r

    @property
    def rport(self) -> int | None:
        """RFC 3581 rport: None if absent, -1 if present without value, else the port."""
        if "rport" not in self.params:
            return None
        v = self.params["rport"]
        return -1 if v is None else int(v)

    def sent_by(self) -> str:
        """``host[:port]`` with IPv6 bracketed."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"

    def __str__(self) -> str:
        return f"SIP/{self.version}/{self.transport} {self.sent_by()}{_format_params(self.params)}"


_VIA_FAST = re.compile(
    r"SIP/2\.0/([A-Z]+) ([A-Za-z0-9.\-]+)(?::([0-9]{1,5}))?"
    r"((?:;[A-Za-z0-9\-.!%*_+`'~]+(?:=[A-Za-z0-9\-.!%*_+`'~:\[\]]+)?)*)"
)


def parse_via(text: str) -> Via:
    """Parse one Via value (already split from its list); raise UriError."""
    m = _VIA_FAST.fullmatch(text)
    if m is not None:
        transport, host, port, ptext = m.groups()
        params: dict[str, str | None] = {}
        if ptext:
            for item in ptext[1:].split(";"):
                name, eq, value = item.partition("=")
                params[name.lower()] = value if eq else None
            _check_via_params(params)
        nport = None if port is None else int(port)
        if nport is not None and nport > 65535:
            raise UriError(f"port out of range in {text!r}")
        return Via(transport, host, nport, params)
    return _parse_via_slow(text)


def _check_via_params(params: dict[str, str | None]) -> None:
    rport = params.get("rport")
    if rport is not None:
        _parse_port(rport)
    received = params.get("received")
    if received is not None:
        inner = received[1:-1] if received.startswith("[") and received.endswith("]") else received
        if ":" in inner:
            _parse_ipv6(inner)  # RFC 5118 4.5: with or without brackets
        elif not _HOST_RE.fullmatch(inner):
            raise UriError("bad received parameter")


def _parse_via_slow(text: str) -> Via:
    m = _VIA_PROTO_RE.match(text)
    if m is None or m.group(1).upper() != "SIP":
        raise UriError(f"bad Via protocol in {text!r}")
    rest = text[m.end():]
    semi = rest.find(";")
    sent_by = (rest if semi < 0 else rest[:semi]).strip(" \t")
    if " " in sent_by or "\t" in sent_by:
        # COLON allows LWS around it: "host : 5060"
        sent_by = "".join(sent_by.split())
    host, port = _parse_hostport(sent_by)
    params = _parse_header_params(rest[semi:], "Via") if semi >= 0 else {}
    _check_via_params(params)
    return Via(m.group(3).upper(), host, port, params, m.group(2))
