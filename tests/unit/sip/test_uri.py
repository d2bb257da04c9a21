"""URIs, name-addr values and Via values."""

from __future__ import annotations

import pytest

from pbx.sip.uri import (
    NameAddr,
    Uri,
    UriError,
    Via,
    escape,
    parse_name_addr,
    parse_uri,
    parse_via,
)


def test_simple_sip_uri() -> None:
    u = parse_uri("sip:alice@example.com")
    assert (u.scheme, u.user, u.password, u.host, u.port) == ("sip", "alice", None,
                                                               "example.com", None)
    assert u.params == {} and u.headers == {}
    assert str(u) == "sip:alice@example.com"
    assert u.transport == "udp"
    assert u.aor() == "alice@example.com"


def test_full_sip_uri() -> None:
    u = parse_uri("sips:bob:secret@Example.COM:5061;transport=TCP;lr;Maddr=10.0.0.1?subject=hi&x=y")
    assert u.scheme == "sips"
    assert u.user == "bob" and u.password == "secret"
    assert u.host == "Example.COM" and u.port == 5061
    assert u.params == {"transport": "TCP", "lr": None, "maddr": "10.0.0.1"}
    assert u.headers == {"subject": "hi", "x": "y"}
    assert u.transport == "tcp"
    assert u.aor() == "bob@example.com"
    # Unmodified: the original text comes back, case and all.
    text = "sips:bob:secret@Example.COM:5061;transport=TCP;lr;Maddr=10.0.0.1?subject=hi&x=y"
    assert str(u) == text


def test_sips_default_transport() -> None:
    assert parse_uri("sips:a@b").transport == "tls"


def test_host_only_and_port() -> None:
    u = parse_uri("sip:192.0.2.1:5070")
    assert u.user is None and u.host == "192.0.2.1" and u.port == 5070
    assert u.aor() == "192.0.2.1"
    assert u.host_port() == "192.0.2.1:5070"


@pytest.mark.parametrize(("text", "host", "port"), [
    ("sip:[2001:db8::10]", "2001:db8::10", None),
    ("sip:[2001:db8::10]:5070", "2001:db8::10", 5070),
    ("sip:[2001:db8::10:5070]", "2001:db8::10:5070", None),
    ("sip:user@[::ffff:192.0.2.2]", "::ffff:192.0.2.2", None),
    ("sip:user@[2001:db8:::192.0.2.1]", "2001:db8::192.0.2.1", None),
    ("sip:user@[2001:db8::192.0.2.1];transport=tcp", "2001:db8::192.0.2.1", None),
])
def test_ipv6(text: str, host: str, port: int | None) -> None:
    u = parse_uri(text)
    assert (u.host, u.port) == (host, port)
    assert f"[{host}]" in u.host_port()


def test_ipv6_serialises_with_brackets() -> None:
    u = Uri("sip", "a", None, "2001:db8::1", 5060, {"transport": "udp"})
    assert str(u) == "sip:a@[2001:db8::1]:5060;transport=udp"
    assert parse_uri(str(u)) == u


@pytest.mark.parametrize("text", [
    "sip:2001:db8::10",  # RFC 5118 ipv6-bad
    "<sip:user@example.com>",
    "sip:user@example.com; lr",
    "sip:user@exa mple.com",
    "sip:",
    "sip:@host",
    "sip:user@",
    "sip:user@host:99999",
    "sip:user@host:abc",
    "sip:user@[2001:db8::1",
    "sip:user@[zz::1]",
    "sip:user@host;;lr",
    "nocolon",
    ":x",
    "1sip:a@b",
])
def test_bad_uris(text: str) -> None:
    with pytest.raises(UriError):
        parse_uri(text)


def test_escapes_single_pass() -> None:
    u = parse_uri("sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31")
    assert u.user == "caller"
    assert u.params == {"lr": None, "name": "value%41"}
    assert str(u) == "sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31"
    u.params["new"] = "1"
    rebuilt = str(u)
    assert rebuilt == "sip:caller@host5.example.net;lr;name=value%2541;new=1"
    assert parse_uri(rebuilt).params["name"] == "value%41"


