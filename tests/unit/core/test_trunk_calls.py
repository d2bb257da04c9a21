"""Calls through a provider's trunk on the fake SIP core (tests/unit/core/test_b2bua.py):
the INVITE to the provider (From, P-Asserted-Identity, Route, transport, credentials
answering its 401/407 once), DIALSTATUS from its answers, call-limit and
sip.max_calls, calls from the provider (identified by address, DID, caller ID from
PAI), pjsip endpoints by identify and by auth username, and NAT (external address
for peers outside localnet, nat=no reaching the registered Contact)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pbx.calls import CallManager
from pbx.config import load_config
from pbx.location import Binding, Location
from pbx.sip.address import Address
from pbx.sip.auth import (
    DigestAuthenticator,
    build_authorization,
    build_challenge,
    parse_authorization,
    parse_challenge,
    verify_response,
)
from pbx.sip.message import Request, make_response, parse_message
from pbx.sip.sdp import parse_sdp
from tests.unit.core.test_b2bua import SDP, FakeCore, Sent, reply, until

PROVIDER = Address("udp", "127.0.0.2", 5070)
PHONE = Address("udp", "127.0.0.1", 40001)

SIP_CONF = """\
[general]
context=default
{general}

[6001]
type=friend
host=dynamic
context=internal

[6002]
type=friend
host=dynamic
secret=6002pass
context=internal
{phone_nat}

[provider]
type=peer
host={provider_host}
port=5070
context=from-provider
defaultuser=office
remotesecret=pwoffice
fromuser=office
fromdomain=pbx.test
insecure=port,invite
sendrpid=pai
trustrpid=yes
{provider}
"""

DIALPLAN = """\
[internal]
exten => _9X.,1,Set(CALLERID(num)=2565550100)
 same => n,Set(CALLERID(name)=Office)
 same => n,Dial(SIP/provider/${EXTEN:1},5)
 same => n,Set(RESULT=${DIALSTATUS})
 same => n,Hangup()
exten => _8X.,1,Dial(SIP/${EXTEN:1}@provider,5)
 same => n,Set(RESULT=${DIALSTATUS})
 same => n,Hangup()
exten => 6002,1,Dial(SIP/6002,5)
 same => n,Hangup()

[from-provider]
exten => 2565550199,1,Dial(SIP/6002,5)
 same => n,Hangup()
exten => 5000,1,Dial(SIP/6002,5)
 same => n,Hangup()
"""

PJSIP = """\
[carrier-auth]
type=auth
auth_type=userpass
username=office
password=pwoffice

[carrier]
type=endpoint
context=from-provider
allow=ulaw
outbound_auth=carrier-auth
aors=carrier
from_user=office
from_domain=pbx.test
send_pai=yes

[carrier]
type=aor
contact=sip:127.0.0.3:5070

[carrier]
type=identify
endpoint=carrier
match=127.0.0.3

[7001]
type=endpoint
context=internal
allow=ulaw
auth=7001-auth
aors=7001

[7001-auth]
type=auth
auth_type=userpass
username=alice
password=alicepw

