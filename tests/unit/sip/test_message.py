"""Message parsing, serialization, responses, stream framing and the Headers map."""

from __future__ import annotations

import pytest

from pbx.sip.headers import Headers, split_list
from pbx.sip.message import (
    MAX_MESSAGE_SIZE,
    REASON_PHRASES,
    FramingError,
    ParseError,
    Request,
    Response,
    StreamFramer,
    make_response,
    parse_message,
)
from pbx.sip.uri import parse_uri

SDP = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"

INVITE = (
    b"INVITE sip:bob@example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKabc;rport\r\n"
    b"Via: SIP/2.0/TCP proxy.example.com;branch=z9hG4bKdef;received=192.0.2.9\r\n"
    b"Max-Forwards: 70\r\n"
    b'From: "Alice" <sip:alice@example.com>;tag=1234\r\n'
    b"To: <sip:bob@example.com>\r\n"
    b"Call-ID: abc123@192.0.2.1\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Contact: <sip:alice@192.0.2.1:5060>;expires=300, <sip:alice@[2001:db8::1]>\r\n"
    b"Allow: INVITE, ACK, BYE\r\n"
    b"Supported: replaces, timer\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: " + str(len(SDP)).encode() + b"\r\n"
    b"\r\n" + SDP
)


def test_parse_request() -> None:
    msg = parse_message(INVITE)
    assert isinstance(msg, Request)
    assert msg.method == "INVITE"
    assert msg.uri.user == "bob" and msg.uri_text == "sip:bob@example.com"
    assert msg.version == "SIP/2.0"
    assert [v.branch for v in msg.vias] == ["z9hG4bKabc", "z9hG4bKdef"]
    assert msg.top_via.rport == -1
    assert msg.vias[1].received == "192.0.2.9"
    assert msg.call_id == "abc123@192.0.2.1"
    assert msg.cseq == (1, "INVITE")
    assert msg.from_addr.tag == "1234" and msg.from_addr.display == "Alice"
    assert msg.to_addr.tag is None
    assert [c.uri.host for c in msg.contacts] == ["192.0.2.1", "2001:db8::1"]
    assert msg.contacts[0].expires == 300
    assert not msg.contact_star
    assert msg.max_forwards == 70
    assert msg.expires is None
    assert msg.content_type == "application/sdp"
    assert msg.body == SDP
    assert msg.raw == INVITE
    assert msg.headers.get_all("Allow") == ["INVITE", "ACK", "BYE"]


def test_unmodified_message_serializes_to_its_bytes() -> None:
    msg = parse_message(INVITE)
    assert msg.to_bytes() == INVITE
    assert bytes(msg) == INVITE


def test_modified_message_is_rebuilt() -> None:
    msg = parse_message(INVITE)
    msg.headers.insert(0, "Via", "SIP/2.0/UDP pbx.local;branch=z9hG4bKnew")
    msg.body = b"hello"
    out = msg.to_bytes()
    assert out.startswith(b"INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP pbx.local")
    assert b"\r\nContent-Length: 5\r\n" in out
    assert out.endswith(b"\r\n\r\nhello")
    again = parse_message(out)
    assert len(again.vias) == 3 and again.body == b"hello"
    # The lazy views follow the header change.
    assert msg.vias[0].host == "pbx.local"
    assert msg.top_via.host == "pbx.local"


def test_uri_change_is_serialized() -> None:
    msg = parse_message(INVITE)
    assert isinstance(msg, Request)
    msg.uri = parse_uri("sip:bob@192.0.2.55:5070")
    assert parse_message(msg.to_bytes()).uri.port == 5070
    msg2 = parse_message(INVITE)
    assert isinstance(msg2, Request)
    msg2.uri.params["lr"] = None
    assert b"INVITE sip:bob@example.com;lr SIP/2.0" in msg2.to_bytes()


