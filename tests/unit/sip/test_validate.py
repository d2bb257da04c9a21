"""UAS/registrar request checks and response sanity checks."""

from __future__ import annotations

from pbx.sip.message import Request, Response, parse_message
from pbx.sip.validate import check_register, check_request, check_response

BASE = (
    "{method} sip:bob@example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK{branch}\r\n"
    "From: <sip:alice@example.com>;tag=1\r\n"
    "To: {to}\r\n"
    "Call-ID: c1\r\n"
    "CSeq: 7 {cseq}\r\n"
    "Max-Forwards: 70\r\n"
    "{extra}"
    "Content-Length: {length}\r\n\r\n{body}"
)


def req(method: str = "OPTIONS", *, cseq: str | None = None, extra: str = "", body: str = "",
        to: str = "<sip:bob@example.com>", branch: str = "abc") -> Request:
    """Build and parse a request."""
    data = BASE.format(method=method, cseq=cseq or method, extra=extra, body=body,
                       length=len(body.encode()), to=to, branch=branch).encode()
    msg = parse_message(data)
    assert isinstance(msg, Request)
    return msg


def check(r: Request, **kw: object) -> tuple[int, str, list[tuple[str, str]]] | None:
    """check_request with PBX-like defaults."""
    args: dict = {"allowed_methods": {"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER"},
                  "supported": {"replaces", "timer"}, "accepted_types": {"application/sdp"}}
    args.update(kw)
    return check_request(r, **args)


def sr(result: tuple[int, str, list[tuple[str, str]]] | None) -> tuple[int, str] | None:
    """(status, reason) of a check result."""
    return None if result is None else result[:2]


def st(result: tuple[int, str, list[tuple[str, str]]] | None) -> int | None:
    """Status of a check result."""
    return None if result is None else result[0]


def test_good_request_passes() -> None:
    assert check(req()) is None
    assert check(req("INVITE", body="v=0\r\n", extra="Content-Type: application/sdp\r\n")) is None


def test_unknown_method_is_501_known_but_not_allowed_is_405() -> None:
    result = check(req("FOO"))
    assert result is not None
    status, reason, headers = result
    assert (status, reason) == (501, "Not Implemented")
    assert headers == [("Allow", "ACK, BYE, CANCEL, INVITE, OPTIONS, REGISTER")]
    result = check(req("SUBSCRIBE"))
    assert result is not None
    status, reason, headers = result
    assert (status, reason) == (405, "Method Not Allowed")
    assert headers[0][0] == "Allow"


def test_cseq_mismatch() -> None:
    result = check(req("OPTIONS", cseq="INVITE"))
    assert sr(result) == (400, "Bad Request - CSeq method does not match")


def test_require_and_proxy_require() -> None:
    r = req(extra="Require: timer, foo\r\nRequire: bar\r\nProxy-Require: baz\r\n")
    assert check(r) == (420, "Bad Extension", [("Unsupported", "foo, bar")])
    assert check(req(extra="Proxy-Require: baz\r\n")) is None
    assert check(req("ACK", extra="Require: foo\r\n")) is None


def test_unsupported_media_type() -> None:
    r = req("INVITE", body="hello", extra="Content-Type: text/plain\r\n")
    assert check(r) == (415, "Unsupported Media Type", [("Accept", "application/sdp")])
    r = req("INVITE", body="v=0", extra="Content-Type: Application/SDP; charset=x\r\n")
    assert check(r) is None
    r = req("INVITE", body="v=0")  # body without Content-Type
    assert st(check(r)) == 415


def test_accept_without_sdp_is_406() -> None:
    assert st(check(req("INVITE", extra="Accept: text/plain\r\n"))) == 406
    assert check(req("INVITE", extra="Accept: text/plain, application/*\r\n")) is None
    assert check(req("OPTIONS", extra="Accept: text/plain\r\n")) is None


def test_uri_scheme() -> None:
    data = BASE.format(method="OPTIONS", cseq="OPTIONS", extra="", body="", length=0,
                       to="<sip:b@c>", branch="x").replace("sip:bob@example.com SIP",
                                                           "im:bob@example.com SIP")
    r = parse_message(data.encode())
    assert isinstance(r, Request)
    assert check(r) == (416, "Unsupported URI Scheme", [])
    tel = parse_message(data.replace("im:bob@example.com", "tel:+15551234").encode())
    assert isinstance(tel, Request)
    assert check(tel) is None


def test_structural_400s() -> None:
    two_ids = req(extra="Call-ID: again\r\n")
    assert sr(check(two_ids)) == (400, "Bad Request - Multiple Call-ID headers")
    bad_contact = req(extra="Contact: <sip:a@b>;;\r\n")
    assert sr(check(bad_contact)) == (400, "Bad Request - Malformed Contact")
    assert st(check(req(extra="Max-Forwards: x\r\n"))) == 400
    assert sr(check(req(extra="Route: junk\r\n"))) == (400, "Bad Request - Malformed Route")
    assert sr(check(req(branch=""))) == (400, "Bad Request - Malformed Via branch")
    r = req()
    r.headers.remove("Call-ID")
    assert sr(check(r)) == (400, "Bad Request - Missing Call-ID header")


def test_register_checks() -> None:
    assert check_register(req("REGISTER", extra="Contact: <sip:a@192.0.2.1>\r\n")) is None
    assert sr(check_register(req("REGISTER", to="isbn:2983792873"))) == (
        400, "Bad Request - To must be a SIP URI")
    assert check_register(req("REGISTER", extra="Contact: *\r\nExpires: 0\r\n")) is None
    assert st(check_register(req("REGISTER", extra="Contact: *\r\n"))) == 400
    assert st(check_register(req("REGISTER", extra="Contact: *\r\nExpires: 5\r\n"))) == 400
    mixed = req("REGISTER", extra="Contact: *, <sip:a@b>\r\nExpires: 0\r\n")
    assert st(check_register(mixed)) == 400


def test_check_response() -> None:
    ok = (b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\n"
          b"To: <sip:c@d>;tag=2\r\nCall-ID: x\r\nCSeq: 5 INVITE\r\nContent-Length: 0\r\n\r\n")
    resp = parse_message(ok)
    assert isinstance(resp, Response)
    assert check_response(resp)
    dup = parse_message(ok.replace(b"Call-ID: x\r\n", b"Call-ID: x\r\nCall-ID: y\r\n"))
    assert isinstance(dup, Response)
    assert not check_response(dup)
    bad_via = parse_message(ok.replace(b"Via: SIP/2.0/UDP h;branch=z9hG4bK1",
                                       b"Via: SIP/2.0/UDP h;branch=z9hG4bK1, junk"))
    assert isinstance(bad_via, Response)
    assert not check_response(bad_via)
    resp.status = 700
    assert not check_response(resp)
