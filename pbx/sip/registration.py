"""Outbound registration (RFC 3261 sec. 10.2): the PBX as a client of a provider, sans-I/O.

A :class:`RegistrationClient` keeps one address of record registered: it
builds each REGISTER, answers a 401/407 challenge once (MD5, SHA-256, qop
auth; pbx/sip/auth.py), follows the Expires the registrar grants (a Contact's
``expires`` first, then the Expires header), refreshes before it runs out,
honours 423 Min-Expires and Retry-After, retries after failures and
unregisters (``Expires: 0``) when stopped. Like the transaction layer it
reads no clock and owns no socket: every entry point takes ``now`` and
returns actions, and its one timer is an entry on a shared
:class:`~pbx.sip.timers.TimerHeap` that :class:`RegistrationSet` drives.

Failure policy follows Asterisk's res_pjsip_outbound_registration:

* temporary answers (408 or no answer, 500, 502, 503, 504, 6xx; a transport
  error) are retried every ``retry_interval`` seconds (or after Retry-After)
  until ``max_retries`` retries have failed (None: forever), then Rejected;
* 403 is retried after ``forbidden_retry_interval`` when that is set, any
  other final failure after ``fatal_retry_interval``; otherwise Rejected, for
  good (until the configuration is reloaded or the PBX restarts);
* a challenge to a REGISTER that already carried credentials (not
  ``stale=true``) means the provider refused them: Rejected, permanent when
  ``auth_rejection_permanent`` (the default) else retried as temporary;
* a challenge the PBX cannot answer (no credentials, another realm, an
  algorithm or qop it lacks) is "No Authentication".

States are chan_sip's words, which `pbx registry` shows: Unregistered,
Request Sent, Registered, Rejected, No Authentication.
"""

from __future__ import annotations

import enum
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from pbx.sip.address import Address
from pbx.sip.auth import build_authorization, choose_challenge
from pbx.sip.headers import Headers
from pbx.sip.message import Request, Response
from pbx.sip.timers import TimerHandle, TimerHeap
from pbx.sip.transaction import new_branch
from pbx.sip.uri import UriError, parse_uri

__all__ = [
    "RegState",
    "RegistrationClient",
    "RegistrationSet",
    "RegistrationSpec",
    "SendRegister",
    "StateChanged",
    "Stopped",
    "refresh_delay",
]

_TEMPORARY = frozenset({408, 500, 502, 503, 504})
_MAX_STALE = 2  # stale=true re-challenges answered in a row before giving up
_MAX_423 = 3  # Interval Too Brief rounds per attempt


class RegState(enum.StrEnum):
    UNREGISTERED = "Unregistered"
    REQUEST_SENT = "Request Sent"
    REGISTERED = "Registered"
    REJECTED = "Rejected"
    NO_AUTHENTICATION = "No Authentication"


class Credentials(Protocol):
    username: str
    password: str

    def answers(self, realm: str) -> bool: ...


class RegistrationSpec(Protocol):
    """What a client needs of its configuration (pbx.sip_model.Registration has it)."""

    name: str
    server_uri: str
    client_uri: str
    contact_user: str
    auth: Credentials | None
    expiration: int
    retry_interval: int
    forbidden_retry_interval: int
    fatal_retry_interval: int
    max_retries: int | None
    auth_rejection_permanent: bool
    line: bool


# --------------------------------------------------------------------- actions


@dataclass(slots=True)
class SendRegister:
    """Send ``request`` in a new client transaction; report its final response
    with :meth:`RegistrationClient.on_response`, a timeout or transport error
    with :meth:`RegistrationClient.on_failure`."""

    client: RegistrationClient
    request: Request


@dataclass(slots=True)
class StateChanged:
    client: RegistrationClient
    state: RegState
    reason: str | None


@dataclass(slots=True)
class Stopped:
    """:meth:`RegistrationClient.stop` is complete (unregistered, or nothing to undo)."""

    client: RegistrationClient


Action = SendRegister | StateChanged | Stopped


def refresh_delay(granted: float) -> float:
    """Seconds after a 200 OK to refresh a registration granted for ``granted`` seconds.

    As chan_sip: 15 s early for a grant above 30 s, else at 80 %, so a short
    grant is not refreshed in a tight loop and a long one not cut close.
    """
    if granted > 30:
        return granted - 15
    return max(0.5, granted * 0.8)


# ---------------------------------------------------------------------- client