def test_escaped_nul_is_kept() -> None:
    u = parse_uri("sip:null-%00-null@example.com")
    assert u.user == "null-\x00-null"
    assert u.aor() == "null-%00-null@example.com"
    u.user = "x\x00y"
    assert str(u) == "sip:x%00y@example.com"


def test_user_escaping_on_build() -> None:
    u = Uri("sip", "I have spaces", None, "example.net")
    assert str(u) == "sip:I%20have%20spaces@example.net"
    u = Uri("sip", "sips:user@example.com", None, "example.net")
    assert str(u) == "sip:sips%3Auser%40example.com@example.net"
    assert parse_uri(str(u)).user == "sips:user@example.com"
    assert escape("a;b?c") == "a;b?c"
    assert escape("\u00e9") == "%C3%A9"


def test_aor_canonical() -> None:
    assert parse_uri("sip:%75ser@EXAMPLE.com:5060").aor() == "user@example.com"
    assert parse_uri("sips:user@example.com").aor() == "user@example.com"


def test_tel_and_other_schemes() -> None:
    t = parse_uri("tel:+1-201-555-0123;phone-context=example.com")
    assert t.scheme == "tel" and t.user == "+1-201-555-0123" and t.host == ""
    assert t.params == {"phone-context": "example.com"}
    assert str(t) == "tel:+1-201-555-0123;phone-context=example.com"
    o = parse_uri("soap.beep://192.0.2.103:3002")
    assert o.scheme == "soap.beep" and o.opaque == "//192.0.2.103:3002"
    assert str(o) == "soap.beep://192.0.2.103:3002"
    assert not o.is_sip
    assert parse_uri("SIP:a@b").scheme == "sip"


def test_copy_is_independent() -> None:
    u = parse_uri("sip:a@b;lr")
    c = u.copy()
    c.params["x"] = None
    assert "x" not in u.params
    assert str(u) == "sip:a@b;lr"


# --- name-addr ----------------------------------------------------------------

def test_name_addr_forms() -> None:
    na = parse_name_addr('"Alice Smith" <sip:alice@example.com>;tag=abc')
    assert na.display == "Alice Smith"
    assert na.uri.user == "alice"
    assert na.tag == "abc"
    assert str(na) == '"Alice Smith" <sip:alice@example.com>;tag=abc'
    na = parse_name_addr("<sip:bob@example.com;transport=tcp>;expires=60;q=0.5")
    assert na.display is None
    assert na.uri.params == {"transport": "tcp"}
    assert na.expires == 60 and na.q == 0.5
    na = parse_name_addr("Bob Jones <sip:bob@example.com>")
    assert na.display == "Bob Jones"
    na = parse_name_addr("caller<sip:caller@example.com>;tag=323")
    assert na.display == "caller" and na.tag == "323"


def test_addr_spec_params_belong_to_header() -> None:
    na = parse_name_addr("sip:+19725552222@gw1.example.net;unknownparam")
    assert na.uri.params == {}
    assert na.params == {"unknownparam": None}
    assert str(na) == "<sip:+19725552222@gw1.example.net>;unknownparam"
    na = parse_name_addr("sip:user@example.com ;   tag    = 1918181833n")
    assert na.tag == "1918181833n"


def test_quoted_display_escapes() -> None:
    na = parse_name_addr('"J Rosenberg \\\\\\"" <sip:jdrosen@example.com>')
    assert na.display == 'J Rosenberg \\"'
    again = parse_name_addr(str(na))
    assert again.display == na.display


def test_quoted_param_value() -> None:
    na = parse_name_addr('<sip:a@b>;x="semi;colon=here";tag=1')
    assert na.params == {"x": '"semi;colon=here"', "tag": "1"}
    assert str(na) == '<sip:a@b>;x="semi;colon=here";tag=1'


