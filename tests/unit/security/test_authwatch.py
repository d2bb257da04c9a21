"""Failed authentications seen from the SIP core's responses; per-peer ACLs."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import pytest

from pbx.security.acl import Acl
from pbx.security.authwatch import AuthWatch
from pbx.security.banlist import BanList, BanPolicy
from pbx.security.seclog import SecurityLog
from pbx.sip.address import Address
from pbx.sip.message import Request, make_response, parse_message

SRC = Address("udp", "203.0.113.9", 5070)
AUTH = ('Authorization: Digest username="6001",realm="pbx",nonce="n",uri="sip:pbx",'
        'response="0123456789abcdef0123456789abcdef"\r\n')


def register(user: str = "6001", auth: str = AUTH, call_id: str = "c1") -> Request:
    msg = parse_message((f"REGISTER sip:pbx SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.9:5070;"
                         f"branch=z9hG4bK{call_id}\r\nFrom: <sip:{user}@pbx>;tag=1\r\n"
                         f"To: <sip:{user}@pbx>\r\nCall-ID: {call_id}\r\nCSeq: 2 REGISTER\r\n"
                         f"{auth}Content-Length: 0\r\n\r\n").encode("utf-8", "surrogateescape"))
    assert isinstance(msg, Request)
    return msg


@dataclass
class Tx:
    request: Request
    peer: Address = SRC


@dataclass
class Peer:
    name: str
    acls: tuple = field(default_factory=tuple)


def make(peers: dict | None = None, **policy) -> tuple[AuthWatch, BanList]:
    bans = BanList(BanPolicy(**policy))
    watch = AuthWatch(bans, SecurityLog(wall=lambda: 0.0), peer=(peers or {}).get,
                      local_for=lambda src: Address("udp", "127.0.0.1", 5060),
                      clock=lambda: 50.0)
    watch.any_peer_acl = bool(peers)
    return watch, bans


def test_403_to_credentials_is_a_failure_logged_and_counted(
        caplog: pytest.LogCaptureFixture) -> None:
    watch, bans = make(auth_failures=3)
    caplog.set_level(logging.INFO, logger="pbx.security")
    for i in range(3):
        req = register(call_id=f"c{i}")
        watch.on_final_response(Tx(req), make_response(req, 403, "Forbidden"))
    assert watch.failures == 3 and bans.is_banned(SRC.host, 51.0)
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == ('SecurityEvent="InvalidPassword",EventTV="1970-01-01T00:00:00.000000+0000",'
                        'Severity="Error",Service="SIP",EventVersion="2",AccountID="6001",'
                        'SessionID="c0",LocalAddress="IPV4/UDP/127.0.0.1/5060",'
                        'RemoteAddress="IPV4/UDP/203.0.113.9/5070",Method="REGISTER"')
    assert lines[-1].startswith('SecurityEvent="AddressBanned"') is False  # logged by service
    assert len(lines) == 3


def test_challenges_and_successes_are_not_failures() -> None:
    watch, _ = make()
    req = register()
    for status in (401, 407, 200, 404):
        watch.on_final_response(Tx(req), make_response(req, status))
    no_creds = register(auth="")
    watch.on_final_response(Tx(no_creds), make_response(no_creds, 403))
    assert watch.failures == 0


def test_peer_acl_refuses_other_addresses_as_failed_acl(
        caplog: pytest.LogCaptureFixture) -> None:
    lan = Acl.from_lines([("deny", "0.0.0.0/0"), ("permit", "192.168.1.0/24")], "")
    watch, _ = make({"6001": Peer("6001", (lan,))})
    caplog.set_level(logging.INFO, logger="pbx.security")
    req = register(auth="")  # even unauthenticated: the name alone is enough
    refusal = watch.check_request(req, SRC)
    assert refusal is not None and refusal.status == 403
    # The 403 we made is not counted a second time as a wrong password.
    watch.on_final_response(Tx(req), refusal)
    assert watch.failures == 1
    assert 'SecurityEvent="FailedACL"' in caplog.records[0].getMessage()
    assert watch.check_request(register(), Address("udp", "192.168.1.20", 5060)) is None
    assert watch.check_request(register("6002", auth=""), SRC) is None  # no ACL there
    assert watch.check_request(register("6002"), SRC) is not None  # creds name 6001


def test_attacker_text_cannot_forge_log_lines(caplog: pytest.LogCaptureFixture) -> None:
    watch, _ = make()
    caplog.set_level(logging.INFO, logger="pbx.security")
    evil = AUTH.replace('username="6001"', 'username="x\\",Severity=\\"Info"')
    req = register(auth=evil, call_id="abc\udcff")
    watch.on_final_response(Tx(req), make_response(req, 403))
    line = caplog.records[0].getMessage()
    assert "\n" not in line and line.count('Severity="') == 1
    assert 'SessionID="abc\\udcff"' in line