class RegistrationClient:
    """One outbound registration."""

    def __init__(self, spec: RegistrationSpec, local: Address, timers: TimerHeap, *,
                 user_agent: str | None = None, contact_host: str | None = None,
                 timer_owner: Any = None) -> None:
        self.spec = spec
        self.local = local
        self.timers = timers
        # Heap entries name the edge object that fires them (timer_owner.on_timer(kind,
        # now), as on the SIP core's shared heap), or this client when it has its own.
        self.timer_owner = self if timer_owner is None else timer_owner
        self.user_agent = user_agent
        # What the provider sees as our address (NAT: externaddr); Via stays local.
        self.contact_host = contact_host
        self.call_id = f"{secrets.token_hex(10)}@{local.host}"
        self.from_tag = secrets.token_hex(5)
        self.line_token = secrets.token_hex(4) if spec.line else None
        self.cseq = 0
        self.state = RegState.UNREGISTERED
        self.last_error: str | None = None
        self.expires_at: float | None = None  # when the binding runs out (registered)
        self.granted: int | None = None
        self.next_attempt: float | None = None  # when the next REGISTER goes out
        self.retries = 0
        self.permanent = False  # gave up: no further attempt until restart/reload
        self.stopping = False
        self.registered_at: float | None = None
        self._expires = spec.expiration  # what we ask for (423 raises it)
        self._timer: TimerHandle | None = None
        self._pending = 0  # CSeq of the REGISTER in flight; 0: none
        self._authed = False  # the request in flight carried credentials
        self._stale_rounds = 0
        self._brief_rounds = 0
        self._stopped_reported = False

    def __repr__(self) -> str:
        return f"<RegistrationClient {self.spec.name} {self.state}>"

    @property
    def stop_pending(self) -> bool:
        """stop() was called and Stopped is not reported yet."""
        return self.stopping and not self._stopped_reported

    # --- inputs ----------------------------------------------------------------
    def start(self, now: float) -> list[Action]:
        """Register now."""
        return self._attempt(now)

    def on_timer(self, now: float, kind: str = "register") -> list[Action]:
        self._timer = None
        if self.stopping or self.permanent:
            return []
        return self._attempt(now)

    def on_response(self, response: Response, now: float) -> list[Action]:
        """A response to a REGISTER this client sent (provisional ones are ignored)."""
        code = response.status
        if code < 200:
            return []
        try:
            cseq = response.cseq[0]
        except Exception:
            return []
        if cseq != self._pending:
            return []  # an answer to a request we already gave up on
        self._pending = 0
        authed, self._authed = self._authed, False
        if 200 <= code < 300:
            return self._on_success(response, now)
        if code in (401, 407):
            return self._on_challenge(response, now, authed)
        if code == 423:
            return self._on_too_brief(response, now)
        reason = f"{code} {response.reason}".strip()
        if self.stopping:
            return self._finish_stop(reason)
        retry_after = _retry_after(response)
        if retry_after is not None and code != 403:
            return self._retry(now, retry_after, reason)
        if code in _TEMPORARY or code >= 600:
            return self._retry(now, self.spec.retry_interval, reason)
        if code == 403:
            return self._retry(now, self.spec.forbidden_retry_interval, reason)
        return self._retry(now, self.spec.fatal_retry_interval, reason)

    def on_failure(self, now: float, reason: str = "no response (timeout)", *,
                   cseq: int | None = None) -> list[Action]:
        """The REGISTER in flight (``cseq``, default: whichever) timed out or could
        not be sent."""
        if not self._pending or (cseq is not None and cseq != self._pending):
            return []
        self._pending = 0
        self._authed = False
        if self.stopping:
            return self._finish_stop(reason)
        return self._retry(now, self.spec.retry_interval, reason)

    def stop(self, now: float) -> list[Action]:
        """Unregister (Expires: 0) if registered or trying; then report Stopped."""
        self.stopping = True
        self._cancel_timer()
        bound = self.expires_at is not None and self.expires_at > now
        if self.state is RegState.REGISTERED or self._pending or bound:
            return self._send(now, expires=0)
        return self._finish_stop(None)

    def disable(self, reason: str) -> list[Action]:
        """The edge cannot run this registration (e.g. no listener for its transport)."""
        return self._give_up(RegState.REJECTED, reason)

    # --- outcomes ------------------------------------------------------------
    def _on_success(self, response: Response, now: float) -> list[Action]:
        if self.stopping:
            return self._finish_stop(None)
        granted = self._granted(response)
        if granted == 0:
            # The registrar kept no binding for us: treat as a failure to retry.
            return self._retry(now, self.spec.retry_interval,
                               "200 OK without our contact")
        self.granted = granted
        self.expires_at = now + granted
        self.registered_at = now
        self.retries = 0
        self._stale_rounds = 0
        self._brief_rounds = 0
        self.last_error = None
        self._schedule(now + refresh_delay(granted))
        return self._set_state(RegState.REGISTERED, None)

    def _on_challenge(self, response: Response, now: float, authed: bool) -> list[Action]:
        code = response.status
        header = "WWW-Authenticate" if code == 401 else "Proxy-Authenticate"
        challenge = choose_challenge(response.headers.get_all(header))
        stale = challenge is not None and challenge.get("stale", "").lower() == "true"
        if authed and not stale:
            reason = f"{code} {response.reason}: the provider refused the credentials"
            if self.stopping:
                return self._finish_stop(reason)
            if self.spec.auth_rejection_permanent:
                return self._give_up(RegState.REJECTED, reason)
            return self._retry(now, self.spec.retry_interval, reason)
        if authed and stale:
            self._stale_rounds += 1
            if self._stale_rounds > _MAX_STALE:
                return self._give_up(RegState.REJECTED, f"{code}: stale nonce again and again")
        auth = self.spec.auth
        problem = None
        if challenge is None:
            problem = f"{code} without a Digest challenge this PBX can answer"
        elif auth is None:
            problem = f"{code} from realm {challenge['realm']!r} but no credentials configured"
        elif not auth.answers(challenge["realm"]):
            problem = f"{code} from realm {challenge['realm']!r}, credentials are for another"
        if problem is not None:
            if self.stopping:
                return self._finish_stop(problem)
            return self._give_up(RegState.NO_AUTHENTICATION, problem)
        assert auth is not None and challenge is not None
        value = build_authorization(challenge, auth.username, auth.password, "REGISTER",
                                    self.spec.server_uri)
        if value is None:
            problem = f"{code}: cannot compute a digest for algorithm " \
                      f"{challenge.get('algorithm', 'MD5')}"
            if self.stopping:
                return self._finish_stop(problem)
            return self._give_up(RegState.NO_AUTHENTICATION, problem)
        name = "Authorization" if code == 401 else "Proxy-Authorization"
        return self._send(now, expires=0 if self.stopping else self._expires,
                          auth=(name, value))

    def _on_too_brief(self, response: Response, now: float) -> list[Action]:
        raw = response.headers.get("Min-Expires") or ""
        minimum = int(raw) if raw.strip().isdigit() else None
        self._brief_rounds += 1
        if self.stopping:
            return self._finish_stop("423 Interval Too Brief")
        if minimum is None or minimum <= self._expires or self._brief_rounds > _MAX_423:
            return self._retry(now, self.spec.fatal_retry_interval,
                               f"423 Interval Too Brief (Min-Expires {raw or 'missing'})")
        self._expires = minimum
        return self._send(now, expires=self._expires)

    def _retry(self, now: float, interval: float, reason: str) -> list[Action]:
        """Try again after ``interval`` if retries remain, else give up (Rejected either
        way until a retry succeeds, as Asterisk shows it)."""
        limit = self.spec.max_retries
        if interval <= 0 or (limit is not None and self.retries >= limit):
            why = reason if interval <= 0 else f"{reason}; gave up after {self.retries} retries"
            return self._give_up(RegState.REJECTED, why)
        self.retries += 1
        self.last_error = reason
        self.expires_at = None if self.expires_at is None or self.expires_at <= now \
            else self.expires_at
        self._schedule(now + interval)
        return self._set_state(RegState.REJECTED, reason)

    def _give_up(self, state: RegState, reason: str) -> list[Action]:
        self.permanent = True
        self.last_error = reason
        self.expires_at = None
        self.next_attempt = None
        self._cancel_timer()
        return self._set_state(state, reason)

    def _finish_stop(self, reason: str | None) -> list[Action]:
        if reason is not None:
            self.last_error = reason
        self.expires_at = None
        self.next_attempt = None
        actions = self._set_state(RegState.UNREGISTERED, reason)
        if not self._stopped_reported:
            self._stopped_reported = True
            actions.append(Stopped(self))
        return actions

    # --- sending -------------------------------------------------------------
    def _attempt(self, now: float) -> list[Action]:
        self.next_attempt = None
        self._brief_rounds = 0
        self._stale_rounds = 0
        actions = self._send(now, expires=self._expires)
        if self.state is not RegState.REGISTERED or (self.expires_at or 0) <= now:
            actions.extend(self._set_state(RegState.REQUEST_SENT, None))
        return actions

    def _send(self, now: float, *, expires: int,
              auth: tuple[str, str] | None = None) -> list[Action]:
        self.cseq += 1
        self._pending = self.cseq
        self._authed = auth is not None
        return [SendRegister(self, self._build(expires, auth))]

    def contact_uri(self) -> str:
        local = self.local
        host = self.contact_host or _host_port(local.host, local.port)
        uri = f"sip:{self.spec.contact_user}@{host}"
        if local.transport != "udp":
            uri += f";transport={local.transport}"
        if self.line_token:
            uri += f";line={self.line_token}"
        return uri

    def _build(self, expires: int, auth: tuple[str, str] | None) -> Request:
        local = self.local
        spec = self.spec
        headers = Headers([
            ("Via", f"SIP/2.0/{local.transport.upper()} {_host_port(local.host, local.port)}"
                    f";branch={new_branch()};rport"),
            ("Max-Forwards", "70"),
            ("From", f"<{spec.client_uri}>;tag={self.from_tag}"),
            ("To", f"<{spec.client_uri}>"),
            ("Call-ID", self.call_id),
            ("CSeq", f"{self.cseq} REGISTER"),
            ("Contact", f"<{self.contact_uri()}>"),
            ("Expires", str(expires)),
        ])
        if auth is not None:
            headers.add(*auth)
        if self.user_agent:
            headers.add("User-Agent", self.user_agent)
        return Request("REGISTER", spec.server_uri, headers, b"")

    # --- helpers -------------------------------------------------------------
    def _granted(self, response: Response) -> int:
        """Seconds the registrar granted our contact (RFC 3261 10.2.4)."""
        ours = _contact_key(self.contact_uri())
        try:
            contacts = response.contacts
        except Exception:
            contacts = []
        if contacts:
            for contact in contacts:
                if _contact_key(str(contact.uri)) == ours:
                    if contact.expires is not None:
                        return contact.expires
                    break
            else:
                return 0  # the registrar lists bindings, and ours is not among them
        header = response.expires
        return header if header is not None else self._expires

    def _schedule(self, when: float) -> None:
        self._cancel_timer()
        self.next_attempt = when
        self._timer = self.timers.schedule(when, self.timer_owner, "register")

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self.timers.cancel(self._timer)
            self._timer = None

    def _set_state(self, state: RegState, reason: str | None) -> list[Action]:
        if state is self.state:
            return []
        self.state = state
        return [StateChanged(self, state, reason)]


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _contact_key(uri: str) -> tuple[str, str, int] | None:
    """user, host, port of a contact URI: how a registrar's list is matched to ours."""
    try:
        parsed = parse_uri(uri)
    except (UriError, ValueError):
        return None
    return (parsed.user or "", parsed.host.lower(), parsed.port or 5060)


