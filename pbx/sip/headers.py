"""SIP header fields: an ordered, case-insensitive multimap (RFC 3261 sec. 7.3, 20).

Names are normalised to one canonical spelling: compact forms (``v``, ``f``,
``i``, ...) become their long names and known headers take the RFC spelling
(``call-id`` -> ``Call-ID``). Unknown headers keep the spelling they arrived
with. Values are kept raw (after unfolding), so a proxy can relay them
untouched; structured parsing lives in :mod:`pbx.sip.uri` and the lazy
properties of :mod:`pbx.sip.message`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["COMPACT_FORMS", "LIST_HEADERS", "Headers", "canonical_name", "split_list"]

# RFC 3261 7.3.3 and the registries that followed it.
COMPACT_FORMS: dict[str, str] = {
    "v": "Via",
    "f": "From",
    "t": "To",
    "i": "Call-ID",
    "m": "Contact",
    "l": "Content-Length",
    "c": "Content-Type",
    "e": "Content-Encoding",
    "k": "Supported",
    "s": "Subject",
    "o": "Event",
    "u": "Allow-Events",
    "r": "Refer-To",
    "b": "Referred-By",
    "x": "Session-Expires",
    "y": "Identity",
    "a": "Accept-Contact",
    "j": "Reject-Contact",
    "d": "Request-Disposition",
}

_KNOWN = [
    "Accept", "Accept-Contact", "Accept-Encoding", "Accept-Language", "Alert-Info", "Allow",
    "Allow-Events", "Authentication-Info", "Authorization", "Call-ID", "Call-Info", "Contact",
    "Content-Disposition", "Content-Encoding", "Content-Language", "Content-Length",
    "Content-Type", "CSeq", "Date", "Error-Info", "Event", "Expires", "From", "Identity",
    "In-Reply-To", "Max-Forwards", "Min-Expires", "Min-SE", "MIME-Version", "Organization",
    "P-Asserted-Identity", "P-Preferred-Identity", "Path", "Priority", "Privacy",
    "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Require", "RAck", "Reason",
    "Record-Route", "Refer-To", "Referred-By", "Reject-Contact", "Replaces", "Reply-To",
    "Request-Disposition", "Require", "Retry-After", "Route", "RSeq", "Server",
    "Service-Route", "Session-Expires", "SIP-ETag", "SIP-If-Match", "Subject",
    "Subscription-State", "Supported", "Timestamp", "To", "Unsupported", "User-Agent", "Via",
    "Warning", "WWW-Authenticate",
]
_CANONICAL: dict[str, str] = {n.lower(): n for n in _KNOWN}
for _short, _long in COMPACT_FORMS.items():
    _CANONICAL[_short] = _long

# Headers whose grammar is a comma-separated list (1#element): get_all splits them.
# Authorization & co. are not here: their commas separate auth-params of ONE value.
LIST_HEADERS: frozenset[str] = frozenset({
    "via", "contact", "route", "record-route", "allow", "supported", "require",
    "proxy-require", "unsupported", "accept", "accept-encoding", "accept-language",
    "allow-events", "in-reply-to", "path", "service-route", "p-asserted-identity",
    "p-preferred-identity", "alert-info", "call-info", "error-info", "warning",
    "content-encoding", "content-language", "reason", "accept-contact",
    "reject-contact", "request-disposition",
})

_TOKEN_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
# raw spelling -> (lowercase key, canonical name); bounded so hostile input cannot grow it
_NAME_CACHE: dict[str, tuple[str, str]] = {}
_NAME_CACHE_MAX = 2048


def canonical_name(name: str) -> tuple[str, str]:
    """Return ``(key, canonical)`` for a header name; raise ValueError if not a token."""
    hit = _NAME_CACHE.get(name)
    if hit is not None:
        return hit
    stripped = name.strip(" \t")
    if not _TOKEN_RE.fullmatch(stripped):
        raise ValueError(f"invalid header name {name!r}")
    lower = stripped.lower()
    canon = _CANONICAL.get(lower, stripped)
    result = (canon.lower(), canon)
    # Never a spelling with leading blanks: the parser relies on folded lines missing.
    if len(_NAME_CACHE) < _NAME_CACHE_MAX and name[:1] not in (" ", "\t"):
        _NAME_CACHE[name] = result
    return result


def split_list(value: str) -> list[str]:
    """Split a header value on top-level commas (not inside quotes or ``<>``).

    Empty elements are dropped (RFC 3261 sec. 7.3.1 allows null list elements).
    """
    if "," not in value:
        v = value.strip(" \t")
        return [v] if v else []
    out: list[str] = []
    start = 0
    in_quote = False
    in_angle = False
    i = 0
    n = len(value)
    while i < n:
        ch = value[i]
        if in_quote:
            if ch == "\\":
                i += 1  # quoted-pair: the next char cannot end the string
            elif ch == '"':
                in_quote = False
        elif ch == '"':
            in_quote = True
        elif ch == "<":
            in_angle = True
        elif ch == ">":
            in_angle = False
        elif ch == "," and not in_angle:
            part = value[start:i].strip(" \t")
            if part:
                out.append(part)
            start = i + 1
        i += 1
    part = value[start:].strip(" \t")
    if part:
        out.append(part)
    return out


class Headers:
    """Ordered, case-insensitive header multimap with canonical names.

    ``gen`` counts mutations so cached parsed views (see SipMessage) know when
    to re-parse.
    """

    __slots__ = ("_idx", "_items", "gen")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: list[tuple[str, str, str]] = []
        self._idx: dict[str, str] | None = None
        self.gen = 0
        for name, value in items:
            self.add(name, value)

    @classmethod
    def _from_parsed(cls, items: list[tuple[str, str, str]]) -> Headers:
        """Adopt ``(key, canonical, value)`` triples from the parser without copying."""
        h = cls.__new__(cls)
        h._items = items
        h._idx = None
        h.gen = 0
        return h

    def first(self, key: str) -> str | None:
        """First value by lowercase canonical key (``"call-id"``); the fast internal lookup."""
        idx = self._idx
        if idx is None:
            # key -> first value, built once per mutation: later lookups are one dict hit
            idx = self._idx = {k: v for k, _, v in reversed(self._items)}
        return idx.get(key)

    @staticmethod
    def _key(name: str) -> str:
        hit = _NAME_CACHE.get(name)
        if hit is not None:
            return hit[0]
        return canonical_name(name)[0]

    def get(self, name: str) -> str | None:
        """Value of the first header field called ``name`` (the whole raw line value)."""
        return self.first(self._key(name))

    def get_all(self, name: str) -> list[str]:
        """All values; list-grammar headers (Via, Contact, ...) are split on commas."""
        key = self._key(name)
        if self.first(key) is None:
            return []  # one dict lookup: absent headers are the common case
        values = [v for k, _, v in self._items if k == key]
        if len(values) == 1 and key in LIST_HEADERS:
            return split_list(values[0])
        if key in LIST_HEADERS:
            out: list[str] = []
            for v in values:
                out.extend(split_list(v))
            return out
        return values

    def count(self, name: str) -> int:
        """Number of header fields (lines) called ``name``."""
        key = self._key(name)
        return sum(1 for k, _, _ in self._items if k == key)

    def add(self, name: str, value: str) -> None:
        """Append a header field at the end."""
        key, canon = canonical_name(name)
        self._items.append((key, canon, _check_value(value)))
        self.gen += 1
        self._idx = None

    def insert(self, index: int, name: str, value: str) -> None:
        """Insert a header field at ``index`` (0 = first; e.g. a new top Via)."""
        key, canon = canonical_name(name)
        self._items.insert(index, (key, canon, _check_value(value)))
        self.gen += 1
        self._idx = None

    def set(self, name: str, value: str) -> None:
        """Replace every field called ``name`` by one, at the first one's position."""
        key, canon = canonical_name(name)
        value = _check_value(value)
        out: list[tuple[str, str, str]] = []
        placed = False
        for item in self._items:
            if item[0] == key:
                if not placed:
                    out.append((key, canon, value))
                    placed = True
            else:
                out.append(item)
        if not placed:
            out.append((key, canon, value))
        self._items = out
        self.gen += 1
        self._idx = None

    def replace_top(self, name: str, value: str) -> None:
        """Replace the first list element of ``name`` (e.g. the top Via), keep the rest."""
        key, canon = canonical_name(name)
        value = _check_value(value)
        for i, (k, _, v) in enumerate(self._items):
            if k != key:
                continue
            parts = split_list(v) if "," in v and key in LIST_HEADERS else [v]
            self._items[i] = (k, canon, ", ".join([value, *parts[1:]]))
            self.gen += 1
            self._idx = None
            return
        self.add(name, value)

    def remove(self, name: str) -> None:
        """Remove every field called ``name`` (no error if absent)."""
        key = self._key(name)
        self._items = [it for it in self._items if it[0] != key]
        self.gen += 1
        self._idx = None

    def remove_first(self, name: str) -> str | None:
        """Remove the first list element of ``name`` (e.g. our own top Via); return it."""
        key = self._key(name)
        for i, (k, canon, v) in enumerate(self._items):
            if k != key:
                continue
            parts = split_list(v) if key in LIST_HEADERS else [v]
            if len(parts) <= 1:
                del self._items[i]
            else:
                self._items[i] = (k, canon, ", ".join(parts[1:]))
            self.gen += 1
            self._idx = None
            return parts[0] if parts else None
        return None

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        try:
            key = self._key(name)
        except ValueError:
            return False
        return self.first(key) is not None

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.items())

    def items(self) -> list[tuple[str, str]]:
        """``(canonical name, raw value)`` pairs in order."""
        return [(n, v) for _, n, v in self._items]

    def copy(self) -> Headers:
        """Independent copy (values are immutable strings)."""
        return Headers._from_parsed(list(self._items))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return [(k, v) for k, _, v in self._items] == [(k, v) for k, _, v in other._items]

    def __repr__(self) -> str:
        return f"Headers({self.items()!r})"


def _check_value(value: str) -> str:
    # Refuse CR/LF so a value coming from a dialplan variable cannot inject headers.
    if "\r" in value or "\n" in value:
        raise ValueError("header value must not contain CR or LF")
    return value.strip(" \t")