[7001]
type=aor
max_contacts=1
"""


class Pbx:
    def __init__(self, core: FakeCore, calls: CallManager, location: Location,
                 auth: DigestAuthenticator) -> None:
        self.core, self.calls, self.location, self.auth = core, calls, location, auth

    def leg(self, prefix: str):
        return next(c for c in self.calls.channels.values() if c.name.startswith(prefix))

    def register(self, aor: str, contact: str, source: Address) -> None:
        self.location.put(Binding(aor=aor, contact=contact, expires_at=time.time() + 600,
                                  source_host=source.host, source_port=source.port,
                                  call_id=f"reg-{aor}-{source.port}"))


@contextlib.asynccontextmanager
async def make_pbx(tmp: Path, *, general: str = "", provider: str = "",
                   phone_nat: str = "", yaml: str = "", pjsip: bool = False,
                   provider_host: str = "127.0.0.2") -> AsyncIterator[Pbx]:
    (tmp / "sip.conf").write_text(SIP_CONF.format(general=general, provider=provider,
                                                  phone_nat=phone_nat,
                                                  provider_host=provider_host))
    (tmp / "extensions.conf").write_text(DIALPLAN)
    if pjsip:
        (tmp / "pjsip.conf").write_text(PJSIP)
    (tmp / "pbx.yaml").write_text(
        f"rtp: {{ports: [43000, 43999]}}\nsip: {{session_expires: 0{yaml}}}\n")
    config = load_config(tmp)
    core = FakeCore()
    location = Location()
    auth = DigestAuthenticator(
        "pbx", b"k" * 32,
        lambda user: (p.secret if (p := config.sip.peer_by_auth_user(user)) else None))
    calls = CallManager(core=core, config=config, location=location, auth=auth,
                        store=None)  # type: ignore[arg-type]
    await calls.start()
    try:
        yield Pbx(core, calls, location, auth)
    finally:
        await calls.stop()


@pytest.fixture
async def pbx(tmp_path: Path) -> AsyncIterator[Pbx]:
    async with make_pbx(tmp_path) as p:
        yield p


def phone_invite(exten: str, *, user: str = "6001", cseq: int = 1, call_id: str = "call-a",
                 extra: str = "", port: int = 40001, host: str = "127.0.0.1") -> Request:
    data = (
        f"INVITE sip:{exten}@127.0.0.1:5060 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {host}:{port};branch=z9hG4bK{call_id}{cseq};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: \"Caller\" <sip:{user}@{host}>;tag=a-tag\r\n"
        f"To: <sip:{exten}@127.0.0.1>\r\n"
        f"Call-ID: {call_id}\r\n"
        f"CSeq: {cseq} INVITE\r\n"
        f"Contact: <sip:{user}@{host}:{port}>\r\n"
        f"{extra}"
        "Content-Type: application/sdp\r\n"
        f"Content-Length: {len(SDP)}\r\n\r\n"
    ).encode() + SDP
    msg = parse_message(data)
    assert isinstance(msg, Request)
    return msg


def challenge(sent: Sent, status: int, nonce: str = "n1"):
    header = "WWW-Authenticate" if status == 401 else "Proxy-Authenticate"
    resp = make_response(sent.request, status, to_tag="prov", headers=[
        (header, build_challenge("pbx.test", nonce, qop="auth"))])
    return parse_message(resp.to_bytes())


async def final_to_caller(pbx: Pbx, tx: str) -> int:
    got = await until(lambda: [r for r in pbx.core.answers(tx) if r.status >= 200])
    return got[0].status


# ------------------------------------------------------------------ calls out


@pytest.mark.parametrize("status", [401, 407])
async def test_call_out_through_the_trunk_with_caller_id_and_credentials(
        pbx: Pbx, status: int) -> None:
    core = pbx.core
    pbx.calls.on_invite(phone_invite("92565550123"), "tx-a", PHONE)
    first = (await until(lambda: core.sent("INVITE", PROVIDER)))[0]
    req = first.request
    assert str(req.uri) == "sip:2565550123@127.0.0.2:5070"
    assert req.to_addr.uri.user == "2565550123"
    # fromuser/fromdomain in From, the dialplan's caller ID name as its display name...
    assert (req.from_addr.uri.user, req.from_addr.uri.host) == ("office", "pbx.test")
    assert req.from_addr.display == "Office"
    # ...and the caller ID number as P-Asserted-Identity (sendrpid=pai).
    assert req.headers.get("P-Asserted-Identity") == '"Office" <sip:2565550100@pbx.test>'
    assert req.headers.get("Remote-Party-ID") is None
    assert pbx.leg("SIP/provider").name.startswith("SIP/provider-")
    first.callback(reply(first, 100))
    first.callback(challenge(first, status))
    second = (await until(lambda: core.sent("INVITE", PROVIDER)[1:]))[0]
    again = second.request
    assert again.call_id == req.call_id and again.from_addr.tag == req.from_addr.tag
    assert again.cseq == (req.cseq[0] + 1, "INVITE")
    assert again.top_via.branch != req.top_via.branch
    header = "Authorization" if status == 401 else "Proxy-Authorization"
    creds = parse_authorization(again.headers.get(header) or "")
    assert creds is not None and creds.username == "office"
    assert verify_response(creds, "INVITE", "pwoffice")
    second.callback(reply(second, 200, body=SDP, tag="prov2"))
    ok = await until(lambda: [r for r in core.answers("tx-a") if r.status == 200])
    assert ok
    acks = core.acks(PROVIDER)
    assert [a.cseq for a in acks] == [(again.cseq[0], "ACK")]


async def test_a_second_challenge_is_chanunavail(pbx: Pbx) -> None:
    core = pbx.core
    pbx.calls.on_invite(phone_invite("92565550123"), "tx-a", PHONE)
    first = (await until(lambda: core.sent("INVITE", PROVIDER)))[0]
    first.callback(challenge(first, 407))
    second = (await until(lambda: core.sent("INVITE", PROVIDER)[1:]))[0]
    caller = pbx.leg("SIP/6001")
    second.callback(challenge(second, 407, nonce="n2"))
    # Hangup() passes the callee's cause on (CALL_REJECTED: 403), as Asterisk's does.
    assert await final_to_caller(pbx, "tx-a") == 403
    assert len(core.sent("INVITE", PROVIDER)) == 2  # answered once, never twice
    assert caller.variables["RESULT"] == "CHANUNAVAIL"
    assert caller.variables["HANGUPCAUSE"] == "21"  # CALL_REJECTED, as Asterisk


@pytest.mark.parametrize("status,reason,dialstatus,cause", [
    (486, None, "BUSY", "17"),
    (503, None, "CONGESTION", "34"),
    (404, None, "CHANUNAVAIL", "1"),
    (480, None, "NOANSWER", "19"),
    (500, "Q.850;cause=17;text=\"User busy\"", "BUSY", "17"),  # Reason wins (RFC 3326)
])
async def test_dialstatus_and_cause_from_the_providers_answer(
        pbx: Pbx, status: int, reason: str | None, dialstatus: str, cause: str) -> None:
    core = pbx.core
    pbx.calls.on_invite(phone_invite("82565550123"), "tx-a", PHONE)
    first = (await until(lambda: core.sent("INVITE", PROVIDER)))[0]
    assert str(first.request.uri) == "sip:2565550123@127.0.0.2:5070"  # NUMBER@provider
    caller = pbx.leg("SIP/6001")
    headers = [("Reason", reason)] if reason else []
    first.callback(parse_message(make_response(first.request, status, to_tag="p",
                                               headers=headers).to_bytes()))
    await final_to_caller(pbx, "tx-a")
    assert caller.variables["RESULT"] == dialstatus
    assert caller.variables["HANGUPCAUSE"] == cause


async def test_outbound_proxy_and_tcp(tmp_path: Path) -> None:
    async with make_pbx(tmp_path, provider="outboundproxy=127.0.0.4:5999\n"
                                                  "transport=tcp") as pbx:
        core = pbx.core
        pbx.calls.on_invite(phone_invite("92565550123"), "tx-a", PHONE)
        sent = (await until(lambda: core.sent("INVITE")))[0]
        # The INVITE goes to the proxy, over TCP, saying so in a loose Route.
        assert sent.dest == Address("tcp", "127.0.0.4", 5999)
        req = sent.request
        assert req.headers.get("Route") == "<sip:127.0.0.4:5999;transport=tcp;lr>"
        assert str(req.uri) == "sip:2565550123@127.0.0.2:5070;transport=tcp"
        assert req.headers.get("Contact").endswith(";transport=tcp>")
        assert req.top_via.transport.upper() == "TCP"


async def test_call_limit_of_the_trunk(tmp_path: Path) -> None:
    async with make_pbx(tmp_path, provider="call-limit=1") as pbx:
        core = pbx.core
        pbx.calls.on_invite(phone_invite("92565550123"), "tx-a", PHONE)
        first = (await until(lambda: core.sent("INVITE", PROVIDER)))[0]
        first.callback(reply(first, 180))
        # A second call while the first rings: over the call-limit, BUSY at once.
        pbx.calls.on_invite(phone_invite("92565550124", call_id="call-b", port=40011),
                            "tx-b", Address("udp", "127.0.0.1", 40011))
        assert await final_to_caller(pbx, "tx-b") == 486
        assert len(core.sent("INVITE", PROVIDER)) == 1
        # A call from the provider counts too: 480, as chan_sip answers it.
        pbx.calls.on_invite(phone_invite("2565550199", user="2565550123", call_id="call-c",
                                         host="127.0.0.2", port=5070), "tx-c", PROVIDER)
        assert await final_to_caller(pbx, "tx-c") == 480
        # Once the first call ends, the trunk takes a call again.
        first.callback(parse_message(make_response(first.request, 486,
                                                   to_tag="p").to_bytes()))
        await final_to_caller(pbx, "tx-a")
        await until(lambda: not pbx.calls.limits.by_peer.get("provider"))
        pbx.calls.on_invite(phone_invite("92565550125", call_id="call-d", port=40012),
                            "tx-d", Address("udp", "127.0.0.1", 40012))
        await until(lambda: len(core.sent("INVITE", PROVIDER)) == 2)


async def test_max_calls(tmp_path: Path) -> None:
    async with make_pbx(tmp_path, yaml=", max_calls: 1") as pbx:
        core = pbx.core
        pbx.calls.on_invite(phone_invite("92565550123"), "tx-a", PHONE)
        await until(lambda: core.sent("INVITE", PROVIDER))
        pbx.calls.on_invite(phone_invite("92565550124", call_id="call-b", port=40011),
                            "tx-b", Address("udp", "127.0.0.1", 40011))
        assert [r.status for r in core.answers("tx-b")] == [503]


# ------------------------------------------------------------------- calls in


async def test_call_from_the_provider_to_the_did_rings_the_extension(pbx: Pbx) -> None:
    core = pbx.core
    b = Address("udp", "127.0.0.1", 40002)
    pbx.register("6002", "sip:6002@127.0.0.1:40002", b)
    pai = 'P-Asserted-Identity: "Jane Roe" <sip:2565550123@carrier.example>\r\n'
    invite = phone_invite("2565550199", user="anonymous", extra=pai, host="127.0.0.2",
                          port=5999)
    # From the provider's address on another port: insecure=port,invite, no challenge.
    pbx.calls.on_invite(invite, "tx-p", Address("udp", "127.0.0.2", 5999))
    to_b = (await until(lambda: core.sent("INVITE", b)))[0]
    assert [r.status for r in core.answers("tx-p") if r.status >= 200] == []
    leg = pbx.leg("SIP/provider")
    assert (leg.context, leg.exten) == ("from-provider", "2565550199")
    # trustrpid=yes: the caller ID is the PAI's, and the phone sees it in From.
    assert (leg.callerid.num, leg.callerid.name) == ("2565550123", "Jane Roe")
    assert to_b.request.from_addr.uri.user == "2565550123"
    assert to_b.request.from_addr.display == "Jane Roe"


async def test_call_to_the_registered_contact_goes_to_its_extension(pbx: Pbx) -> None:
    core = pbx.core
    b = Address("udp", "127.0.0.1", 40002)
    pbx.register("6002", "sip:6002@127.0.0.1:40002", b)
    pbx.calls.on_invite(phone_invite("5000", user="2565550123", host="127.0.0.2",
                                     port=5070), "tx-p", PROVIDER)
    await until(lambda: core.sent("INVITE", b))
    leg = pbx.leg("SIP/provider")
    assert leg.exten == "5000" and leg.callerid.num == "2565550123"  # no PAI: From


async def test_untrusted_pai_is_ignored_and_wrong_port_is_challenged(tmp_path: Path) -> None:
    async with make_pbx(tmp_path, provider="trustrpid=no\ninsecure=invite") as pbx:
        core = pbx.core
        b = Address("udp", "127.0.0.1", 40002)
        pbx.register("6002", "sip:6002@127.0.0.1:40002", b)
        pai = 'P-Asserted-Identity: <sip:999@evil.example>\r\n'
        pbx.calls.on_invite(phone_invite("5000", user="2565550123", extra=pai,
                                         host="127.0.0.2", port=5070), "tx-p", PROVIDER)
        to_b = (await until(lambda: core.sent("INVITE", b)))[0]
        assert pbx.leg("SIP/provider").callerid.num == "2565550123"
        assert to_b.request.from_addr.uri.user == "2565550123"
        # Without insecure=port the provider's host on another port is not the trunk.
        pbx.calls.on_invite(phone_invite("5000", user="2565550123", call_id="c2",
                                         host="127.0.0.2", port=6000), "tx-q",
                            Address("udp", "127.0.0.2", 6000))
        assert [r.status for r in core.answers("tx-q")] == [407]


async def test_pjsip_identify_match_and_auth_username(tmp_path: Path) -> None:
    async with make_pbx(tmp_path, pjsip=True) as pbx:
        core = pbx.core
        b = Address("udp", "127.0.0.1", 40002)
        pbx.register("6002", "sip:6002@127.0.0.1:40002", b)
        src = Address("udp", "127.0.0.3", 5070)
        pbx.calls.on_invite(phone_invite("5000", user="2565550123", host="127.0.0.3",
                                         port=5070), "tx-p", src)
        await until(lambda: core.sent("INVITE", b))
        assert [r.status for r in core.answers("tx-p") if r.status >= 300] == []
        leg = pbx.leg("PJSIP/carrier")
        assert leg.context == "from-provider"
        # An endpoint whose auth username (alice) differs from its name (7001).
        invite = phone_invite("6002", user="7001", call_id="c7", port=40007)
        a7 = Address("udp", "127.0.0.1", 40007)
        pbx.calls.on_invite(invite, "tx-7a", a7)
        chal = core.answers("tx-7a")[-1]
        assert chal.status == 407
        params = parse_challenge(chal.headers.get("Proxy-Authenticate") or "")
        assert params is not None
        value = build_authorization(params, "alice", "alicepw", "INVITE",
                                    "sip:6002@127.0.0.1:5060")
        authed = phone_invite("6002", user="7001", call_id="c7", cseq=2, port=40007,
                              extra=f"Proxy-Authorization: {value}\r\n")
        pbx.calls.on_invite(authed, "tx-7b", a7)
        await until(lambda: any(c.name.startswith("PJSIP/7001") for c in
                                pbx.calls.channels.values()))
        assert [r.status for r in core.answers("tx-7b") if r.status >= 300] == []


async def test_pjsip_trunk_call_out_uses_its_static_contact(tmp_path: Path) -> None:
    async with make_pbx(tmp_path, pjsip=True) as pbx:
        core = pbx.core
        data = DIALPLAN.replace("Dial(SIP/${EXTEN:1}@provider,5)",
                                "Dial(PJSIP/${EXTEN:1}@carrier,5)")
        assert data != DIALPLAN
        (tmp_path / "extensions.conf").write_text(data)
        pbx.calls.reload(load_config(tmp_path), pbx.auth)
        pbx.calls.on_invite(phone_invite("82565550123"), "tx-a", PHONE)
        sent = (await until(lambda: core.sent("INVITE")))[0]
        assert sent.dest == Address("udp", "127.0.0.3", 5070)
        assert str(sent.request.uri) == "sip:2565550123@127.0.0.3:5070"
        assert sent.request.from_addr.uri.user == "office"
        assert pbx.leg("PJSIP/carrier")


# ------------------------------------------------------------------------- NAT


async def test_external_address_for_peers_outside_localnet(tmp_path: Path) -> None:
    # The fake core sends nothing: a provider outside localnet can have a real address.
    nat = "externaddr=203.0.113.5\nlocalnet=192.168.0.0/16"
    async with make_pbx(tmp_path, general=nat, provider_host="198.51.100.10") as pbx:
        core = pbx.core
        pbx.calls.on_invite(phone_invite("92565550123"), "tx-a", PHONE)
        far = Address("udp", "198.51.100.10", 5070)
        sent = (await until(lambda: core.sent("INVITE", far)))[0]
        req = sent.request
        assert req.top_via.host == "203.0.113.5" and req.top_via.port == 5060
        assert "@203.0.113.5:5060" in (req.headers.get("Contact") or "")
        sdp = parse_sdp(req.body)
        assert sdp.connection is not None and sdp.connection.address == "203.0.113.5"
        # The phone (inside localnet) sees the PBX's own address.
        sent.callback(reply(sent, 200, body=SDP))
        ok = (await until(lambda: [r for r in core.answers("tx-a") if r.status == 200]))[0]
        assert "@127.0.0.1:5060" in (ok.headers.get("Contact") or "")
        answer = parse_sdp(ok.body)
        assert answer.connection is not None and answer.connection.address == "127.0.0.1"


@pytest.mark.parametrize("phone_nat,dest", [
    ("", Address("udp", "127.0.0.1", 40002)),  # chan_sip default force_rport: the source
    ("nat=no", Address("udp", "10.0.0.5", 5060)),  # the registered Contact
])
async def test_a_phone_behind_nat(tmp_path: Path, phone_nat: str, dest: Address) -> None:
    async with make_pbx(tmp_path, phone_nat=phone_nat) as pbx:
        core = pbx.core
        pbx.register("6002", "sip:6002@10.0.0.5:5060", Address("udp", "127.0.0.1", 40002))
        pbx.calls.on_invite(phone_invite("6002"), "tx-a", PHONE)
        sent = (await until(lambda: core.sent("INVITE")))[0]
        assert sent.dest == dest
        assert str(sent.request.uri) == "sip:6002@10.0.0.5:5060"
        leg = pbx.leg("SIP/6002")
        assert leg.media.symmetric is False  # nat=comedia is not set


async def test_line_token_names_the_trunk_whatever_the_address(tmp_path: Path) -> None:
    async with make_pbx(tmp_path) as pbx:
        core = pbx.core
        pbx.calls.line_endpoint = {"tok3n": "provider"}.get
        b = Address("udp", "127.0.0.1", 40002)
        pbx.register("6002", "sip:6002@127.0.0.1:40002", b)
        elsewhere = Address("udp", "127.0.0.7", 5080)  # not the provider's host
        def with_line(req: Request, token: str) -> Request:
            data = req.to_bytes().replace(b"@127.0.0.1:5060 SIP/2.0",
                                          f"@127.0.0.1:5060;line={token} SIP/2.0".encode(), 1)
            out = parse_message(data)
            assert isinstance(out, Request) and out.uri.params["line"] == token
            return out

        invite = with_line(phone_invite("5000", user="2565550123", host="127.0.0.7",
                                        port=5080), "tok3n")
        pbx.calls.on_invite(invite, "tx-l", elsewhere)
        await until(lambda: core.sent("INVITE", b))
        assert pbx.leg("SIP/provider").context == "from-provider"
        # A wrong token is a stranger: challenged.
        pbx.calls.on_invite(with_line(phone_invite("5000", user="2565550123", call_id="c9",
                                                   host="127.0.0.7", port=5080), "other"),
                            "tx-m", elsewhere)
        assert [r.status for r in core.answers("tx-m")] == [407]


def test_caller_id_from_a_tel_pai_or_rpid() -> None:
    from pbx.config import Peer
    from pbx.identify import caller_id

    trunk = Peer(name="t", trust_id_inbound=True)
    pai = phone_invite("5000", user="anonymous",
                       extra='P-Asserted-Identity: <tel:+12565550123>, "X" <sip:1@h>\r\n')
    assert (caller_id(pai, trunk).num, caller_id(pai, trunk).name) == ("+12565550123", "")
    rpid = phone_invite("5000", user="anonymous",
                        extra='Remote-Party-ID: "Jo" <sip:555@h>;party=calling\r\n')
    assert (caller_id(rpid, trunk).num, caller_id(rpid, trunk).name) == ("555", "Jo")
    junk = phone_invite("5000", user="anonymous", extra="P-Asserted-Identity: <<<\r\n")
    assert caller_id(junk, trunk).num == "anonymous"  # a malformed PAI: the From