def _retry_after(response: Response) -> int | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    head = value.split(";", 1)[0].split("(", 1)[0].strip()
    return int(head) if head.isdigit() and int(head) > 0 else None


# ------------------------------------------------------------------------ set


class RegistrationSet:
    """Every outbound registration of the PBX, on one timer heap.

    In the PBX the heap is the SIP core's (``timers``), and ``timer_owner(client)``
    gives the edge object each entry names. Alone (tests), the set keeps its own
    heap: the caller asks :meth:`next_deadline` and calls :meth:`timeout_due`.
    """

    def __init__(self, timers: TimerHeap | None = None,
                 timer_owner: Callable[[RegistrationClient], Any] | None = None) -> None:
        self.timers = timers if timers is not None else TimerHeap()
        self._timer_owner = timer_owner
        self.clients: dict[str, RegistrationClient] = {}

    def add(self, spec: RegistrationSpec, local: Address, *, user_agent: str | None = None,
            contact_host: str | None = None) -> RegistrationClient:
        client = RegistrationClient(spec, local, self.timers, user_agent=user_agent,
                                    contact_host=contact_host)
        if self._timer_owner is not None:
            client.timer_owner = self._timer_owner(client)
        self.clients[spec.name] = client
        return client

    def remove(self, name: str) -> RegistrationClient | None:
        client = self.clients.pop(name, None)
        if client is not None:
            client._cancel_timer()
        return client

    def next_deadline(self) -> float | None:
        return self.timers.next_deadline()

    def timeout_due(self, now: float) -> list[Action]:
        actions: list[Action] = []
        while (handle := self.timers.pop_one_due(now)) is not None:
            client = handle.owner
            if client._timer is handle:
                actions.extend(client.on_timer(now))
        return actions

    def start_all(self, now: float) -> list[Action]:
        actions: list[Action] = []
        for client in self.clients.values():
            actions.extend(client.start(now))
        return actions

    def stop_all(self, now: float, names: Iterable[str] | None = None) -> list[Action]:
        actions: list[Action] = []
        for name in list(self.clients if names is None else names):
            client = self.clients.get(name)
            if client is not None:
                actions.extend(client.stop(now))
        return actions