def test_compact_forms_and_folding() -> None:
    data = (
        b"OPTIONS sip:a@b SIP/2.0\r\n"
        b"v: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
        b"f: <sip:c@d>\r\n ;tag=9\r\n"
        b"t: sip:a@b\r\n"
        b"i: cid\r\n"
        b"CSEQ: 2\r\n\tOPTIONS\r\n"
        b"k: timer\r\nm: *\r\nl: 0\r\n"
        b"o: presence\r\nu: talk\r\nc: text/plain\r\ne: gzip\r\ns: hi\r\nr: <sip:x@y>\r\n"
        b"b: <sip:z@y>\r\nx: 90\r\ny: abc\r\na: *;audio\r\nj: *;video\r\nd: proxy\r\n\r\n"
    )
    msg = parse_message(data)
    names = [n for n, _ in msg.headers.items()]
    assert names == ["Via", "From", "To", "Call-ID", "CSeq", "Supported", "Contact",
                     "Content-Length", "Event", "Allow-Events", "Content-Type",
                     "Content-Encoding", "Subject", "Refer-To", "Referred-By",
                     "Session-Expires", "Identity", "Accept-Contact", "Reject-Contact",
                     "Request-Disposition"]
    assert msg.from_addr.tag == "9"
    assert msg.cseq == (2, "OPTIONS")
    assert msg.contact_star and msg.contacts == []
    assert b"\r\nFrom: <sip:c@d> ;tag=9\r\n" in msg.to_bytes()


def test_bare_lf_and_leading_crlf_tolerated() -> None:
    data = b"\r\n\r\n" + INVITE.replace(b"\r\n", b"\n").replace(SDP.replace(b"\r\n", b"\n"),
                                                                  b"")
    msg = parse_message(data.replace(b"Content-Length: 63", b"Content-Length: 0"))
    assert isinstance(msg, Request)
    assert msg.call_id == "abc123@192.0.2.1"
    assert msg.body == b""


def test_parse_response() -> None:
    data = (b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
            b"From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: x\r\n"
            b"CSeq: 5 INVITE\r\nContent-Length: 0\r\n\r\n")
    msg = parse_message(data)
    assert isinstance(msg, Response)
    assert (msg.status, msg.reason, msg.method) == (180, "Ringing", "INVITE")
    assert msg.to_bytes() == data


