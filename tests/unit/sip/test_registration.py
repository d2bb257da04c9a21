"""The outbound registration machine on a fake clock, against a registrar written
with the project's own digest verifier (pbx/sip/auth.py server side)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pbx.sip.address import Address
from pbx.sip.auth import DigestAuthenticator, parse_authorization
from pbx.sip.message import Request, Response, make_response, parse_message
from pbx.sip.registration import (
    RegistrationClient,
    RegistrationSet,
    RegState,
    SendRegister,
    StateChanged,
    Stopped,
    refresh_delay,
)
from pbx.sip.timers import TimerHeap
from pbx.sip_model import OutboundAuth, Registration

LOCAL = Address("udp", "127.0.0.1", 5060)
SPEC = Registration(name="provider", server_uri="sip:127.0.0.1:5070",
                    client_uri="sip:office@pbx.test", server_host="127.0.0.1",
                    server_port=5070, contact_user="5000",
                    auth=OutboundAuth("office", "pwoffice"), expiration=300,
                    retry_interval=30, max_retries=3)


class Registrar:
    """A provider: challenges, checks the digest, grants what it is configured to."""

    def __init__(self, *, algorithms=("MD5",), proxy: bool = False,
                 password: str = "pwoffice", realm: str = "pbx.test") -> None:
        self.auth = DigestAuthenticator(realm, b"k" * 32, lambda u: password if u == "office"
                                        else None, algorithms=algorithms)
        self.proxy = proxy

    def answer(self, req: Request, now: float, *, grant: int | None = None,
               header_expires: bool = False) -> Response:
        name = "Proxy-Authorization" if self.proxy else "Authorization"
        value = req.headers.get(name)
        if value is None:
            return self.challenge(req, now)
        result = self.auth.check(value, "REGISTER", now, uri=str(req.uri))
        if not result.ok:
            return self.challenge(req, now, stale=result.stale)
        expires = req.expires if grant is None else grant
        contact = req.headers.get("Contact")
        if header_expires:
            return make_response(req, 200, headers=[("Contact", contact),
                                                    ("Expires", str(expires))])
        return make_response(req, 200, headers=[("Contact", f"{contact};expires={expires}")])

    def challenge(self, req: Request, now: float, stale: bool = False) -> Response:
        header = "Proxy-Authenticate" if self.proxy else "WWW-Authenticate"
        code = 407 if self.proxy else 401
        return make_response(req, code, headers=[(header, v)
                                                 for v in self.auth.challenge(now, stale)])


def sent(actions: list) -> Request:
    sends = [a for a in actions if isinstance(a, SendRegister)]
    assert len(sends) == 1, actions
    # Through bytes and back: what goes on the wire parses.
    return parse_message(sends[0].request.to_bytes())


def states(actions: list) -> list[RegState]:
    return [a.state for a in actions if isinstance(a, StateChanged)]


def make(spec: Registration = SPEC) -> tuple[RegistrationClient, TimerHeap]:
    heap = TimerHeap()
    return RegistrationClient(spec, LOCAL, heap, user_agent="PBX-test"), heap


def register(client: RegistrationClient, provider: Registrar, now: float, **grant) -> list:
    """Drive one whole attempt (challenge and answer); return the last actions."""
    actions = client.start(now) if client.cseq == 0 else client.on_timer(now)
    while True:
        req = sent(actions)
        actions = client.on_response(provider.answer(req, now, **grant), now)
        if not any(isinstance(a, SendRegister) for a in actions):
            return actions


def fire(heap: TimerHeap, client: RegistrationClient, now: float) -> list:
    due = heap.pop_due(now)
    assert due and due[0].owner is client
    return client.on_timer(now)


def test_401_md5_registers_and_refreshes_before_expiry() -> None:
    client, heap = make()
    provider = Registrar()
    first = client.start(0.0)
    assert states(first) == [RegState.REQUEST_SENT]
    req = sent(first)
    assert str(req.uri) == "sip:127.0.0.1:5070"
    assert req.headers.get("Contact") == "<sip:5000@127.0.0.1:5060>"
    assert req.expires == 300 and req.headers.get("Authorization") is None
    challenge = provider.answer(req, 0.0)
    assert challenge.status == 401
    actions = client.on_response(challenge, 0.0)
    answer = sent(actions)
    creds = parse_authorization(answer.headers.get("Authorization"))
    assert creds is not None and creds.username == "office" and creds.realm == "pbx.test"
    assert answer.cseq[0] == req.cseq[0] + 1 and answer.call_id == req.call_id
    assert answer.top_via.branch != req.top_via.branch
    ok = provider.answer(answer, 0.0)
    assert ok.status == 200
    assert states(client.on_response(ok, 0.0)) == [RegState.REGISTERED]
    assert client.granted == 300 and client.expires_at == 300.0
    assert heap.next_deadline() == refresh_delay(300) == 285.0
    assert heap.pop_due(284.9) == []
    refresh = sent(fire(heap, client, 285.0))
    assert refresh.call_id == req.call_id and refresh.cseq[0] == answer.cseq[0] + 1
    assert client.state is RegState.REGISTERED  # still bound while the refresh is out


def test_407_sha256_with_qop() -> None:
    client, _ = make()
    provider = Registrar(algorithms=("SHA-256", "MD5"), proxy=True)
    req = sent(client.start(0.0))
    challenge = provider.answer(req, 0.0)
    assert challenge.status == 407 and len(challenge.headers.get_all("Proxy-Authenticate")) == 2
    answer = sent(client.on_response(challenge, 0.0))
    assert answer.headers.get("Authorization") is None
    creds = parse_authorization(answer.headers.get("Proxy-Authorization"))
    assert creds is not None
    assert (creds.algorithm, creds.qop, creds.nc) == ("SHA-256", "auth", "00000001")
    assert states(client.on_response(provider.answer(answer, 0.0), 0.0)) == \
        [RegState.REGISTERED]


def test_md5_without_qop_rfc2069() -> None:
    client, _ = make()
    req = sent(client.start(0.0))
    challenge = make_response(req, 401, headers=[
        ("WWW-Authenticate", 'Digest realm="pbx.test", nonce="abc123", algorithm=MD5')])
    answer = sent(client.on_response(challenge, 0.0))
    creds = parse_authorization(answer.headers.get("Authorization"))
    assert creds is not None and creds.qop is None and creds.nonce == "abc123"
    from pbx.sip.auth import verify_response
    assert verify_response(creds, "REGISTER", "pwoffice")


def test_wrong_password_is_rejected_for_good() -> None:
    client, heap = make()
    provider = Registrar(password="something-else")
    actions = register(client, provider, 0.0)
    assert states(actions) == [RegState.REJECTED]
    assert client.permanent and "refused the credentials" in (client.last_error or "")
    assert heap.next_deadline() is None


def test_wrong_password_retried_when_not_permanent() -> None:
    client, heap = make(replace(SPEC, auth_rejection_permanent=False))
    register(client, Registrar(password="x"), 0.0)
    assert client.state is RegState.REJECTED and not client.permanent
    assert heap.next_deadline() == 30.0


def test_no_credentials_or_other_realm_is_no_authentication() -> None:
    for auth in (None, OutboundAuth("office", "pwoffice", realm="elsewhere")):
        client, heap = make(replace(SPEC, auth=auth))
        actions = register(client, Registrar(), 0.0)
        assert states(actions) == [RegState.NO_AUTHENTICATION]
        assert "realm 'pbx.test'" in (client.last_error or "")
        assert heap.next_deadline() is None


def test_unanswerable_algorithm_is_no_authentication() -> None:
    client, _ = make()
    req = sent(client.start(0.0))
    challenge = make_response(req, 401, headers=[
        ("WWW-Authenticate", 'Digest realm="pbx.test", nonce="n", algorithm=SHA-512-256')])
    assert states(client.on_response(challenge, 0.0)) == [RegState.NO_AUTHENTICATION]


def test_stale_nonce_is_answered_again() -> None:
    client, _ = make()
    provider = Registrar()
    req = sent(client.start(0.0))
    answer = sent(client.on_response(provider.answer(req, 0.0), 0.0))
    # the provider restarted meanwhile: same digest, new nonce, stale=true
    stale = provider.challenge(answer, 1.0, stale=True)
    again = sent(client.on_response(stale, 1.0))
    assert states(client.on_response(provider.answer(again, 1.0), 1.0)) == \
        [RegState.REGISTERED]


def test_423_min_expires_is_honoured() -> None:
    client, heap = make(replace(SPEC, expiration=60))
    provider = Registrar()
    req = sent(client.start(0.0))
    too_brief = make_response(req, 423, headers=[("Min-Expires", "600")])
    retry = sent(client.on_response(too_brief, 0.0))
    assert retry.expires == 600
    answer = sent(client.on_response(provider.answer(retry, 0.0), 0.0))
    assert answer.expires == 600
    client.on_response(provider.answer(answer, 0.0), 0.0)
    assert client.state is RegState.REGISTERED and client.granted == 600
    # the refresh keeps asking for 600
    assert sent(fire(heap, client, heap.next_deadline())).expires == 600


def test_423_without_a_larger_minimum_gives_up() -> None:
    client, _ = make()
    req = sent(client.start(0.0))
    actions = client.on_response(make_response(req, 423, headers=[("Min-Expires", "10")]), 0.0)
    assert states(actions) == [RegState.REJECTED] and client.permanent


def test_provider_expires_is_followed() -> None:
    # a shorter grant in the Contact, and in the Expires header only
    for kwargs, granted in (({"grant": 120}, 120), ({"grant": 20, "header_expires": True}, 20)):
        client, heap = make()
        register(client, Registrar(), 10.0, **kwargs)
        assert client.state is RegState.REGISTERED and client.granted == granted
        assert heap.next_deadline() == 10.0 + refresh_delay(granted)
    assert refresh_delay(20) == 16.0 and refresh_delay(120) == 105.0


def test_200_listing_other_contacts_only_is_a_failure() -> None:
    client, heap = make()
    req = sent(client.start(0.0))
    ok = make_response(req, 200, headers=[("Contact", "<sip:other@10.0.0.1>;expires=300")])
    assert states(client.on_response(ok, 0.0)) == [RegState.REJECTED]
    assert heap.next_deadline() == 30.0


def test_timeouts_retry_every_retry_interval_then_give_up() -> None:
    client, heap = make()
    now = 0.0
    sent(client.start(now))
    for attempt in range(1, 4):
        actions = client.on_failure(now + 32)
        assert client.state is RegState.REJECTED and client.retries == attempt
        now = heap.next_deadline()
        assert now == pytest.approx(32 * attempt + 30 * attempt)
        assert "timeout" in (client.last_error or "")
        sent(fire(heap, client, now))
    actions = client.on_failure(now + 32)
    assert client.permanent and "gave up after 3 retries" in (client.last_error or "")
    assert heap.next_deadline() is None and states(actions) == [RegState.REJECTED]


def test_retry_forever_when_max_retries_is_none() -> None:
    client, heap = make(replace(SPEC, max_retries=None))
    sent(client.start(0.0))
    now = 0.0
    for _ in range(50):
        client.on_failure(now)
        now = heap.next_deadline()
        sent(fire(heap, client, now))
    assert not client.permanent


def test_success_resets_the_retry_count() -> None:
    client, heap = make()
    provider = Registrar()
    sent(client.start(0.0))
    client.on_failure(1.0)
    assert client.retries == 1
    register(client, provider, heap.next_deadline())
    assert client.state is RegState.REGISTERED and client.retries == 0


def test_forbidden_and_other_fatal_answers() -> None:
    client, heap = make()
    req = sent(client.start(0.0))
    client.on_response(make_response(req, 403), 0.0)
    assert client.permanent and client.state is RegState.REJECTED
    assert client.last_error == "403 Forbidden"

    client, heap = make(replace(SPEC, forbidden_retry_interval=90))
    req = sent(client.start(0.0))
    client.on_response(make_response(req, 403), 0.0)
    assert not client.permanent and heap.next_deadline() == 90.0

    client, heap = make()
    req = sent(client.start(0.0))
    client.on_response(make_response(req, 404), 0.0)
    assert client.permanent and client.last_error == "404 Not Found"

    client, heap = make(replace(SPEC, fatal_retry_interval=45))
    req = sent(client.start(0.0))
    client.on_response(make_response(req, 404), 0.0)
    assert not client.permanent and heap.next_deadline() == 45.0


def test_retry_after_and_temporary_server_errors() -> None:
    client, heap = make()
    req = sent(client.start(0.0))
    client.on_response(make_response(req, 503, headers=[("Retry-After", "7")]), 0.0)
    assert heap.next_deadline() == 7.0 and client.last_error == "503 Service Unavailable"
    req = sent(fire(heap, client, 7.0))
    client.on_response(make_response(req, 500), 7.0)
    assert heap.next_deadline() == 37.0 and not client.permanent


def test_stale_and_provisional_responses_are_ignored() -> None:
    client, _heap = make()
    provider = Registrar()
    req = sent(client.start(0.0))
    assert client.on_response(make_response(req, 100), 0.0) == []
    answer = sent(client.on_response(provider.answer(req, 0.0), 0.0))
    # a late retransmission of the first 401: its CSeq is no longer in flight
    assert client.on_response(provider.answer(req, 0.0), 0.0) == []
    assert client.on_response(provider.answer(answer, 0.0), 0.0)
    assert client.state is RegState.REGISTERED


def test_stop_unregisters_with_expires_0_through_a_challenge() -> None:
    client, heap = make()
    provider = Registrar()
    register(client, provider, 0.0)
    bye = sent(client.stop(5.0))
    assert bye.expires == 0 and bye.headers.get("Contact") == "<sip:5000@127.0.0.1:5060>"
    assert heap.next_deadline() is None  # no refresh after stop
    answer = sent(client.on_response(provider.answer(bye, 5.0), 5.0))
    assert answer.expires == 0 and answer.headers.get("Authorization")
    actions = client.on_response(provider.answer(answer, 5.0), 5.0)
    assert states(actions) == [RegState.UNREGISTERED]
    assert [type(a) for a in actions if isinstance(a, Stopped)] == [Stopped]
    assert client.expires_at is None


def test_stop_when_not_registered_is_immediate() -> None:
    client, _ = make()
    actions = client.stop(0.0)
    assert [a for a in actions if isinstance(a, Stopped)]
    assert not [a for a in actions if isinstance(a, SendRegister)]


def test_stop_gives_up_on_timeout() -> None:
    client, _ = make()
    register(client, Registrar(), 0.0)
    sent(client.stop(1.0))
    actions = client.on_failure(33.0)
    assert [a for a in actions if isinstance(a, Stopped)]
    assert client.state is RegState.UNREGISTERED


def test_contact_carries_transport_line_and_external_address() -> None:
    heap = TimerHeap()
    tcp = Address("tcp", "127.0.0.1", 5080)
    client = RegistrationClient(replace(SPEC, line=True), tcp, heap,
                                contact_host="203.0.113.5:5080")
    req = sent(client.start(0.0))
    assert req.top_via.transport.upper() == "TCP" and req.top_via.host == "127.0.0.1"
    contact = req.contacts[0].uri
    assert contact.host == "203.0.113.5" and contact.params["transport"] == "tcp"
    assert contact.params["line"] == client.line_token and len(client.line_token or "") == 8
    assert req.headers.get("User-Agent") is None


def test_registration_set_drives_every_client_on_one_heap() -> None:
    regs = RegistrationSet()
    provider = Registrar()
    for i, expires in enumerate((100, 200)):
        regs.add(replace(SPEC, name=f"r{i}", expiration=expires), LOCAL)
    actions = regs.start_all(0.0)
    assert len([a for a in actions if isinstance(a, SendRegister)]) == 2
    for client in regs.clients.values():
        register_rest(client, provider, actions, 0.0)
    assert regs.next_deadline() == 85.0
    due = regs.timeout_due(85.0)
    assert [a.client.spec.name for a in due if isinstance(a, SendRegister)] == ["r0"]
    assert regs.next_deadline() == 185.0
    gone = regs.remove("r1")
    assert gone is not None and regs.next_deadline() is None
    stop = regs.stop_all(90.0)
    assert [a.client.spec.name for a in stop if isinstance(a, SendRegister)] == ["r0"]


def register_rest(client: RegistrationClient, provider: Registrar, actions: list,
                  now: float) -> None:
    req = next(parse_message(a.request.to_bytes()) for a in actions
               if isinstance(a, SendRegister) and a.client is client)
    while True:
        out = client.on_response(provider.answer(req, now), now)
        sends = [a for a in out if isinstance(a, SendRegister)]
        if not sends:
            return
        req = parse_message(sends[0].request.to_bytes())
