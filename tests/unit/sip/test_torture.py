"""Every RFC 4475 / RFC 5118 torture message gets the answer INDEX.md asks for."""

from __future__ import annotations

from pathlib import Path

import pytest

from pbx.sip.message import ParseError, Request, Response, parse_message
from pbx.sip.validate import check_register, check_request, check_response

TORTURE = Path(__file__).resolve().parents[2] / "torture"

ALLOWED = {"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "MESSAGE", "INFO"}
SUPPORTED = {"replaces", "timer", "path", "outbound"}
TYPES = {"application/sdp", "multipart/mixed"}

# name -> expected outcome:
#   int       parse OK, request checks (check_request, then check_register) answer this
#   None      parse OK, no error (process normally)
#   ("parse", status)  parse_message raises ParseError with this status and can answer
#   "drop"    a response to drop silently (parse error or check_response False)
#   "accept"  a response to accept
EXPECTED: dict[str, object] = {
    "wsinv.dat": None,
    "intmeth.dat": 501,
    "esc01.dat": None,
    "escnull.dat": None,
    "esc02.dat": 501,
    "lwsdisp.dat": None,
    "longreq.dat": None,
    "dblreq.dat": None,
    "semiuri.dat": None,
    "transports.dat": None,
    "mpart01.dat": None,
    "unreason.dat": "accept",
    "noreason.dat": "accept",
    "badinv01.dat": ("parse", 400),
    "clerr.dat": ("parse", 400),
    "ncl.dat": ("parse", 400),
    "scalar02.dat": ("parse", 400),
    "scalarlg.dat": "drop",
    "quotbal.dat": ("parse", 400),
    "ltgtruri.dat": ("parse", 400),
    "lwsruri.dat": ("parse", 400),
    "lwsstart.dat": ("parse", 400),
    "trws.dat": ("parse", 400),
    "escruri.dat": ("parse", 400),
    "baddate.dat": None,
    "regbadct.dat": 400,
    "badaspec.dat": ("parse", 400),
    "baddn.dat": ("parse", 400),
    "badvers.dat": ("parse", 505),
    "mismatch01.dat": 400,
    "mismatch02.dat": 501,
    "bigcode.dat": "drop",
    "badbranch.dat": 400,
    "insuf.dat": ("parse", 400),
    "unkscm.dat": 416,
    "novelsc.dat": 416,
    "unksm2.dat": 400,
    "bext01.dat": 420,
    "invut.dat": 415,
    "regaut01.dat": None,
    "multi01.dat": 400,
    "mcl01.dat": ("parse", 400),
    "bcast.dat": "accept",
    "zeromf.dat": None,
    "cparam01.dat": None,
    "cparam02.dat": None,
    "regescrt.dat": None,
    "sdp01.dat": 406,
    "inv2543.dat": None,
    "rfc5118/ipv6-good.dat": None,
    "rfc5118/ipv6-bad.dat": ("parse", 400),
    "rfc5118/port-ambiguous.dat": None,
    "rfc5118/port-unambiguous.dat": None,
    "rfc5118/via-received-param-with-delim.dat": None,
    "rfc5118/via-received-param-no-delim.dat": None,
    # Content-Length 268 > body (INDEX.md): over UDP that is a 400.
    "rfc5118/ipv6-in-sdp.dat": ("parse", 400),
    "rfc5118/mult-ip-in-header.dat": None,
    "rfc5118/mult-ip-in-sdp.dat": None,
    "rfc5118/ipv4-mapped-ipv6.dat": None,
    "rfc5118/ipv6-bug-abnf-3-colons.dat": None,
    "rfc5118/ipv6-correct-abnf-2-colons.dat": None,
}


def load(name: str) -> bytes:
    """Bytes of one torture file."""
    return (TORTURE / name).read_bytes()


def answer(req: Request) -> int | None:
    """Status the PBX as UAS/registrar answers with before processing (None = process)."""
    result = check_request(req, allowed_methods=ALLOWED, supported=SUPPORTED,
                           accepted_types=TYPES)
    if result is None and req.method == "REGISTER":
        result = check_register(req)
    return None if result is None else result[0]


def test_every_file_has_an_expectation() -> None:
    files = {p.relative_to(TORTURE).as_posix() for p in TORTURE.rglob("*.dat")}
    assert files == set(EXPECTED)
    assert len(files) == 61


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_torture(name: str) -> None:
    expected = EXPECTED[name]
    data = load(name)
    if isinstance(expected, tuple):
        with pytest.raises(ParseError) as info:
            parse_message(data)
        err = info.value
        assert err.status == expected[1]
        assert err.can_answer
        raw = err.response_bytes("pbx-test")
        assert raw is not None
        assert raw.startswith(f"SIP/2.0 {expected[1]} ".encode())
        # The answer copies Via/Call-ID/CSeq from the request, adds a To tag and the Server.
        for line in data.split(b"\r\n"):
            if line.startswith((b"Call-ID:", b"CSeq:")):
                name, value = line.split(b":", 1)
                assert name + b": " + value.strip() in raw
        assert b"\r\nServer: pbx-test\r\n" in raw
        assert b"Via: " in raw
        if b"\r\nTo:" in raw:
            assert b";tag=" in raw.split(b"\r\nTo:", 1)[1].split(b"\r\n", 1)[0]
        return
    if expected == "drop":
        try:
            resp = parse_message(data)
        except ParseError as err:
            assert not err.can_answer
            assert err.response_bytes() is None
            return
        assert isinstance(resp, Response)
        assert not check_response(resp)
        return
    msg = parse_message(data)
    if expected == "accept":
        assert isinstance(msg, Response)
        assert check_response(msg)
        return
    assert isinstance(msg, Request)
    assert answer(msg) == expected


def test_wsinv_details() -> None:
    msg = parse_message(load("wsinv.dat"))
    assert isinstance(msg, Request)
    assert msg.max_forwards == 68
    assert msg.cseq == (9, "INVITE")
    assert len(msg.vias) == 3
    assert [v.transport for v in msg.vias] == ["UDP", "TCP", "UDP"]
    assert msg.vias[1].host == "spindle.example.com"
    assert msg.vias[2].branch == "z9hG4bK30239"
    assert msg.headers.get("Subject") == ""
    assert msg.headers.get("NewFangledHeader") == "newfangled value continued newfangled value"
    assert msg.headers.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    assert msg.to_addr.tag == "1918181833n"
    assert msg.from_addr.display == 'J Rosenberg \\"'
    assert msg.from_addr.tag == "98asjd8"
    [contact] = msg.contacts
    assert contact.display == 'Quoted string ""'
    assert contact.params == {"newparam": "newvalue", "secondparam": None, "q": "0.33"}
    assert contact.q == 0.33
    assert msg.routes[0].uri.params == {"lr": None, "unknownwith": "value",
                                        "unknown-no-value": None}
    assert msg.uri.params == {"unknownparam": None}
    assert len(msg.body) == 150


def test_intmeth_details() -> None:
    msg = parse_message(load("intmeth.dat"))
    assert isinstance(msg, Request)
    assert msg.method == "!interesting-Method0123456789_*+`.%indeed'~"
    assert msg.uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert msg.uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert msg.to_addr.display == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert msg.from_addr.display == "token1~` token2'+_ token3*%!.-"
    assert msg.from_addr.tag == "_token~1'+`*%!-."
    assert msg.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    raw_value = load("intmeth.dat").split(b"extensionHeader-!.%*+_`'~:")[1].split(b"\r\n")[0]
    assert msg.headers.get("extensionHeader-!.%*+_`'~") == raw_value.decode()
    # NUL and UTF-8 survive a round trip byte for byte.
    again = parse_message(msg.to_bytes())
    assert again.to_addr.display == msg.to_addr.display
    assert again.to_bytes() == msg.to_bytes()


def test_esc01_unescaping() -> None:
    msg = parse_message(load("esc01.dat"))
    assert isinstance(msg, Request)
    assert msg.uri.user == "sips:user@example.com"
    assert msg.to_addr.uri.user == "user"
    assert msg.from_addr.uri.user == "I have spaces"
    [contact] = msg.contacts
    assert contact.uri.user == "caller"
    assert contact.uri.params == {"lr": None, "name": "value%41"}
    assert str(msg.uri) == "sip:sips%3Auser%40example.com@example.net"


def test_escnull_two_distinct_contacts() -> None:
    msg = parse_message(load("escnull.dat"))
    assert msg.to_addr.uri.user == "null-\x00-null"
    assert msg.to_addr.uri.aor() == "null-%00-null@example.com"
    users = [c.uri.user for c in msg.contacts]
    assert users == ["\x00", "\x00\x00"]
    assert len({c.uri.aor() for c in msg.contacts}) == 2


def test_esc02_method_and_contacts() -> None:
    msg = parse_message(load("esc02.dat"))
    assert isinstance(msg, Request)
    assert msg.method == "RE%47IST%45R"
    assert len(msg.contacts) == 2
    assert msg.headers.get("C%6Fntact") == "<sip:alias2@host2.example.com>"
    assert msg.to_addr.display == "%Z%45"


def test_lwsdisp_and_semiuri() -> None:
    assert parse_message(load("lwsdisp.dat")).from_addr.display == "caller"
    msg = parse_message(load("semiuri.dat"))
    assert isinstance(msg, Request)
    assert msg.uri.user == "user;par=u@example.net"
    assert msg.uri.host == "example.com"
    assert len(msg.headers.get_all("Accept")) == 6


def test_dblreq_ignores_trailing_octets() -> None:
    msg = parse_message(load("dblreq.dat"))
    assert isinstance(msg, Request)
    assert msg.method == "REGISTER"
    assert msg.body == b""


def test_inv2543_body_is_rest_of_datagram() -> None:
    data = load("inv2543.dat")
    msg = parse_message(data)
    assert msg.body == data.split(b"\r\n\r\n", 1)[1]
    assert msg.vias[0].branch is None
    assert msg.from_addr.tag is None
    assert msg.max_forwards is None
    assert b"Content-Length: %d" % len(msg.body) in msg.to_bytes()


def test_mpart01_binary_body() -> None:
    data = load("mpart01.dat")
    msg = parse_message(data)
    assert len(msg.body) == 553
    assert b"\x00" in msg.body
    assert msg.content_type == "multipart/mixed"
    assert msg.vias[0].rport == -1


def test_reason_phrases() -> None:
    msg = parse_message(load("unreason.dat"))
    assert isinstance(msg, Response)
    assert msg.reason.startswith("= 2**3 * 5**2 \u043d\u043e")
    msg = parse_message(load("noreason.dat"))
    assert isinstance(msg, Response)
    assert msg.status == 100
    assert msg.reason == ""


def test_contact_params_vs_uri_params() -> None:
    c1 = parse_message(load("cparam01.dat")).contacts[0]
    assert c1.uri.params == {}
    assert c1.params == {"unknownparam": None}
    c2 = parse_message(load("cparam02.dat")).contacts[0]
    assert c2.uri.params == {"unknownparam": None}
    assert c2.params == {}
    c3 = parse_message(load("regescrt.dat")).contacts[0]
    assert c3.uri.headers == {"Route": "<sip:sip.example.com>"}
    assert str(c3.uri) == "sip:user@example.com?Route=%3Csip:sip.example.com%3E"


def test_scalar_values() -> None:
    with pytest.raises(ParseError, match="CSeq"):
        parse_message(load("scalar02.dat"))
    with pytest.raises(ParseError, match="CSeq"):
        parse_message(load("scalarlg.dat"))


def test_ipv6_hosts() -> None:
    amb = parse_message(load("rfc5118/port-ambiguous.dat"))
    assert amb.uri.host == "2001:db8::10:5070"
    assert amb.uri.port is None
    una = parse_message(load("rfc5118/port-unambiguous.dat"))
    assert (una.uri.host, una.uri.port) == ("2001:db8::10", 5070)
    assert str(una.uri) == "sip:[2001:db8::10]:5070"
    three = parse_message(load("rfc5118/ipv6-bug-abnf-3-colons.dat"))
    assert three.uri.host == "2001:db8::192.0.2.1"
    v = parse_message(load("rfc5118/via-received-param-no-delim.dat")).vias[0]
    assert v.received == "2001:db8::9:255"
    assert v.branch == "z9hG4bKas3"
    v = parse_message(load("rfc5118/via-received-param-with-delim.dat")).vias[0]
    assert v.received == "2001:db8::9:255"
    assert v.branch == "z9hG4bKas3-111"
    vias = parse_message(load("rfc5118/mult-ip-in-header.dat")).vias
    assert (vias[0].host, vias[0].port) == ("2001:db8::9:1", 6050)
    assert (vias[2].transport, vias[2].received) == ("TCP", "192.0.2.200")
    mapped = parse_message(load("rfc5118/ipv4-mapped-ipv6.dat"))
    assert mapped.vias[0].host == "::ffff:192.0.2.10"
    assert mapped.contacts[0].uri.host == "::ffff:192.0.2.2"


@pytest.mark.parametrize("name", ["rfc5118/ipv6-in-sdp.dat"])
def test_ipv6_in_sdp_with_fixed_length(name: str) -> None:
    head, body = load(name).split(b"\r\n\r\n", 1)
    head = head.replace(b"Content-Length: 268", b"Content-Length: %d" % len(body))
    msg = parse_message(head + b"\r\n\r\n" + body)
    assert msg.body == body


@pytest.mark.parametrize("name", sorted(n for n, e in EXPECTED.items() if not isinstance(e, tuple)
                                        and e != "drop"))
def test_round_trip_is_stable(name: str) -> None:
    msg = parse_message(load(name))
    once = msg.to_bytes()
    again = parse_message(once)
    assert again.to_bytes() == once
    msg.headers.remove("Content-Length")
    again.headers.remove("Content-Length")
    assert again.headers == msg.headers
    assert again.body == msg.body