@pytest.mark.parametrize(("data", "status", "words"), [
    (b"INVITE sip:a@b SIP/3.0\r\nVia: SIP/2.0/UDP h\r\n\r\n", 505, "Version"),
    (b"INVITE sip:a@b HTTP/1.1\r\nVia: SIP/2.0/UDP h\r\n\r\n", 400, "version"),
    (b"INVITE  sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n\r\n", 400, "Request-Line"),
    (b"INV@TE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n\r\n", 400, "method"),
    (b"INVITE sip:a@b SIP/2.0\r\nVia SIP/2.0/UDP h\r\n\r\n", 400, "header line"),
    (b"INVITE sip:a@b SIP/2.0\r\nV ia: x\r\n\r\n", 400, "header name"),
    (b"INVITE sip:a@b SIP/2.0\r\n folded: x\r\n\r\n", 400, "folding"),
    (b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nContent-Length: x\r\n\r\n", 400,
     "Content-Length"),
    (b"\r\n\r\n", 400, "start line"),
])
def test_parse_errors(data: bytes, status: int, words: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_message(data)
    assert info.value.status == status
    assert words in info.value.reason


def test_parse_error_response_bytes() -> None:
    data = INVITE.replace(b"CSeq: 1 INVITE", b"CSeq: x INVITE")
    with pytest.raises(ParseError) as info:
        parse_message(data)
    err = info.value
    assert err.can_answer and err.reason == "Bad Request - Malformed CSeq"
    assert err.message is not None and err.message.vias[0].branch == "z9hG4bKabc"
    raw = err.response_bytes("PBX/1.0")
    assert raw is not None
    assert raw.startswith(b"SIP/2.0 400 Bad Request - Malformed CSeq\r\n")
    assert raw.count(b"\r\nVia: ") == 2
    assert b"\r\nCall-ID: abc123@192.0.2.1\r\n" in raw
    assert b"\r\nServer: PBX/1.0\r\n" in raw
    assert raw.endswith(b"Content-Length: 0\r\n\r\n")
    # Deterministic To tag: a retransmission gets the same answer.
    with pytest.raises(ParseError) as again:
        parse_message(data)
    assert again.value.response_bytes("PBX/1.0") == raw


def test_unanswerable_errors() -> None:
    ack = INVITE.replace(b"INVITE sip", b"ACK sip").replace(b"1 INVITE", b"1 ACK")
    with pytest.raises(ParseError) as info:
        parse_message(ack.replace(b"Call-ID: abc123@192.0.2.1\r\n", b""))
    assert not info.value.can_answer and info.value.response_bytes() is None
    with pytest.raises(ParseError) as info:
        parse_message(b"SIP/2.0 99999 Huh\r\nVia: SIP/2.0/UDP h\r\n\r\n")
    assert not info.value.can_answer
    with pytest.raises(ParseError) as info:
        parse_message(b"garbage")
    assert info.value.response_bytes() is None


def test_udp_content_length_rules() -> None:
    head = INVITE.split(b"\r\n\r\n")[0]
    cl_small = head.replace(b"Content-Length: 63", b"Content-Length: 10") + b"\r\n\r\n" + SDP
    assert parse_message(cl_small).body == SDP[:10]
    with pytest.raises(ParseError):
        parse_message(head.replace(b"Content-Length: 63", b"Content-Length: 64")
                      + b"\r\n\r\n" + SDP)
    no_cl = head.replace(b"Content-Length: 63\r\n", b"") + b"\r\n\r\n" + SDP
    assert parse_message(no_cl).body == SDP


def test_lazy_header_errors_are_parse_errors() -> None:
    msg = parse_message(INVITE.replace(b"Max-Forwards: 70", b"Max-Forwards: lots")
                        .replace(b"<sip:alice@[2001:db8::1]>", b"<sip:alice@[bad]>"))
    with pytest.raises(ParseError, match="Max-Forwards"):
        _ = msg.max_forwards
    with pytest.raises(ParseError, match="Contact"):
        _ = msg.contacts


def test_scalar_clamps() -> None:
    msg = parse_message(INVITE.replace(b"Max-Forwards: 70", b"Max-Forwards: 0300\r\nExpires: 99"
                                       b"99999999999"))
    assert msg.max_forwards is None
    assert msg.expires is None
    msg = parse_message(INVITE.replace(b"Max-Forwards: 70", b"Max-Forwards: 0068\r\nExpires: 0"))
    assert msg.max_forwards == 68 and msg.expires == 0


def test_make_response() -> None:
    req = parse_message(INVITE)
    assert isinstance(req, Request)
    resp = make_response(req, 200, to_tag="xyz", headers=[("Contact", "<sip:bob@192.0.2.2>")],
                         body=SDP, content_type="application/sdp")
    assert resp.reason == "OK"
    assert [v.branch for v in resp.vias] == ["z9hG4bKabc", "z9hG4bKdef"]
    assert resp.to_addr.tag == "xyz"
    assert resp.from_addr.tag == "1234"
    assert resp.call_id == req.call_id and resp.cseq == (1, "INVITE")
    out = resp.to_bytes()
    parsed = parse_message(out)
    assert isinstance(parsed, Response)
    assert parsed.status == 200 and parsed.body == SDP
    assert parsed.contacts[0].uri.host == "192.0.2.2"
    assert parsed.content_type == "application/sdp"
    # An existing To tag is kept; 100 Trying gets none.
    tagged = parse_message(parse_message(out).to_bytes())
    assert tagged.to_addr.tag == "xyz"
    trying = make_response(req, 100)
    assert trying.reason == "Trying" and trying.to_addr.tag is None
    assert make_response(req, 486, "Busy Now").reason == "Busy Now"
    assert make_response(req, 799).reason == ""


def test_reason_table_covers_rfc3261() -> None:
    for code in (100, 180, 181, 182, 183, 200, 300, 301, 302, 305, 380, 400, 401, 402, 403,
                 404, 405, 406, 407, 408, 410, 413, 414, 415, 416, 420, 421, 423, 480, 481,
                 482, 483, 484, 485, 486, 487, 488, 491, 493, 500, 501, 502, 503, 504, 505,
                 513, 600, 603, 604, 606):
        assert REASON_PHRASES[code]


def test_build_request_from_scratch() -> None:
    h = Headers([("Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKq"), ("From", "<sip:a@b>;tag=1"),
                 ("To", "<sip:c@d>"), ("Call-ID", "q"), ("CSeq", "1 OPTIONS"),
                 ("Max-Forwards", "70")])
    req = Request("OPTIONS", "sip:c@d", h)
    out = req.to_bytes()
    assert out.startswith(b"OPTIONS sip:c@d SIP/2.0\r\n")
    assert out.endswith(b"Content-Length: 0\r\n\r\n")
    assert parse_message(out).cseq == (1, "OPTIONS")
    assert Response(404).reason == "Not Found"


# --- Headers ------------------------------------------------------------------

def test_headers_api() -> None:
    h = Headers()
    h.add("v", "SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2")
    h.add("Via", "SIP/2.0/UDP c")
    h.add("x-custom", "one")
    h.add("X-Custom", "two")
    assert "VIA" in h and "via" in h and "v" in h and "Route" not in h and 5 not in h
    assert h.get("Via") == "SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2"
    assert len(h.get_all("v")) == 3
    assert h.get_all("X-CUSTOM") == ["one", "two"]
    assert h.items()[2] == ("x-custom", "one")
    h.set("x-custom", "three")
    assert h.get_all("x-custom") == ["three"]
    assert h.remove_first("Via") == "SIP/2.0/UDP a;branch=z9hG4bK1"
    assert len(h.get_all("Via")) == 2
    c = h.copy()
    h.remove("Via")
    assert "Via" not in h and "Via" in c
    assert h.count("x-custom") == 1
    with pytest.raises(ValueError):
        h.add("Subject", "a\r\nInjected: yes")
    with pytest.raises(ValueError):
        h.add("Bad Name", "x")
    assert h.get("Missing") is None and h.get_all("Missing") == []


def test_split_list_respects_quotes_and_angles() -> None:
    value = '"Doe, John" <sip:j@x;a=b,c>;q=1, <sip:k@y>, , "quote \\" ,"<sip:z@w>'
    assert split_list(value) == ['"Doe, John" <sip:j@x;a=b,c>;q=1', "<sip:k@y>",
                                 '"quote \\" ,"<sip:z@w>']
    assert split_list("  ") == []


def test_authorization_not_split() -> None:
    h = Headers([("Authorization", 'Digest username="a", realm="b", nonce="c"')])
    assert len(h.get_all("Authorization")) == 1


# --- stream framing --------------------------------------------------------------

def test_framer_splits_and_reassembles() -> None:
    f = StreamFramer()
    stream = INVITE + INVITE
    out: list[bytes] = []
    for i in range(0, len(stream), 7):
        out += f.feed(stream[i:i + 7])
    assert out == [INVITE, INVITE]
    assert f.buffered == 0


def test_framer_pings() -> None:
    f = StreamFramer()
    assert f.feed(b"\r\n") == []
    assert f.feed(b"\r\n") == []
    assert f.pings == 1
    assert f.feed(b"\r\n\r\n\r\n\r\n" + INVITE) == [INVITE]
    assert f.take_pings() == 3 and f.pings == 0
    assert f.feed(b"\r\n" + INVITE) == [INVITE]  # a lone CRLF before a message is skipped
    assert f.pings == 0


def test_framer_missing_content_length_means_no_body() -> None:
    msg = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h\r\n\r\n"
    assert StreamFramer().feed(msg + msg) == [msg, msg]


@pytest.mark.parametrize("bad", [b"Content-Length: -999", b"Content-Length: abc",
                                 b"Content-Length: 5\r\nl: 13",
                                 b"Content-Length: 99999999999"])
def test_framer_errors(bad: bytes) -> None:
    msg = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h\r\n" + bad + b"\r\n\r\n"
    with pytest.raises(FramingError):
        StreamFramer().feed(msg)


def test_framer_header_too_large() -> None:
    f = StreamFramer()
    f.feed(b"OPTIONS sip:a@b SIP/2.0\r\n")
    with pytest.raises(FramingError):
        f.feed(b"X: " + b"a" * MAX_MESSAGE_SIZE)


def test_framer_waits_for_body() -> None:
    f = StreamFramer()
    assert f.feed(INVITE[:-5]) == []
    assert f.feed(INVITE[-5:]) == [INVITE]


def test_repeated_content_length_on_both_parse_paths() -> None:
    data = INVITE.replace(b"Content-Length: 63", b"Content-Length: 63\r\nContent-Length: 63")
    for _ in range(2):  # first parse learns the header names, the second takes the fast path
        with pytest.raises(ParseError, match="Multiple Content-Length"):
            parse_message(data)


def test_stamp_received_fills_rport_and_received_in_every_response() -> None:
    req = parse_message(INVITE)
    assert isinstance(req, Request)
    req.stamp_received("198.51.100.7", 40123)
    resp = make_response(req, 180, to_tag="t1")
    vias = resp.headers.get_all("Via")
    assert vias[0] == ("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKabc;rport=40123"
                       ";received=198.51.100.7")
    assert "proxy.example.com" in resp.to_bytes().decode()  # the other Via is kept
    assert req.top_via.rport == 40123 and req.cseq[1] == "INVITE"


def test_stamp_received_only_when_host_differs_without_rport() -> None:
    data = INVITE.replace(b";rport\r\n", b"\r\n", 1)
    same = parse_message(data)
    same.stamp_received("192.0.2.1", 5060)
    assert same.headers.get_all("Via")[0] == "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKabc"
    other = parse_message(data)
    other.stamp_received("2001:db8::1", 5060)
    assert other.top_via.received == "2001:db8::1"
    assert "received=2001:db8::1" in make_response(other, 200).to_bytes().decode()
