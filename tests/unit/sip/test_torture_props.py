"""Property tests: the parser never fails in any other way than ParseError, and round-trips."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pbx.sip.message import ParseError, Request, parse_message
from pbx.sip.uri import NameAddr, Uri, parse_name_addr, parse_uri
from pbx.sip.validate import check_register, check_request, check_response

TORTURE = Path(__file__).resolve().parents[2] / "torture"
SAMPLES = [p.read_bytes() for p in sorted(TORTURE.rglob("*.dat"))]

ALLOWED = {"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "MESSAGE"}


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A torture message with a few random byte-level edits."""
    data = bytearray(draw(st.sampled_from(SAMPLES)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "dup"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[pos] = draw(st.sampled_from(b"\x00\r\n \t:;,<>\"\\@[]%=/\xff\xc3"))
        elif kind == "insert":
            data[pos:pos] = draw(st.sampled_from(
                [b"\r\n", b"\r\n ", b";", b",", b"<", b">", b'"', b"%", b"[", b":", b"\x00",
                 b"Content-Length: 5\r\n", b"Via: SIP/2.0/UDP [::1]\r\n", b"\xe2\x82"]))
        elif kind == "delete" and data:
            del data[pos:pos + draw(st.integers(1, 8))]
        elif kind == "truncate":
            del data[pos:]
        elif kind == "dup" and data:
            data[pos:pos] = data[pos:pos + draw(st.integers(1, 40))]
    return bytes(data)


def touch_everything(msg: object) -> None:
    """Read every lazy view; only ParseError may escape."""
    for name in ("vias", "top_via", "call_id", "cseq", "from_addr", "to_addr", "contacts",
                 "contact_star", "routes", "record_routes", "max_forwards", "expires",
                 "content_type"):
        try:
            getattr(msg, name)
        except ParseError:
            pass


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_parser_only_raises_parse_error(data: bytes) -> None:
    try:
        msg = parse_message(data)
    except ParseError as err:
        assert 400 <= err.status <= 599
        assert err.reason
        answer = err.response_bytes("x")
        assert answer is None or answer.startswith(b"SIP/2.0 ")
        return
    touch_everything(msg)
    if isinstance(msg, Request):
        result = check_request(msg, allowed_methods=ALLOWED, supported=set(),
                               accepted_types={"application/sdp"})
        if msg.method == "REGISTER":
            check_register(msg)
        if result is not None:
            return
    elif not check_response(msg):
        return
    # A message that passes the checks serializes to something that parses the same.
    out = msg.to_bytes()
    again = parse_message(out)
    assert again.to_bytes() == out
    assert again.call_id == msg.call_id and again.cseq == msg.cseq
    assert again.body == msg.body


# --- URIs ---------------------------------------------------------------------

hosts = st.one_of(
    st.from_regex(r"[a-z][a-z0-9\-]{0,10}(\.[a-z][a-z0-9\-]{0,10}){0,3}", fullmatch=True),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(lambda a: str(ipaddress.IPv6Address(a))),
)
texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1,
                max_size=12)
tokens = st.from_regex(r"[a-z0-9\-_.!~*']{1,8}", fullmatch=True)


@st.composite
def uris(draw: st.DrawFn) -> Uri:
    """Arbitrary sip/sips URIs built field by field."""
    user = draw(st.none() | texts)
    password = draw(st.none() | texts) if user is not None else None
    params = draw(st.dictionaries(tokens, st.none() | texts, max_size=3))
    headers = draw(st.dictionaries(tokens, texts, max_size=2))
    return Uri(draw(st.sampled_from(["sip", "sips"])), user, password, draw(hosts),
               draw(st.none() | st.integers(1, 65535)), params, headers)


@settings(max_examples=300, deadline=None)
@given(uris())
def test_uri_round_trip(uri: Uri) -> None:
    text = str(uri)
    parsed = parse_uri(text)
    assert parsed == uri
    assert str(parsed) == text


@settings(max_examples=200, deadline=None)
@given(uris(), st.none() | texts, st.dictionaries(tokens, st.none() | tokens, max_size=3))
def test_name_addr_round_trip(uri: Uri, display: str | None, params: dict) -> None:
    uri.headers = {}
    na = NameAddr(display, uri, params)
    if display is not None and any(c in display for c in "\r\n"):
        return  # a header value can never hold CR/LF
    parsed = parse_name_addr(str(na))
    assert parsed == na
