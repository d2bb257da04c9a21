"""Semantic checks a UAS or registrar makes before processing a request (RFC 3261 8.2).

Each check returns ``None`` (go on) or ``(status, reason, extra_headers)``
for the caller to answer with ``make_response(req, status, reason,
headers=extra_headers)``. Nothing here raises on a parsed message: lazy
header parse errors become 400 answers. An ACK must never be answered; the
caller drops it instead, whatever these functions return.
"""

from __future__ import annotations

from pbx.sip.message import ParseError, Request, Response

__all__ = ["KNOWN_METHODS", "SINGLE_HEADERS", "check_register", "check_request",
           "check_response"]

# Methods the stack knows at all: anything else is 501, not 405 (RFC 3261 21.5.2).
KNOWN_METHODS = frozenset({
    "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "PRACK", "SUBSCRIBE",
    "NOTIFY", "PUBLISH", "INFO", "REFER", "MESSAGE", "UPDATE",
})

# Headers that may appear only once (RFC 4475 multi01).
SINGLE_HEADERS = ("Call-ID", "CSeq", "From", "To", "Max-Forwards", "Content-Type",
                  "Content-Length", "Expires")

_SIP_SCHEMES = frozenset({"sip", "sips", "tel"})

Answer = tuple[int, str, list[tuple[str, str]]]


_MANDATORY = tuple((name, name.lower()) for name in ("Via", "Call-ID", "CSeq", "From", "To"))
_SINGLE_KEYS = tuple((name, name.lower()) for name in SINGLE_HEADERS)


def _structure(msg: Request | Response) -> str | None:
    """400-class problems: missing or repeated mandatory headers, malformed values."""
    headers = msg.headers
    first = headers.first
    for name, key in _MANDATORY:
        if first(key) is None:
            return f"Bad Request - Missing {name} header"
    keys = [item[0] for item in headers._items]
    if len(set(keys)) != len(keys):  # some name repeats: is it one that must not?
        for name, key in _SINGLE_KEYS:
            if keys.count(key) > 1:
                return f"Bad Request - Multiple {name} headers"
    try:
        vias = msg.vias
        msg.call_id  # noqa: B018 - parse for its error
        msg.cseq  # noqa: B018
        msg.from_addr  # noqa: B018
        msg.to_addr  # noqa: B018
        # Absent headers cannot be malformed: skip their (empty) parse.
        if first("contact") is not None:
            msg.contacts  # noqa: B018
        if first("route") is not None:
            msg.routes  # noqa: B018
        if first("record-route") is not None:
            msg.record_routes  # noqa: B018
        if first("max-forwards") is not None:
            msg.max_forwards  # noqa: B018
    except ParseError as exc:
        return exc.reason
    if not vias:
        return "Bad Request - Missing Via header"
    return None


def check_request(req: Request, *, allowed_methods: set[str] | frozenset[str],
                  supported: set[str] | frozenset[str],
                  accepted_types: set[str] | frozenset[str]) -> Answer | None:
    """Return the error answer for ``req`` or None, checking in RFC 3261 8.2 order.

    1. 400 for missing/repeated mandatory headers, malformed headers, and a
       bare ``branch=z9hG4bK`` (RFC 4475 badbranch).
    2. 501 Not Implemented (method not in KNOWN_METHODS) or 405 Method Not
       Allowed (known but not in ``allowed_methods``), both with Allow.
    3. 400 when the CSeq method differs from the request method (ACK and
       CANCEL included: their CSeq carries their own method).
    4. 416 Unsupported URI Scheme when the Request-URI is not sip/sips/tel.
    5. 420 Bad Extension with Unsupported listing Require tags not in
       ``supported`` (Proxy-Require is for proxies: ignored). Not for ACK/CANCEL.
    6. 415 Unsupported Media Type with Accept when a body's Content-Type is
       not in ``accepted_types``.
    7. 406 Not Acceptable for an INVITE whose Accept excludes application/sdp.
    """
    problem = _structure(req)
    if problem is not None:
        return 400, problem, []
    branch = req.vias[0].branch
    if branch is not None and branch == "z9hG4bK":
        return 400, "Bad Request - Malformed Via branch", []

    allow = [("Allow", ", ".join(sorted(allowed_methods)))]
    if req.method not in KNOWN_METHODS:
        return 501, "Not Implemented", allow
    if req.method not in allowed_methods:
        return 405, "Method Not Allowed", allow

    if req.cseq[1] != req.method:
        return 400, "Bad Request - CSeq method does not match", []

    # A Request-URI not parsed yet has the common sip/sips shape: read the scheme off it.
    uri = req.__dict__.get("_uri", req)
    scheme = req.uri_text.partition(":")[0] if uri is None else req.uri.scheme
    if scheme not in _SIP_SCHEMES:
        return 416, "Unsupported URI Scheme", []

    if req.method not in ("ACK", "CANCEL"):
        unknown = [tag for tag in req.headers.get_all("Require") if tag not in supported]
        if unknown:
            return 420, "Bad Extension", [("Unsupported", ", ".join(unknown))]

    if req.body:
        ctype = req.content_type
        if ctype is None or ctype not in accepted_types:
            return 415, "Unsupported Media Type", [
                ("Accept", ", ".join(sorted(accepted_types)))]

    if req.method == "INVITE" and "Accept" in req.headers:
        accepted = {a.split(";", 1)[0].strip().lower() for a in req.headers.get_all("Accept")}
        if accepted and not accepted & {"application/sdp", "application/*", "*/*"}:
            return 406, "Not Acceptable", []
    return None


def check_register(req: Request) -> Answer | None:
    """Registrar-only checks (RFC 3261 10.3), after :func:`check_request`.

    400 when To is not a sip/sips AOR (RFC 4475 unksm2), when ``Contact: *``
    comes with other contacts or an Expires other than 0.
    """
    try:
        to = req.to_addr
        star = req.contact_star
        contacts = req.contacts
    except ParseError as exc:
        return 400, exc.reason, []
    if to.uri.scheme not in ("sip", "sips"):
        return 400, "Bad Request - To must be a SIP URI", []
    if star:
        if req.expires != 0 or req.headers.get("Expires") is None:
            return 400, "Bad Request - Contact * needs Expires: 0", []
    elif "*" in req.headers.get_all("Contact") and contacts:
        return 400, "Bad Request - Contact * mixed with addresses", []
    return None


def check_response(resp: Response) -> bool:
    """True if a received response is well formed enough to process; else drop it.

    Checks the status range (100-699), the mandatory headers, single-valued
    header repetition and the Via list (RFC 4475 bigcode, scalarlg).
    """
    if not 100 <= resp.status <= 699:
        return False
    return _structure(resp) is None
