"""pjsip.conf read into the same model as sip.conf; the registrar and the dialplan
checker use what it defines."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from pbx.config import load_config
from pbx.diagnostics import ConfigError
from pbx.location import Location
from pbx.pjsip_conf import load_pjsip_conf
from pbx.registrar import Registrar, Source
from pbx.sip.auth import DigestAuthenticator, build_authorization, parse_challenge
from pbx.sip.message import parse_message
from pbx.sip_model import OutboundAuth

PJSIP = """\
[transport-udp]
type=transport
protocol=udp
bind=127.0.0.1:5060
external_media_address=203.0.113.5
external_signaling_address=203.0.113.5
local_net=192.168.0.0/16
tos=cs3

[phone](!)
type=endpoint
context=internal
disallow=all
allow=ulaw,alaw
dtmf_mode=rfc4733
rewrite_contact=yes

[7001](phone)
auth=7001-auth
aors=7001
callerid="Carol" <7001>
mailboxes=7001@default
bogus_option=1

[7001-auth]
type=auth
auth_type=userpass
username=carol
password=7001pass

[7001]
type=aor
max_contacts=1
remove_existing=yes
qualify_frequency=30

#include pjsip_trunk.conf
"""

TRUNK = """\
[provider-auth]
type=auth
username=office
password=pwoffice
realm=pbx.test

[provider]
type=endpoint
context=from-provider
outbound_auth=provider-auth
aors=provider
from_user=office
from_domain=pbx.test
send_pai=yes
transport=transport-udp

[provider]
type=aor
contact=sip:198.51.100.7:5070\\;transport=tcp

[provider]
type=identify
endpoint=provider
match=198.51.100.0/24
match=203.0.113.99

[provider]
type=registration
server_uri=sip:198.51.100.7:5070\\;transport=tcp
client_uri=sip:office@pbx.test
outbound_auth=provider-auth
contact_user=5000
retry_interval=30
forbidden_retry_interval=600
max_retries=100
expiration=300
line=yes
endpoint=provider
max_random_initial_delay=10
"""

EXTENSIONS = """\
[default]
[internal]
exten => 7001,hint,PJSIP/7001
exten => 7001,1,Dial(PJSIP/7001,20)
exten => 7002,hint,PJSIP/7002&SIP/6001
exten => 7002,1,Dial(PJSIP/nobody&PJSIP/${EXTEN}&SIP/6001)
exten => _9X.,1,Dial(PJSIP/${EXTEN:1}@provider)
 same => n,Dial(SIP/provider/${EXTEN:1})
 same => n,Dial(PJSIP/123@gone)
