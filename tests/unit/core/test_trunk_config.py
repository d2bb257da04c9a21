"""sip.conf's trunk and NAT keys and `register =>` lines, read into the neutral model."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from pbx.conffile import Entry
from pbx.config import SipGeneral, load_sip_conf
from pbx.sip_conf_trunk import parse_register
from pbx.sip_model import OutboundAuth


def reg(value: str, general: SipGeneral | None = None):
    diags: list = []
    entry = Entry("register", value, "sip.conf", 7, 1, 13, arrow=True)
    return parse_register(entry, general or SipGeneral(), diags), diags


@pytest.mark.parametrize("value,expect", [
    ("office:pwoffice@127.0.0.1:5070/5000~300",
     dict(name="office@127.0.0.1:5070", server_uri="sip:127.0.0.1:5070",
          client_uri="sip:office@127.0.0.1:5070", server_host="127.0.0.1", server_port=5070,
          transport="udp", contact_user="5000", expiration=300,
          auth=OutboundAuth("office", "pwoffice"))),
    ("name@domain", dict(client_uri="sip:name@domain", server_uri="sip:domain",
                         server_port=5060, contact_user="s", expiration=120, auth=None)),
    ("tcp://name@namedomain:pass:authuser@domain/extension",
     dict(transport="tcp", client_uri="sip:name@namedomain", server_uri="sip:namedomain",
          server_host="domain", contact_user="extension",
          auth=OutboundAuth("authuser", "pass"))),
    ("tls://name@namedomain:pass:authuser@domain/extension~111",
     dict(transport="tls", server_port=5061, expiration=111)),
    ("peer?name@namedomain:pass:authuser@domain:1234/extension~111",
     dict(endpoint="peer", server_host="domain", server_port=1234)),
    ("name@namedomain:4321:pass:authuser@domain",
     dict(client_uri="sip:name@namedomain:4321", auth=OutboundAuth("authuser", "pass"))),
    ("2565550100:s3cr:et@[::1]:5070", dict(server_host="::1", server_port=5070,
                                          auth=OutboundAuth("et", "s3cr"))),
])
def test_register_lines_as_chan_sip_reads_them(value: str, expect: dict) -> None:
    registration, diags = reg(value)
    assert diags == []
    assert registration is not None
    for key, wanted in expect.items():
        assert getattr(registration, key) == wanted, key
    assert registration.tech == "SIP" and (registration.file, registration.lineno) == \
        ("sip.conf", 7)


def test_register_retry_settings_come_from_general() -> None:
    general = SipGeneral(registertimeout=45, registerattempts=3, register_retry_403=True,
                         defaultexpiry=600, outboundproxy="sip:10.0.0.1:5060")
    registration, _ = reg("a:b@host", general)
    assert registration is not None
    assert (registration.retry_interval, registration.max_retries,
            registration.forbidden_retry_interval, registration.expiration,
            registration.outbound_proxy) == (45, 3, 45, 600, "sip:10.0.0.1:5060")
    default, _ = reg("a:b@host")
    assert default is not None
    assert (default.max_retries, default.forbidden_retry_interval) == (None, 0)


@pytest.mark.parametrize("value,col,message", [
    ("nohost", 13, "expected [transport://]user"),
    ("@host", 13, "expected"),
    ("udp:/x@h", 13, "'/' in the user part"),
    ("sctp://a:b@host", 13, "transport 'sctp' is not udp, tcp or tls"),
    ("a:b@host:99999", 17, "port '99999'"),
    ("a:b@host/100~soon", 26, "expiry 'soon'"),
    ("a:b@bad_host!", 17, "is not a host name"),
])
def test_bad_register_lines_are_errors_at_file_line_col(value: str, col: int,
                                                        message: str | None) -> None:
    registration, diags = reg(value)
    assert registration is None
    assert len(diags) == 1
    assert (diags[0].file, diags[0].line, diags[0].col, diags[0].severity) == \
        ("sip.conf", 7, col, "error")
    if message:
        assert message in diags[0].message
    assert str(diags[0]).startswith(f"sip.conf:7:{col}: register: ")


TRUNK = """\
[general]
context=default
externaddr=203.0.113.5:5061
localnet=192.168.0.0/255.255.0.0
localnet=10.0.0.0/8
registertimeout=30
registerattempts=5
register => office:pwoffice@sip.example.com/5000
register => tcp://office2:pw2:auth2@sip.example.com:5080/5001~600