def test_name_addr_other_scheme() -> None:
    assert parse_name_addr("isbn:2983792873").uri.scheme == "isbn"
    assert parse_name_addr("<http://www.example.com>;tag=3").uri.opaque == "//www.example.com"


@pytest.mark.parametrize("text", [
    '"Mr. J. User <sip:j.user@example.com>',  # quotbal
    '"Watson, Thomas" < sip:t.watson@example.org >',  # badaspec
    "Bell, Alexander <sip:a.g.bell@example.com>;tag=43",  # baddn
    '"Joe" <sip:joe@example.org>;;;;',  # badinv01
    "sip:user@example.com?Route=%3Csip:sip.example.com%3E",  # regbadct
    "<sip:a@b",
    "",
    "<sip:a@b> junk",
    "<sip:a@b>;tag=",
    '"x" sip:a@b',
])
def test_bad_name_addr(text: str) -> None:
    with pytest.raises(UriError):
        parse_name_addr(text)


def test_name_addr_built() -> None:
    na = NameAddr('Say "hi"', Uri("sip", "bob", None, "pbx.local"), {"tag": "x1"})
    assert str(na) == '"Say \\"hi\\"" <sip:bob@pbx.local>;tag=x1'
    assert parse_name_addr(str(na)) == na


# --- Via ----------------------------------------------------------------------

def test_via_basic() -> None:
    v = parse_via("SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport")
    assert (v.transport, v.host, v.port) == ("UDP", "192.0.2.10", 5060)
    assert v.branch == "z9hG4bK776asdhds"
    assert v.rport == -1
    assert v.received is None
    assert str(v) == "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport"


def test_via_rport_and_received() -> None:
    v = parse_via("SIP/2.0/tcp host.example.com;received=192.0.2.1;rport=5071;branch=z9hG4bKx")
    assert v.transport == "TCP"
    assert v.rport == 5071
    assert v.received == "192.0.2.1"
    assert parse_via("SIP/2.0/UDP h;branch=z9hG4bKx").rport is None


def test_via_lws() -> None:
    v = parse_via("SIP  / 2.0  / TCP     spindle.example.com   ;  branch  =   z9hG4bK9ikj8")
    assert (v.transport, v.host, v.branch) == ("TCP", "spindle.example.com", "z9hG4bK9ikj8")
    v = parse_via("SIP/2.0/UDP host : 5070;branch=z9hG4bKa")
    assert v.port == 5070


def test_via_ipv6() -> None:
    v = parse_via("SIP/2.0/UDP [2001:db8::9:1]:6050;received=2001:db8::9:255;branch=z9hG4bKas3")
    assert (v.host, v.port, v.received, v.branch) == ("2001:db8::9:1", 6050, "2001:db8::9:255",
                                                      "z9hG4bKas3")
    assert str(v).startswith("SIP/2.0/UDP [2001:db8::9:1]:6050;")
    v = parse_via("SIP/2.0/UDP [2001:db8::9:1];received=[2001:db8::9:255];branch=z9hG4bKb")
    assert v.received == "2001:db8::9:255" and v.branch == "z9hG4bKb"


@pytest.mark.parametrize("text", [
    "SIP/2.0/UDP 192.0.2.15;;",
    "SIP/2.0/UDP",
    "SIP/2.0 host",
    "HTTP/1.1/TCP host",
    "SIP/2.0/UDP host;rport=abc",
    "SIP/2.0/UDP host:70000",
    "SIP/2.0/UDP host;received=not a host",
    "SIP/2.0/UDP host;received=zz::1",
])
def test_bad_via(text: str) -> None:
    with pytest.raises(UriError):
        parse_via(text)


def test_via_built() -> None:
    v = Via("TLS", "2001:db8::1", 5061, {"branch": "z9hG4bKabc", "rport": None})
    assert str(v) == "SIP/2.0/TLS [2001:db8::1]:5061;branch=z9hG4bKabc;rport"
    assert parse_via(str(v)) == v
