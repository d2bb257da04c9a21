"""SIP messages: parse bytes, serialize, build responses, frame streams (RFC 3261 sec. 7, 18.3).

Sans-I/O: nothing here touches a socket, a clock or the event loop.

Parsing is lazy. :func:`parse_message` frames the message, splits the
header lines once and decodes only what every layer needs at once (the
request line, the top Via, From, To, Call-ID and CSeq); every other
structured view (``vias``, ``contacts``, ``max_forwards``...) is parsed on
first access and cached until ``headers`` changes. Such a lazy property
raises :class:`ParseError` if its header is malformed; call
:func:`pbx.sip.validate.check_request` to turn that into a 400 first.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Sequence
from typing import Any

from pbx.sip.headers import (
    _NAME_CACHE,
    Headers,
    _check_value,
    canonical_name,
    split_list,
)
from pbx.sip.uri import (
    NameAddr,
    Uri,
    UriError,
    Via,
    is_simple_uri,
    parse_name_addr,
    parse_uri,
    parse_via,
)

__all__ = [
    "MAX_MESSAGE_SIZE",
    "REASON_PHRASES",
    "FramingError",
    "ParseError",
    "Request",
    "Response",
    "SipMessage",
    "StreamFramer",
    "make_response",
    "parse_message",
]

MAX_MESSAGE_SIZE = 65535  # largest UDP datagram; also the TCP per-message cap

REASON_PHRASES: dict[int, str] = {
    100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued",
    183: "Session Progress", 199: "Early Dialog Terminated",
    200: "OK", 202: "Accepted", 204: "No Notification",
    300: "Multiple Choices", 301: "Moved Permanently", 302: "Moved Temporarily",
    305: "Use Proxy", 380: "Alternative Service",
    400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden",
    404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable",
    407: "Proxy Authentication Required", 408: "Request Timeout", 410: "Gone",
    412: "Conditional Request Failed", 413: "Request Entity Too Large",
    414: "Request-URI Too Long", 415: "Unsupported Media Type",
    416: "Unsupported URI Scheme", 417: "Unknown Resource-Priority", 420: "Bad Extension",
    421: "Extension Required", 422: "Session Interval Too Small", 423: "Interval Too Brief",
    428: "Use Identity Header", 429: "Provide Referrer Identity", 433: "Anonymity Disallowed",
    436: "Bad Identity-Info", 437: "Unsupported Certificate", 438: "Invalid Identity Header",
    439: "First Hop Lacks Outbound Support", 470: "Consent Needed",
    480: "Temporarily Unavailable", 481: "Call/Transaction Does Not Exist",
    482: "Loop Detected", 483: "Too Many Hops", 484: "Address Incomplete", 485: "Ambiguous",
    486: "Busy Here", 487: "Request Terminated", 488: "Not Acceptable Here",
    489: "Bad Event", 491: "Request Pending", 493: "Undecipherable",
    494: "Security Agreement Required",
    500: "Server Internal Error", 501: "Not Implemented", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Server Time-out", 505: "Version Not Supported",
    513: "Message Too Large", 555: "Push Notification Service Not Supported",
    580: "Precondition Failure",
    600: "Busy Everywhere", 603: "Decline", 604: "Does Not Exist Anywhere",
    606: "Not Acceptable", 607: "Unwanted", 608: "Rejected",
}

_TOKEN_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
# Known methods skip the token regex (a set lookup is far cheaper on the hot path).
_COMMON_METHODS = frozenset({"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "PRACK",
                             "SUBSCRIBE", "NOTIFY", "PUBLISH", "INFO", "REFER", "MESSAGE",
                             "UPDATE"})
_VERSION_RE = re.compile(r"SIP/\d+\.\d+", re.IGNORECASE)
_DIGITS = frozenset("0123456789")
_MAX_CSEQ = 2**32 - 1


class ParseError(Exception):
    """A message that cannot be processed.

    ``reason`` is the human text (used as the reason phrase), ``status`` the
    answer to send (400, 505, 513...). ``message`` is the partially parsed
    message (a :class:`SipMessage`, possibly without start-line data) or None
    when not even the header section could be split. ``can_answer`` says
    whether :meth:`response_bytes` can build an answer: only for requests
    other than ACK whose Via header was read.
    """

    def __init__(self, reason: str, status: int = 400, *, message: SipMessage | None = None,
                 method: str | None = None, is_request: bool | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.message = message
        self.method = method
        self.is_request = is_request

    @property
    def request_line_ok(self) -> bool:
        """True when the failure is not in the start line."""
        return isinstance(self.message, Request)

    @property
    def can_answer(self) -> bool:
        """Whether an error response can be built (request, not ACK, has a Via)."""
        return (self.is_request is True and self.method != "ACK" and self.message is not None
                and "Via" in self.message.headers)

    def response_bytes(self, server_header: str | None = None) -> bytes | None:
        """The error response (Via/From/To/Call-ID/CSeq copied), or None if unanswerable.

        A To tag is added when missing, derived from the request so that a
        retransmitted bad request gets the very same answer.
        """
        if not self.can_answer or self.message is None:
            return None
        headers = self.message.headers
        reason = self.reason.replace("\r", " ").replace("\n", " ")
        lines = [f"SIP/2.0 {self.status} {reason}"]
        for key, canon, value in headers._items:
            if key in ("via", "from", "call-id", "cseq"):
                lines.append(f"{canon}: {value}")
            elif key == "to":
                if ";tag=" not in value.replace(" ", "").lower():
                    tag = format(zlib.crc32(repr(headers._items).encode("utf-8",
                                                                     "surrogateescape")), "x")
                    value = f"{value};tag={tag}"
                lines.append(f"To: {value}")
        if server_header:
            lines.append(f"Server: {server_header}")
        lines.append("Content-Length: 0")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape")


class FramingError(ValueError):
    """A stream lost its framing (bad Content-Length, oversized header): close it.

    ``status`` is the answer the message deserves (513 when too large, else 400)
    and ``head`` the start of the offending message, to build that answer from.
    """

    def __init__(self, reason: str, status: int = 400, head: bytes = b"") -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.head = head
        self.messages: list[bytes] = []  # complete ones before the error: still deliver them


class SipMessage:
    """Common part of requests and responses: headers, body and lazy views.

    ``raw`` holds the bytes the message was parsed from (None if built
    locally), handy to relay or retransmit without re-serialising.
    """

    is_request = False

    def __init__(self, headers: Headers | None = None, body: bytes = b"") -> None:
        self.headers = headers if headers is not None else Headers()
        self.body = body
        self.raw: bytes | None = None
        # (head bytes, headers object, start line) of a parsed message, so that an
        # unmodified message serializes as the very bytes received.
        self._raw_head: tuple[bytes, Headers, str] | None = None
        self._cache: dict[str, Any] = {}
        self._gen = self.headers.gen

    # --- lazy views ---------------------------------------------------------
    # Each view is parsed once and kept in ``_cache`` until ``headers.gen`` moves.
    def _cached(self, key: str, fn: Callable[[], Any]) -> Any:
        headers = self.headers
        if self._gen != headers.gen:
            self._cache.clear()
            self._gen = headers.gen
        try:
            return self._cache[key]
        except KeyError:
            pass
        value = self._cache[key] = fn()
        return value

    def _error(self, reason: str) -> ParseError:
        # Not getattr(self, "method"): on a Response that property reads CSeq again.
        method = self.__dict__.get("method")
        return ParseError(reason, 400, message=self, method=method, is_request=self.is_request)

    def _one(self, key: str, name: str) -> str:
        value = self.headers.first(key)
        if value is None:
            raise self._error(f"Bad Request - Missing {name} header")
        return value

    @property
    def vias(self) -> list[Via]:
        """All Via values, top first."""
        if self._gen == self.headers.gen:
            try:
                return self._cache["vias"]
            except KeyError:
                pass
        return self._cached("vias", self._parse_vias)

    def _parse_vias(self) -> list[Via]:
        values = self.headers.get_all("Via")
        if len(values) == 1:
            # One Via value: it is the top one, usually parsed already by parse_message.
            return [self.top_via]
        try:
            vias = [parse_via(v) for v in values]
        except Exception as exc:  # any parser failure on odd input is a 400
            raise self._error("Bad Request - Malformed Via") from exc
        return vias

    @property
    def top_via(self) -> Via:
        """The topmost Via (parsed without parsing the others)."""
        if self._gen == self.headers.gen:
            try:
                return self._cache["top_via"]
            except KeyError:
                pass
        return self._cached("top_via", self._parse_top_via)

    def _parse_top_via(self) -> Via:
        value = self._one("via", "Via")
        if "," in value:
            parts = split_list(value)
            if not parts:
                raise self._error("Bad Request - Malformed Via")
            value = parts[0]
        try:
            return parse_via(value)
        except Exception as exc:  # any parser failure on odd input is a 400
            raise self._error("Bad Request - Malformed Via") from exc

    def stamp_received(self, host: str, port: int) -> None:
        """Record where the request came from in its top Via (RFC 3261 18.2.1, RFC 3581).

        ``received`` is added when the sent-by host differs from ``host``, or
        always when the client asked for ``rport``, which gets the source port.
        Every response built from the request then carries both. The parsed
        views stay cached: only the top Via changes.
        """
        via = self.top_via
        params = via.params
        asked = "rport" in params
        if not asked and via.host == host:
            return
        params["received"] = host
        if asked:
            params["rport"] = str(port)
        cache = self._cache
        cache.pop("vias", None)
        self.headers.replace_top("Via", str(via))
        self._gen = self.headers.gen

    @property
    def call_id(self) -> str:
        """The Call-ID value."""
        if self._gen == self.headers.gen:
            try:
                return self._cache["call_id"]
            except KeyError:
                pass
        return self._cached("call_id", self._parse_call_id)

    def _parse_call_id(self) -> str:
        value = self._one("call-id", "Call-ID")
        if not value or " " in value or "\t" in value:
            raise self._error("Bad Request - Malformed Call-ID")
        return value

    @property
    def cseq(self) -> tuple[int, str]:
        """``(number, method)``; numbers up to 2**32-1 are accepted."""
        if self._gen == self.headers.gen:
            try:
                return self._cache["cseq"]
            except KeyError:
                pass
        return self._cached("cseq", self._parse_cseq)

    def _parse_cseq(self) -> tuple[int, str]:
        parts = self._one("cseq", "CSeq").split()
        if (len(parts) != 2 or not parts[0].isascii() or not parts[0].isdigit()
                or (parts[1] not in _COMMON_METHODS and not _TOKEN_RE.fullmatch(parts[1]))):
            raise self._error("Bad Request - Malformed CSeq")
        number = int(parts[0])
        if number > _MAX_CSEQ:
            raise self._error("Bad Request - CSeq number too large")
        return number, parts[1]

    @property
    def from_addr(self) -> NameAddr:
        """The From value."""
        if self._gen == self.headers.gen:
            try:
                return self._cache["from"]
            except KeyError:
                pass
        return self._cached("from", lambda: self._addr("from", "From"))

    @property
    def to_addr(self) -> NameAddr:
        """The To value."""
        if self._gen == self.headers.gen:
            try:
                return self._cache["to"]
            except KeyError:
                pass
        return self._cached("to", lambda: self._addr("to", "To"))

    def _addr(self, key: str, name: str) -> NameAddr:
        value = self._one(key, name)
        try:
            return parse_name_addr(value)
        except Exception as exc:  # any parser failure on odd input is a 400
            raise self._error(f"Bad Request - Malformed {name}") from exc

    def _addr_list(self, name: str) -> list[NameAddr]:
        try:
            return [parse_name_addr(v) for v in self.headers.get_all(name)]
        except Exception as exc:  # any parser failure on odd input is a 400
            raise self._error(f"Bad Request - Malformed {name}") from exc

    @property
    def contact_star(self) -> bool:
        """True for ``Contact: *`` (REGISTER remove-all)."""
        return self.headers.get_all("Contact") == ["*"]

    @property
    def contacts(self) -> list[NameAddr]:
        """Contact values ([] when absent or ``*``)."""
        return self._cached("contacts", self._parse_contacts)

    def _parse_contacts(self) -> list[NameAddr]:
        values = self.headers.get_all("Contact")
        if "*" in values:
            if len(values) != 1:
                raise self._error("Bad Request - Contact * mixed with addresses")
            return []
        return self._addr_list("Contact")

    @property
    def routes(self) -> list[NameAddr]:
        """Route values, in order."""
        return self._cached("routes", lambda: self._addr_list("Route"))

    @property
    def record_routes(self) -> list[NameAddr]:
        """Record-Route values, in order."""
        return self._cached("record_routes", lambda: self._addr_list("Record-Route"))

    @property
    def max_forwards(self) -> int | None:
        """Max-Forwards; None if absent or above 255 (RFC 4475 scalar02: treat as absent)."""
        return self._cached("max_forwards", self._parse_max_forwards)

    def _parse_max_forwards(self) -> int | None:
        value = self.headers.first("max-forwards")
        if value is None:
            return None
        if not value.isascii() or not value.isdigit():
            raise self._error("Bad Request - Malformed Max-Forwards")
        number = int(value)
        return number if number <= 255 else None

    @property
    def expires(self) -> int | None:
        """Expires in seconds; None if absent, not delta-seconds or above 2**32-1."""
        value = self.headers.first("expires")
        if value is None or not value.isascii() or not value.isdigit():
            return None
        number = int(value)
        return number if number <= _MAX_CSEQ else None

    @property
    def content_type(self) -> str | None:
        """Media type ``type/subtype`` lowercased, without parameters (None if absent)."""
        value = self.headers.first("content-type")
        if value is None:
            return None
        return value.split(";", 1)[0].strip(" \t").lower()

    # --- serialisation ------------------------------------------------------
    def start_line(self) -> str:
        """The first line, without CRLF."""
        raise NotImplementedError

    def to_bytes(self) -> bytes:
        """Serialize; Content-Length is recomputed from ``body``.

        A parsed message whose start line, headers and body length are
        unchanged gives back its received header bytes (relay/retransmit path).
        """
        body = self.body
        rh = self._raw_head
        if (rh is not None and rh[1] is self.headers and self.headers.gen == 0
                and self.headers.first("content-length") == str(len(body))
                and rh[2] == self.start_line()):
            return rh[0] + b"\r\n\r\n" + body
        items = self.headers._items
        cl = f"Content-Length: {len(body)}\r\n"
        lines = [cl if k == "content-length" else f"{c}: {v}\r\n" for k, c, v in items]
        n = lines.count(cl)
        if n == 0:
            lines.append(cl)
        elif n > 1:  # repeated Content-Length in a built message: keep the first only
            first = lines.index(cl)
            lines = lines[:first + 1] + [x for x in lines[first + 1:] if x != cl]
        return f"{self.start_line()}\r\n{''.join(lines)}\r\n".encode(
            "utf-8", "surrogateescape") + body

    def __bytes__(self) -> bytes:
        return self.to_bytes()


class Request(SipMessage):
    """A SIP request. ``uri`` is parsed; ``uri_text`` is the Request-URI as received."""

    is_request = True

    def __init__(self, method: str, uri: Uri | str, headers: Headers | None = None,
                 body: bytes = b"", version: str = "SIP/2.0") -> None:
        super().__init__(headers, body)
        self.method = method
        self.version = version
        if isinstance(uri, str):
            self.uri_text = uri
            self._uri: Uri | None = parse_uri(uri)
        else:
            self._uri = uri
            self.uri_text = str(uri)

    @property
    def uri(self) -> Uri:
        """The Request-URI, parsed (on first use for a received request)."""
        u = self._uri
        if u is None:
            # The parser checked uri_text has the simple shape: this cannot fail.
            u = self._uri = parse_uri(self.uri_text)
        return u

    @uri.setter
    def uri(self, value: Uri) -> None:
        self._uri = value

    def start_line(self) -> str:
        """``METHOD uri SIP/2.0``."""
        u = self._uri
        # Never parsed, so never changed: the text received is the text to send.
        return f"{self.method} {self.uri_text if u is None else u} {self.version}"

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.uri}>"


class Response(SipMessage):
    """A SIP response."""

    def __init__(self, status: int, reason: str | None = None, headers: Headers | None = None,
                 body: bytes = b"", version: str = "SIP/2.0") -> None:
        super().__init__(headers, body)
        self.status = status
        self.reason = REASON_PHRASES.get(status, "") if reason is None else reason
        self.version = version

    @property
    def method(self) -> str:
        """The method of the request answered (from CSeq)."""
        return self.cseq[1]

    def start_line(self) -> str:
        """``SIP/2.0 code reason``."""
        return f"{self.version} {self.status} {self.reason}"

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason}>"


# --- parsing --------------------------------------------------------------------

def _header_items(lines: list[str]) -> tuple[list[tuple[str, str, str]], str | None]:
    """Lines -> (key, canonical, value) triples, unfolding continuations; error text or None."""
    items: list[tuple[str, str, str]] = []
    for line in lines:
        if not line:
            continue
        first = line[0]
        if first == " " or first == "\t":
            if not items:
                return items, "Bad Request - Malformed header folding"
            key, canon, value = items[-1]
            more = line.strip(" \t")
            items[-1] = (key, canon, f"{value} {more}" if value else more)
            continue
        colon = line.find(":")
        if colon <= 0:
            return items, "Bad Request - Malformed header line"
        try:
            key, canon = canonical_name(line[:colon])
        except ValueError:
            return items, "Bad Request - Malformed header name"
        items.append((key, canon, line[colon + 1:].strip(" \t")))
    return items, None


def _content_length(items: list[tuple[str, str, str]]) -> int | str | None:
    """Content-Length value, None if absent, or an error text."""
    found: str | None = None
    for key, _, value in items:
        if key == "content-length":
            if found is not None:
                return "Bad Request - Multiple Content-Length headers"
            found = value
    return _check_length({} if found is None else {"content-length": found}, False)


def _check_length(first: dict[str, str], repeated: bool) -> int | str | None:
    """Content-Length from the first-value index; None if absent, or an error text."""
    if repeated:
        return "Bad Request - Multiple Content-Length headers"
    found = first.get("content-length")
    if found is None:
        return None
    if not found.isascii() or not found.isdigit() or len(found) > 10:
        return "Bad Request - Malformed Content-Length"
    return int(found)


def parse_message(data: bytes) -> Request | Response:
    """Parse one datagram or one framed stream message; raise :class:`ParseError`.

    Content-Length larger than the bytes present gives 400; smaller truncates
    the body (trailing octets ignored); absent means "the rest of the datagram".
    """
    try:
        return _parse(bytes(data))
    except ParseError:
        raise
    except Exception as exc:  # never let odd input crash the caller
        raise ParseError(f"Bad Request - {type(exc).__name__}") from exc


def _parse(data: bytes) -> Request | Response:
    if data[:1] in (b"\r", b"\n"):
        data = data.lstrip(b"\r\n")  # RFC 3261 7.5: ignore CRLFs before the start line
    # Split at the empty line; tolerate bare-LF line ends and a missing empty line.
    end = data.find(b"\r\n\r\n")
    raw_head: bytes | None = None
    items: list[tuple[str, str, str]] | None = None
    first: dict[str, str] | None = None
    cl_dup = False
    problem: str | None = None
    fast = False
    if end >= 0:
        head_b = data[:end]
        head = head_b.decode("utf-8", "surrogateescape")
        lines = head.split("\r\n")
        if head.count("\n") == len(lines) - 1 and head.count("\r") == len(lines) - 1:
            # CRLF line ends only: no "\n\n" can come before the first CRLFCRLF, so it
            # ends the head, and the head bytes can be reused by to_bytes.
            fast = True
            raw_head = head_b
            body = data[end + 4:]
            # Every name already seen once (a folded line, starting with a space or
            # tab, never hits the name cache, which holds no such spelling).
            items = []
            append = items.append
            index: dict[str, str] = {}
            try:
                # A plain loop: measurably faster than a nested comprehension here (and
                # than map/zip over columns). It also builds the first-value index that
                # Headers.first() would otherwise build.
                for line in lines[1:]:
                    n, v = line.split(":", 1)
                    key, canon = _NAME_CACHE[n]
                    v = v.strip(" \t")
                    append((key, canon, v))
                    if key not in index:
                        index[key] = v
                    elif key == "content-length":
                        cl_dup = True
                first = index
            except (KeyError, ValueError):
                items = None
                if "\n " in head or "\n\t" in head:
                    raw_head = None  # folded: serialize afresh
    if not fast:
        lf = data.find(b"\n\n", 0, end if end >= 0 else len(data))
        if lf >= 0:
            head_b, body = data[:lf], data[lf + 2:]
        elif end >= 0:
            head_b, body = data[:end], data[end + 4:]
        else:
            head_b, body = data.rstrip(b"\r\n"), b""
        head = head_b.decode("utf-8", "surrogateescape")
        lines = head.split("\r\n")
    if items is None:
        first = None
        if head.count("\n") != len(lines) - 1:
            lines = head.replace("\r\n", "\n").split("\n")
        items, problem = _header_items(lines[1:])
        if problem is None and "\r" in head and any("\r" in line for line in lines):
            # CR only ever ends a line with LF; a lone one would end up in a header
            # value we echo back (RFC 3261 7.3.1 allows no CR inside a line).
            problem = "Bad Request - CR inside a line"
    start = lines[0]
    is_request = not start.startswith("SIP/")
    method = start.split(" ", 1)[0] if is_request else None
    headers = Headers._from_parsed(items)
    headers._idx = first

    def fail(reason: str, status: int = 400) -> ParseError:
        return ParseError(reason, status, message=SipMessage(headers), method=method,
                          is_request=is_request)

    if problem is not None:
        raise fail(problem)
    if not start:
        raise fail("Bad Request - Empty start line")

    # Framing (RFC 3261 18.3).
    length = _content_length(items) if first is None else _check_length(first, cl_dup)
    if isinstance(length, str):
        raise fail(length)
    if length is not None:
        if length > len(body):
            raise fail("Bad Request - Content-Length larger than message")
        if length < len(body):
            body = body[:length]
    if len(head) + len(body) > MAX_MESSAGE_SIZE:
        raise fail("Message Too Large", 513)

    msg: Request | Response
    if is_request:
        parts = start.split(" ")
        # Exactly one SP between the three elements (RFC 4475 lwsstart, trws, lwsruri).
        if len(parts) != 3 or "" in parts:
            raise fail("Bad Request - Malformed Request-Line")
        method, uri_text, version = parts
        if method not in _COMMON_METHODS and not _TOKEN_RE.fullmatch(method):
            raise fail("Bad Request - Malformed method")
        if version != "SIP/2.0" and version.upper() != "SIP/2.0":
            if _VERSION_RE.fullmatch(version):
                raise fail("Version Not Supported", 505)
            raise fail("Bad Request - Malformed SIP version")
        uri: Uri | None = None
        if not is_simple_uri(uri_text):  # the common shape is parsed on first use
            try:
                uri = parse_uri(uri_text)
            except UriError as exc:
                raise fail("Bad Request - Malformed Request-URI") from exc
            if uri.headers:
                # RFC 4475 escruri: never turn escaped URI headers into real ones.
                raise fail("Bad Request - Headers in Request-URI")
        req = Request.__new__(Request)
        req.headers = headers
        req.body = body
        req.raw = None
        req._raw_head = None
        req._cache = {}
        req._gen = 0
        req.method = method
        req.version = "SIP/2.0"
        req._uri = uri
        req.uri_text = uri_text
        msg = req
    else:
        parts = start.split(" ", 2)
        version = parts[0]
        if version.upper() != "SIP/2.0":
            if _VERSION_RE.fullmatch(version):
                raise fail("Version Not Supported", 505)
            raise fail("Bad Request - Malformed Status-Line")
        code = parts[1] if len(parts) > 1 else ""
        if len(code) != 3 or not code.isascii() or not code.isdigit() or code[0] == "0":
            raise fail("Bad Request - Malformed status code")
        resp = Response.__new__(Response)
        resp.headers = headers
        resp.body = body
        resp.raw = None
        resp._raw_head = None
        resp._cache = {}
        resp._gen = 0
        resp.status = int(code)
        resp.reason = parts[2] if len(parts) > 2 else ""
        resp.version = "SIP/2.0"
        msg = resp
    msg.raw = data
    if raw_head is not None and length == len(body):
        msg._raw_head = (raw_head, headers, start)
    # Essentials every layer reads at once: fail here, while the caller expects it.
    # The common shapes are decoded inline; anything else (and every error) goes
    # through the lazy properties' parsers, which name the bad header.
    cache = msg._cache
    idx = headers._idx
    if idx is None:
        headers.first("via")  # builds the first-value index
        idx = headers._idx
    get = idx.get
    value = get("via")
    if value is not None and "," not in value:
        try:
            cache["top_via"] = parse_via(value)
        except Exception as exc:  # any parser failure on odd input is a 400
            raise msg._error("Bad Request - Malformed Via") from exc
    else:
        cache["top_via"] = msg._parse_top_via()
    value = get("call-id")
    if value and " " not in value and "\t" not in value:
        cache["call_id"] = value
    else:
        cache["call_id"] = msg._parse_call_id()
    value = get("cseq")
    parts = value.split() if value is not None else ()
    if (len(parts) == 2 and parts[1] in _COMMON_METHODS and len(parts[0]) < 10
            and parts[0].isdigit() and parts[0].isascii()):
        cache["cseq"] = (int(parts[0]), parts[1])
    else:
        cache["cseq"] = msg._parse_cseq()
    for key, name, slot in (("from", "From", "from"), ("to", "To", "to")):
        value = get(key)
        if value is None:
            cache[slot] = msg._addr(key, name)  # raises "Missing ... header"
            continue
        try:
            cache[slot] = parse_name_addr(value)
        except Exception as exc:  # any parser failure on odd input is a 400
            raise msg._error(f"Bad Request - Malformed {name}") from exc
    return msg


# --- responses -------------------------------------------------------------------

def make_response(request: Request, status: int, reason: str | None = None, *,
                  to_tag: str | None = None, headers: Sequence[tuple[str, str]] = (),
                  body: bytes = b"", content_type: str | None = None) -> Response:
    """Build a response to ``request`` (RFC 3261 8.2.6).

    Copies every Via, From, To (adding ``;tag=to_tag`` when To has no tag),
    Call-ID and CSeq; then ``headers`` in order, then Content-Type when given.
    ``reason`` defaults to the standard phrase of ``status``.
    """
    items: list[tuple[str, str, str]] = []
    append = items.append
    to_kept = True
    for item in request.headers._items:
        key = item[0]
        if key in _COPIED:
            append(item)
        elif key == "to":
            if to_tag is not None:
                value = item[2]
                try:
                    has_tag = request.to_addr.tag is not None
                except ParseError:
                    has_tag = ";tag=" in value.replace(" ", "").lower()
                if not has_tag:
                    item = (key, item[1], f"{value};tag={to_tag}")
                    to_kept = False
            append(item)
    for name, value in headers:
        key, canon = canonical_name(name)
        append((key, canon, _check_value(value)))
    resp = Response(status, reason, Headers._from_parsed(items), body)
    # The copied headers parse as the request's did: share those immutable views
    # (str, tuple) and the parsed From/To/Via, which nothing mutates in place.
    if request._gen == request.headers.gen:
        rc = request._cache
        cache = resp._cache
        for name in _SHARED_VIEWS:
            if name in rc:
                cache[name] = rc[name]
        if to_kept and "to" in rc:
            cache["to"] = rc["to"]
    if content_type is not None:
        resp.headers.set("Content-Type", content_type)
    return resp


_COPIED = frozenset({"via", "from", "call-id", "cseq"})
_SHARED_VIEWS = ("top_via", "call_id", "cseq", "from")


# --- stream framing ----------------------------------------------------------------

class StreamFramer:
    """Cut a TCP/TLS byte stream into messages by Content-Length (RFC 3261 18.3).

    ``feed(data)`` returns the complete messages now available. CRLF
    keep-alives between messages are skipped; every ``\\r\\n\\r\\n`` ping
    (RFC 5626 3.5.1) increments ``pings``: the transport answers each with a
    ``\\r\\n`` pong and resets the counter (or calls :meth:`take_pings`).
    A message without Content-Length is taken as having no body.
    :class:`FramingError` means the stream cannot be resynchronised: close it.
    """

    def __init__(self, max_size: int = MAX_MESSAGE_SIZE) -> None:
        self._buf = bytearray()
        self.max_size = max_size
        self.pings = 0
        # Where the search for the end of the header resumes: a header dripped in a
        # byte at a time (slowloris) is scanned once, not once per byte.
        self._scanned = 0
        self._need = 0  # length of the message whose body is still arriving

    def take_pings(self) -> int:
        """Return and reset the number of pings seen."""
        n, self.pings = self.pings, 0
        return n

    @property
    def buffered(self) -> int:
        """Bytes waiting for the rest of a message."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes]:
        """Add bytes; return the complete messages (possibly none).

        On FramingError, ``exc.messages`` holds the messages completed before it.
        """
        out: list[bytes] = []
        try:
            return self._feed(data, out)
        except FramingError as exc:
            exc.messages = out
            raise

    def _feed(self, data: bytes, out: list[bytes]) -> list[bytes]:
        buf = self._buf
        buf += data
        if self._need:
            if len(buf) < self._need:
                return out  # a body still arriving: its header was read already
            out.append(bytes(buf[:self._need]))
            del buf[:self._need]
            self._need = self._scanned = 0
        while buf:
            if buf[0] in (13, 10):  # CR or LF between messages
                if buf.startswith(b"\r\n\r\n"):
                    self.pings += 1
                    del buf[:4]
                    continue
                if len(buf) < 4 and b"\r\n\r\n".startswith(bytes(buf)):
                    break  # maybe the start of a ping: wait
                del buf[:2 if buf.startswith(b"\r\n") else 1]
                continue
            end = buf.find(b"\r\n\r\n", max(0, self._scanned - 3))
            if end < 0:
                self._scanned = len(buf)
                if len(buf) > self.max_size:
                    raise FramingError("header section too large", 513, bytes(buf[:8192]))
                break
            head_len = end + 4
            try:
                length = self._content_length(bytes(buf[:end]))
            except FramingError as exc:
                exc.head = bytes(buf[:head_len])
                raise
            total = head_len + length
            if total > self.max_size:
                raise FramingError("message too large", 513, bytes(buf[:head_len]))
            if len(buf) < total:
                self._need = total  # the header is complete: only the body is awaited
                break
            out.append(bytes(buf[:total]))
            del buf[:total]
            self._scanned = 0
        return out

    @staticmethod
    def _content_length(head: bytes) -> int:
        found: bytes | None = None
        for line in head.split(b"\r\n")[1:]:
            colon = line.find(b":")
            if colon <= 0 or line[:1] in (b" ", b"\t"):
                continue
            name = line[:colon].strip().lower()
            if name == b"content-length" or name == b"l":
                if found is not None:
                    raise FramingError("multiple Content-Length headers")
                found = line[colon + 1:].strip()
        if found is None:
            return 0
        if not found.isdigit() or len(found) > 10:
            raise FramingError(f"bad Content-Length {found[:20]!r}")
        return int(found)