[provider]
type=peer
host=203.0.113.10
port=5080
defaultuser=office
secret=pwoffice
remotesecret=pwremote
insecure=port,invite
outboundproxy=proxy.example.com:5065
fromuser=office
fromdomain=example.com
sendrpid=pai
trustrpid=yes
transport=tcp
call-limit=4
nat=force_rport,comedia
dtmfmode=info
qualify=yes
qualifyfreq=30
directmedia=no
callgroup=1,3-4
videosupport=yes

[phone]
type=friend
host=dynamic
secret=x
nat=no
"""


def test_trunk_peer_keys_are_read(tmp_path: Path) -> None:
    path = tmp_path / "sip.conf"
    path.write_text(TRUNK)
    diags: list = []
    sip = load_sip_conf(path, diags)
    assert [d for d in diags if d.severity == "error"] == []
    # an option chan_sip has and the PBX does not use: a warning with its position
    warnings = [str(d) for d in diags if d.severity == "warning"]
    assert warnings == [f"{path}:32:1: warning: option 'videosupport' in [provider] is "
                        "Asterisk's but this PBX does not use it (ignored)"]
    p = sip.peers["provider"]
    assert p.outbound_auth == OutboundAuth("office", "pwremote")
    assert p.insecure == frozenset({"port", "invite"})
    assert p.outbound_proxy == "sip:proxy.example.com:5065"
    assert (p.fromuser, p.fromdomain, p.transport, p.call_limit) == \
        ("office", "example.com", "tcp", 4)
    assert (p.send_pai, p.send_rpid, p.trust_id_inbound) == (True, False, True)
    assert (p.force_rport, p.rewrite_contact, p.rtp_symmetric) == (True, True, True)
    assert (p.dtmfmode, p.qualify, p.qualify_frequency, p.direct_media, p.call_group) == \
        ("info", True, 30, False, "1,3-4")
    assert p.match == [ipaddress.ip_network("203.0.113.10/32")]
    phone = sip.peers["phone"]
    assert (phone.force_rport, phone.rewrite_contact, phone.rtp_symmetric) == \
        (False, False, False)
    assert phone.outbound_auth == OutboundAuth("phone", "x")
    assert sip.nat.external_signaling == "203.0.113.5:5061"
    assert sip.nat.local_nets == [ipaddress.ip_network("192.168.0.0/16"),
                                  ipaddress.ip_network("10.0.0.0/8")]
    assert sip.nat.is_local("10.1.2.3") and not sip.nat.is_local("8.8.8.8")
    assert list(sip.registrations) == ["office@sip.example.com:5060",
                                       "office2@sip.example.com:5080"]
    first, second = sip.registrations.values()
    assert (first.retry_interval, first.max_retries, first.expiration) == (30, 5, 120)
    assert (second.transport, second.expiration, second.auth) == \
        ("tcp", 600, OutboundAuth("auth2", "pw2"))
    # identification by source address, as the call core will ask
    assert sip.peer_by_address("203.0.113.10", 5999) is p


def test_bad_trunk_values_are_errors(tmp_path: Path) -> None:
    path = tmp_path / "sip.conf"
    path.write_text("""\
[general]
externip=not an address
localnet=192.168.0.0/99
registertimeout=soon
register => office@host
register => office@host

[t]
type=peer
host=1.2.3.4
insecure=sometimes
sendrpid=maybe
call-limit=-1
nat=perhaps
dtmfmode=smoke
outboundproxy=bad host
callgroup=a,b
""")
    diags: list = []
    load_sip_conf(path, diags)
    errors = {(d.line, d.col): d.message for d in diags if d.severity == "error"}
    assert set(errors) == {(2, 10), (3, 10), (4, 17), (6, 13), (11, 10), (12, 10), (13, 12),
                           (14, 5), (15, 10), (16, 15), (17, 11)}, errors
    assert "defined twice (first at" in errors[(6, 13)]
    assert "insecure must be port, invite" in errors[(11, 10)]
