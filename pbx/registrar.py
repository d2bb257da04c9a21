"""REGISTER handling (RFC 3261 sec. 10.3) with digest authentication.

No I/O: `handle` takes the request, where it came from and the time, and
returns the response to send. Bindings go to the Location service.
"""

from __future__ import annotations

import email.utils
import logging
from collections.abc import Callable
from dataclasses import dataclass

from pbx.config import Config, Peer
from pbx.location import Binding, Location
from pbx.sip.auth import DigestAuthenticator
from pbx.sip.message import Request, Response, make_response
from pbx.sip.uri import NameAddr

log = logging.getLogger("pbx.registrar")


@dataclass(slots=True)
class Source:
    """Where a message came from (for NAT: requests go back there)."""

    transport: str
    host: str
    port: int


class Registrar:
    """Binds registered contacts to peers of sip.conf."""

    def __init__(self, config: Config, location: Location, auth: DigestAuthenticator,
                 on_change: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.location = location
        self.auth = auth
        self.on_change = on_change  # called with the AOR when its bindings change

    def reload(self, config: Config) -> None:
        self.config = config

    def _peer(self, name: str) -> Peer | None:
        """The peer a REGISTER's To user binds to (a pjsip endpoint by one of its aors);
        None when there is none or it takes no registrations (host=, max_contacts=0)."""
        peer = self.config.sip.peer_for_aor(name)
        if peer is None or not peer.dynamic or peer.max_contacts < 1:
            return None
        return peer

    def handle(self, req: Request, source: Source, now: float, wall: float) -> Response:
        """Answer one REGISTER (`now` monotonic for nonces, `wall` for expiry)."""
        try:
            to = req.to_addr
        except Exception:
            return make_response(req, 400, "Bad Request - Malformed To")
        if to.uri.scheme not in ("sip", "sips"):
            return make_response(req, 400, "Bad Request - To must be a SIP URI")
        aor = to.uri.user or ""
        peer = self._peer(aor)
        try:
            req.contacts  # noqa: B018 - a malformed Contact is a 400 before any challenge
        except Exception as exc:
            return make_response(req, 400, f"Bad Request - {getattr(exc, 'reason', exc)}")

        # Unknown users get the same challenge and the same final answer as a
        # wrong password: nothing here tells an attacker which names exist.
        if peer is not None and not peer.authenticates:
            # Asterisk lets a peer without secret register unchallenged
            # (`pbx check` warns about such peers).
            return self._bind(req, peer, source, wall)
        authorization = req.headers.get("Authorization")
        if authorization is None:
            return self._challenge(req, now, stale=False)
        result = self.auth.check(authorization, "REGISTER", now)
        if result.challenge_again:
            return self._challenge(req, now, stale=result.stale)
        # The digest username must be this peer's (pjsip: its auth's username=,
        # which may differ from the aor in To; sip.conf: the peer name).
        if (not result.ok or peer is None
                or self.config.sip.peer_by_auth_user(result.username or "") is not peer):
            log.info("REGISTER for %r from %s:%s refused: %s", aor, source.host, source.port,
                     result.reason if not result.ok else "username does not match To")
            return make_response(req, 403, "Forbidden")

        return self._bind(req, peer, source, wall)

    def _challenge(self, req: Request, now: float, *, stale: bool) -> Response:
        headers = [("WWW-Authenticate", value) for value in self.auth.challenge(now, stale=stale)]
        return make_response(req, 401, "Unauthorized", headers=headers)

    def _bind(self, req: Request, peer: Peer, source: Source, wall: float) -> Response:
        general = self.config.sip.general
        header_expires = req.expires
        changed = False
        if req.contact_star:
            if header_expires != 0 or len(req.contacts) > 0:
                return make_response(req, 400, "Bad Request - Contact: * needs Expires: 0")
            changed = bool(self.location.lookup(peer.name, wall))
            self.location.remove_all(peer.name)
        else:
            contacts = req.contacts
            wanted: list[tuple[NameAddr, str, int]] = []
            for contact in contacts:
                expires = _contact_expires(contact, header_expires, general.defaultexpiry)
                if 0 < expires < general.minexpiry:
                    return make_response(req, 423, "Interval Too Brief",
                                         headers=[("Min-Expires", str(general.minexpiry))])
                wanted.append((contact, str(contact.uri), min(expires, general.maxexpiry)))
            call_id = req.call_id
            cseq = req.cseq[0]
            user_agent = req.headers.get("User-Agent") or ""
            current = self.location.lookup(peer.name, wall)
            existing = {b.contact for b in current}
            adding = {uri for _, uri, e in wanted if e > 0} - existing
            removing = {uri for _, uri, e in wanted if e == 0} & existing
            over = len(existing) - len(removing) + len(adding) - peer.max_contacts
            if over > 0:
                if not peer.remove_existing or len(adding) > peer.max_contacts:
                    return make_response(req, 403, "Forbidden - Too Many Contacts")
                # pjsip remove_existing: the contacts closest to expiring make room.
                keep = {uri for _, uri, _e in wanted}
                for old_binding in sorted(current, key=lambda b: b.expires_at):
                    if over <= 0:
                        break
                    if old_binding.contact not in keep:
                        self.location.remove(peer.name, old_binding.contact)
                        changed = True
                        over -= 1
            for contact, uri, expires in wanted:
                if expires == 0:
                    if self.location.get(peer.name, uri) is not None:
                        self.location.remove(peer.name, uri)
                        changed = True
                    continue
                old = self.location.get(peer.name, uri)
                if old is not None and old.call_id == call_id and old.cseq >= cseq:
                    # RFC 3261 10.3 step 7: an out-of-order REGISTER changes nothing.
                    continue
                params = ";".join(f"{k}={v}" if v is not None else k
                                  for k, v in contact.params.items()
                                  if k not in ("expires", "q"))
                self.location.put(Binding(
                    aor=peer.name, contact=uri, expires_at=wall + expires, call_id=call_id,
                    cseq=cseq, q=contact.params.get("q"), params=params,
                    transport=source.transport, source_host=source.host,
                    source_port=source.port, user_agent=user_agent,
                    registered_at=wall,
                    reachable=old.reachable if old else None,
                    rtt_ms=old.rtt_ms if old else None))
                changed = changed or old is None
        if changed and self.on_change is not None:
            self.on_change(peer.name)
        return self._ok(req, peer, wall)

    def _ok(self, req: Request, peer: Peer, wall: float) -> Response:
        headers = []
        for b in self.location.lookup(peer.name, wall):
            value = f"<{b.contact}>;expires={b.remaining(wall)}"
            if b.q is not None:
                value += f";q={b.q}"
            if b.params:
                value += f";{b.params}"
            headers.append(("Contact", value))
        headers.append(("Date", _http_date(wall)))
        return make_response(req, 200, "OK", headers=headers)


_last_date: tuple[int, str] = (-1, "")


def _http_date(wall: float) -> str:
    """RFC 1123 date of ``wall``, formatted once per second (every 200 OK carries one)."""
    global _last_date
    second = int(wall)
    if _last_date[0] != second:
        _last_date = (second, email.utils.formatdate(second, usegmt=True))
    return _last_date[1]


def _contact_expires(contact: NameAddr, header_expires: int | None, default: int) -> int:
    raw = contact.params.get("expires")
    if raw is not None:
        try:
            return max(0, int(raw))
        except ValueError:
            pass  # RFC 3261 10.3: a malformed value is treated as the default
    if header_expires is not None:
        return max(0, header_expires)
    return default