[from-provider]
exten => 5000,1,Dial(PJSIP/7001)
"""


def write_dir(tmp_path: Path, *, sip: str | None = "[6001]\ntype=friend\nhost=dynamic\n"
              "context=internal\nsecret=x\n", pjsip: str = PJSIP,
              trunk: str = TRUNK) -> Path:
    (tmp_path / "pbx.yaml").write_text('sip:\n  listen: ["udp:127.0.0.1:5060"]\n')
    if sip is not None:
        (tmp_path / "sip.conf").write_text(sip)
    (tmp_path / "pjsip.conf").write_text(pjsip)
    (tmp_path / "pjsip_trunk.conf").write_text(trunk)
    (tmp_path / "extensions.conf").write_text(EXTENSIONS)
    return tmp_path


def test_endpoints_auth_aor_identify_registration_transport(tmp_path: Path) -> None:
    write_dir(tmp_path)
    diags: list = []
    pj = load_pjsip_conf(tmp_path / "pjsip.conf", diags)
    assert [str(d) for d in diags if d.severity == "error"] == []
    phone = pj.peers["7001"]
    assert (phone.tech, phone.context, phone.codecs, phone.dtmfmode) == \
        ("PJSIP", "internal", ["ulaw", "alaw"], "rfc2833")
    assert (phone.auth_username, phone.secret, phone.aors) == ("carol", "7001pass", ["7001"])
    assert (phone.max_contacts, phone.remove_existing, phone.qualify,
            phone.qualify_frequency) == (1, True, True, 30)
    assert (phone.callerid.name, phone.callerid.num, phone.mailbox) == \
        ("Carol", "7001", "7001@default")
    assert phone.dynamic and phone.rewrite_contact and phone.force_rport

    trunk = pj.peers["provider"]
    assert trunk.outbound_auth == OutboundAuth("office", "pwoffice", "pbx.test")
    assert (trunk.host, trunk.port, trunk.transport) == ("198.51.100.7", 5070, "tcp")
    assert not trunk.dynamic and trunk.contacts == ["sip:198.51.100.7:5070;transport=tcp"]
    assert (trunk.fromuser, trunk.fromdomain, trunk.send_pai, trunk.context) == \
        ("office", "pbx.test", True, "from-provider")
    assert trunk.match == [ipaddress.ip_network("198.51.100.0/24"),
                           ipaddress.ip_network("203.0.113.99/32")]

    reg = pj.registrations["provider"]
    assert (reg.server_uri, reg.client_uri, reg.server_host, reg.server_port,
            reg.transport) == ("sip:198.51.100.7:5070", "sip:office@pbx.test",
                               "198.51.100.7", 5070, "tcp")
    assert (reg.contact_user, reg.retry_interval, reg.forbidden_retry_interval,
            reg.max_retries, reg.expiration, reg.line, reg.endpoint) == \
        ("5000", 30, 600, 100, 300, True, "provider")
    assert reg.auth == OutboundAuth("office", "pwoffice", "pbx.test")
    assert (reg.username, reg.domain, reg.tech) == ("office", "pbx.test", "PJSIP")

    spec = pj.transports["transport-udp"]
    assert (spec.protocol, spec.bind, spec.nat.external_signaling) == \
        ("udp", "127.0.0.1:5060", "203.0.113.5")

    warnings = {(Path(d.file).name, d.line, d.col): d.message for d in diags
                if d.severity == "warning"}
    assert warnings == {
        ("pjsip.conf", 8, 1): "option 'tos' of type=transport is Asterisk's but this PBX "
                              "does not use it (ignored)",
        ("pjsip.conf", 23, 1): "unknown option 'bogus_option' for type=endpoint (ignored)",
        ("pjsip_trunk.conf", 39, 1): "option 'max_random_initial_delay' of "
                                     "type=registration is Asterisk's but this PBX does not "
                                     "use it (ignored)",
    }


def test_whole_config_with_both_files_and_the_dialplan_check(tmp_path: Path) -> None:
    config = load_config(write_dir(tmp_path))
    sip = config.sip
    assert set(sip.peers) == {"6001", "7001", "provider"}
    assert sip.peers["6001"].tech == "SIP" and sip.peers["7001"].tech == "PJSIP"
    assert sip.peer_for_aor("7001") is sip.peers["7001"]
    assert sip.peer_by_auth_user("carol") is sip.peers["7001"]
    assert sip.peer_by_address("198.51.100.200", 5060) is sip.peers["provider"]
    assert sip.peer_by_address("203.0.113.99", 1) is sip.peers["provider"]
    assert sip.peer_by_address("192.0.2.1", 5060) is None
    assert sip.nat.external_media == "203.0.113.5"
    dial = sorted((d.line, d.message) for d in config.warnings
                  if "no endpoint" in d.message or "no peer" in d.message)
    assert dial == [
        (5, "hint PJSIP/7002: no endpoint '7002' in sip.conf or pjsip.conf"),
        (6, "Dial target PJSIP/nobody: no endpoint 'nobody' in sip.conf or pjsip.conf"),
        (9, "Dial target PJSIP/123@gone: no endpoint 'gone' in sip.conf or pjsip.conf"),
    ]


def test_pjsip_conf_alone_is_a_configuration(tmp_path: Path) -> None:
    config = load_config(write_dir(tmp_path, sip=None))
    assert set(config.sip.peers) == {"7001", "provider"}
    assert not [w for w in config.warnings if "sip.conf not found" in w.message]


def test_a_name_in_both_files_is_an_error(tmp_path: Path) -> None:
    write_dir(tmp_path, sip="[7001]\ntype=friend\nhost=dynamic\nsecret=x\ncontext=internal\n")
    with pytest.raises(ConfigError) as exc:
        load_config(tmp_path)
    errors = [str(d) for d in exc.value.errors]
    assert errors == [f"{tmp_path}/pjsip.conf:18:1: endpoint [7001] is also a peer in "
                      f"sip.conf (at {tmp_path}/sip.conf:1)"]


@pytest.mark.parametrize("extra,where,message", [
    ("[7001]\ntype=endpoint\n", (39, 1), "endpoint [7001] defined twice (first at"),
    ("[x]\ntype=endpiont\n", (40, 6), "type must be one of transport, endpoint"),
    ("[x]\ncontext=a\n", (39, 1), "[x] has no type="),
    ("[x]\ntype=endpoint\nauth=nope\n", (41, 6), "auth=nope: no [nope] with type=auth"),
    ("[x]\ntype=endpoint\naors=nope\n", (41, 6), "no [nope] with type=aor"),
    ("[x]\ntype=endpoint\ndirect_media=perhaps\n", (41, 14),
     "direct_media must be yes or no"),
    ("[x]\ntype=endpoint\ndtmf_mode=smoke\n", (41, 11), "dtmf_mode must be one of"),
    ("[x]\ntype=endpoint\ntransport=tcp9\n", (41, 11), "no [tcp9] with type=transport"),
    ("[x]\ntype=aor\nmax_contacts=many\n", (41, 14), "max_contacts must be a whole number"),
    ("[x]\ntype=auth\nauth_type=md5\nusername=u\n", (41, 11), "auth_type=md5 is not "
                                                              "supported"),
    ("[x]\ntype=identify\nendpoint=ghost\nmatch=1.2.3.4\n", (41, 10),
     "endpoint=ghost: no [ghost]"),
    ("[x]\ntype=registration\nclient_uri=sip:a@b\n", (39, 1), "needs server_uri"),
    ("[x]\ntype=registration\nserver_uri=http://x\nclient_uri=sip:a@b\n", (41, 12),
     "server_uri must be a sip: URI"),
    ("[x]\ntype=registration\nserver_uri=sip:h\nclient_uri=sip:a@b\nexpiration=0\n",
     (43, 12), "expiration must be at least 1"),
    ("[x]\ntype=registration\nserver_uri=sip:h\nclient_uri=sip:a@b\nendpoint=ghost\n",
     (39, 1), "registration x names peer 'ghost' which is not defined"),
    ("[x]\ntype=transport\nprotocol=sctp\n", (41, 10), "protocol must be udp, tcp"),
])
def test_wrong_values_are_errors_at_file_line_col(tmp_path: Path, extra: str,
                                                  where: tuple[int, int], message: str) -> None:
    write_dir(tmp_path, pjsip=PJSIP + "\n" + extra)
    with pytest.raises(ConfigError) as exc:
        load_config(tmp_path)
    errors = exc.value.errors
    assert len(errors) == 1, [str(e) for e in errors]
    assert (Path(errors[0].file).name, errors[0].line, errors[0].col) == ("pjsip.conf", *where)
    assert message in errors[0].message


def test_unused_types_and_unlisted_binds_are_warnings(tmp_path: Path) -> None:
    extra = "\n[global]\ntype=global\nuser_agent=x\n\n[tcp]\ntype=transport\n" \
            "protocol=tcp\nbind=0.0.0.0:5070\n"
    config = load_config(write_dir(tmp_path, pjsip=PJSIP + extra))
    messages = [w.message for w in config.warnings]
    assert "[global] type=global is Asterisk's but this PBX does not use it (ignored)" \
        in messages
    assert any(m.startswith("transport [tcp] bind=0.0.0.0:5070 (tcp) is not in pbx.yaml")
               for m in messages)


def test_max_contacts_zero_is_warned_and_refuses_registration(tmp_path: Path) -> None:
    pjsip = PJSIP.replace("max_contacts=1\n", "")
    config = load_config(write_dir(tmp_path, pjsip=pjsip))
    assert any("max_contacts=0" in w.message for w in config.warnings)
    registrar = Registrar(config, Location(), auth_for(config))
    req = register_request("7001", "<sip:7001@10.0.0.5:5060>")
    first = registrar.handle(req, SOURCE, 0.0, 1000.0)
    answered = registrar.handle(with_auth(req, first, "carol", "7001pass"), SOURCE, 0.0,
                                1000.0)
    assert answered.status == 403


# --- the registrar with pjsip endpoints ---------------------------------------------

SOURCE = Source("udp", "127.0.0.1", 40000)


def auth_for(config) -> DigestAuthenticator:
    def password(user: str) -> str | None:
        peer = config.sip.peer_by_auth_user(user)
        return peer.secret if peer is not None and peer.dynamic else None

    return DigestAuthenticator("pbx", b"s" * 32, password, algorithms=("MD5",))


_n = [0]


def register_request(aor: str, contact: str, *, auth: str | None = None):
    _n[0] += 1
    lines = ["REGISTER sip:127.0.0.1 SIP/2.0",
             f"Via: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bKr{_n[0]}",
             f"From: <sip:{aor}@127.0.0.1>;tag=t{_n[0]}", f"To: <sip:{aor}@127.0.0.1>",
             f"Call-ID: reg-{contact}", f"CSeq: {_n[0]} REGISTER", f"Contact: {contact}",
             "Expires: 300"]
    if auth:
        lines.append(f"Authorization: {auth}")
    return parse_message(("\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n").encode())


def with_auth(req, challenge, username: str, password: str):
    params = parse_challenge(challenge.headers.get("WWW-Authenticate"))
    assert params is not None
    value = build_authorization(params, username, password, "REGISTER", "sip:127.0.0.1")
    aor = req.to_addr.uri.user
    return register_request(aor, req.headers.get("Contact"), auth=value)


def bind(registrar, aor: str, contact: str, user: str, password: str, now: float = 0.0):
    first = registrar.handle(register_request(aor, contact), SOURCE, now, 1000.0 + now)
    assert first.status == 401
    return registrar.handle(with_auth(register_request(aor, contact), first, user, password),
                            SOURCE, now, 1000.0 + now)


def test_registrar_uses_the_auth_username_and_remove_existing(tmp_path: Path) -> None:
    config = load_config(write_dir(tmp_path))
    location = Location()
    registrar = Registrar(config, location, auth_for(config))
    # the auth section's username, not the aor name, is the digest user
    assert bind(registrar, "7001", "<sip:7001@10.0.0.5:5060>", "7001", "7001pass").status \
        == 403
    ok = bind(registrar, "7001", "<sip:7001@10.0.0.5:5060>", "carol", "7001pass")
    assert ok.status == 200
    assert [b.contact for b in location.lookup("7001", 1000.0)] == ["sip:7001@10.0.0.5:5060"]
    # max_contacts=1 with remove_existing=yes: the new phone replaces the old binding
    ok = bind(registrar, "7001", "<sip:7001@10.0.0.6:5060>", "carol", "7001pass", now=1.0)
    assert ok.status == 200
    assert [b.contact for b in location.lookup("7001", 1001.0)] == ["sip:7001@10.0.0.6:5060"]
    # a static trunk endpoint takes no registrations
    assert bind(registrar, "provider", "<sip:x@10.0.0.7>", "office", "pwoffice").status == 403


def test_registrar_refuses_a_second_contact_without_remove_existing(tmp_path: Path) -> None:
    config = load_config(write_dir(tmp_path, pjsip=PJSIP.replace("remove_existing=yes",
                                                                 "remove_existing=no")))
    location = Location()
    registrar = Registrar(config, location, auth_for(config))
    assert bind(registrar, "7001", "<sip:7001@10.0.0.5>", "carol", "7001pass").status == 200
    refused = bind(registrar, "7001", "<sip:7001@10.0.0.6>", "carol", "7001pass", now=1.0)
    assert (refused.status, refused.reason) == (403, "Forbidden - Too Many Contacts")
    assert [b.contact for b in location.lookup("7001", 1001.0)] == ["sip:7001@10.0.0.5"]
    # the same contact refreshing is not a second contact
    assert bind(registrar, "7001", "<sip:7001@10.0.0.5>", "carol", "7001pass",
                now=2.0).status == 200


def test_without_sip_listen_the_transports_binds_are_listened_on(tmp_path: Path) -> None:
    """Asterisk's way when pbx.yaml does not say: each transport's bind (default
    port 5060, 5061 for TLS); ws is not served (a warning), tls needs a cert."""
    transports = ("[transport-udp]\ntype=transport\nprotocol=udp\nbind=127.0.0.1:5070\n\n"
                  "[tcp]\ntype=transport\nprotocol=tcp\nbind=0.0.0.0\n\n"
                  "[ws]\ntype=transport\nprotocol=ws\nbind=0.0.0.0:8089\n\n")
    write_dir(tmp_path, sip=None, pjsip=transports + PJSIP.split("tos=cs3\n", 1)[1])
    (tmp_path / "pbx.yaml").unlink()
    config = load_config(tmp_path)
    assert [str(s) for s in config.settings.listen] == ["udp:127.0.0.1:5070",
                                                        "tcp:0.0.0.0:5060"]
    assert any("protocol=ws: WebSocket is not supported" in w.message for w in config.warnings)
    assert not any("is not in pbx.yaml" in w.message for w in config.warnings)

    (tmp_path / "pjsip.conf").write_text(transports + "[tls]\ntype=transport\nprotocol=tls\n")
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path)
    assert "transport [tls] protocol=tls needs a certificate" in str(err.value)


def test_pbx_yaml_sip_listen_wins_over_transport_binds(tmp_path: Path) -> None:
    extra = "\n[tcp]\ntype=transport\nprotocol=tcp\nbind=0.0.0.0:5070\n"
    config = load_config(write_dir(tmp_path, pjsip=PJSIP + extra))
    assert [str(s) for s in config.settings.listen] == ["udp:127.0.0.1:5060"]
