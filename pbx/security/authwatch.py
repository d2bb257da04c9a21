"""Failed authentications and per-peer ACLs, seen from the SIP core.

The registrar, the calls code and MWI each answer bad credentials with 403
(alwaysauthreject: the same answer for an unknown user and a wrong password).
Rather than have each of them report it, the SIP core shows this watcher every
final response it sends: a 403 to a request carrying Authorization or
Proxy-Authorization is a failed authentication (a 401/407 re-challenge is not:
a stale or pre-restart nonce says nothing about the password). Each one is a
security log line and counts towards a ban of its source.

It also screens requests before their handler: a peer's `permit`/`deny`/`acl`
(sip.conf) refuses REGISTER, INVITE, SUBSCRIBE... naming that peer from other
addresses with 403, logged as FailedACL and counted as a failed authentication.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pbx.security.acl import allowed_by_all
from pbx.security.banlist import BanList
from pbx.security.seclog import SecurityLog
from pbx.sip.address import Address
from pbx.sip.auth import parse_authorization
from pbx.sip.message import Request, Response, make_response

__all__ = ["AuthWatch"]

# Requests that start something as a peer (in-dialog requests follow their dialog).
_SCREENED = frozenset({"REGISTER", "INVITE", "SUBSCRIBE", "MESSAGE", "OPTIONS", "REFER",
                       "PUBLISH"})


class AuthWatch:
    """The SIP core's request filter and final-response observer."""

    def __init__(self, bans: BanList, seclog: SecurityLog, *,
                 peer: Callable[[str], Any], local_for: Callable[[Address], Address | None],
                 clock: Callable[[], float]) -> None:
        self.bans = bans
        self.seclog = seclog
        self.peer = peer  # name -> sip.conf Peer or None (reads the current config)
        self.local_for = local_for
        self.clock = clock
        self.any_peer_acl = False  # set by the owner at (re)configuration: skip the work
        self._refused: Request | None = None  # the request our own 403 answers
        self.failures = 0

    # --- before the handler ----------------------------------------------------------
    def check_request(self, req: Request, source: Address) -> Response | None:
        """A 403 if the peer named by the request may not be used from ``source``."""
        if not self.any_peer_acl or req.method not in _SCREENED or req.to_addr.tag:
            return None
        names = {req.to_addr.uri.user if req.method == "REGISTER" else req.from_addr.uri.user}
        creds = self._credentials(req)
        if creds is not None:
            names.add(creds)
        for name in names:
            peer = self.peer(name) if name else None
            if peer is None or not peer.acls or allowed_by_all(peer.acls, source.host):
                continue
            acl_name = ",".join(a.name or "permit/deny" for a in peer.acls)
            self.seclog.failed_acl(name, req.call_id, acl_name, source, self.local_for(source))
            self._count(source)
            self._refused = req
            return make_response(req, 403, "Forbidden")
        return None

    # --- every final response --------------------------------------------------------
    def on_final_response(self, tx: Any, response: Response) -> None:
        if response.status != 403:
            return
        req = tx.request
        if req is None or req is self._refused:
            self._refused = None
            return
        account = self._credentials(req)
        if account is None:
            return
        source = tx.peer
        self.seclog.invalid_password(account, req.call_id, req.method, source,
                                     self.local_for(source))
        self._count(source)

    def _count(self, source: Address) -> None:
        self.failures += 1
        self.bans.auth_failed(source.host, self.clock())

    @staticmethod
    def _credentials(req: Request) -> str | None:
        """The username of the request's digest credentials ('' if unreadable), or None."""
        headers = req.headers
        value = headers.first("authorization") or headers.first("proxy-authorization")
        if value is None:
            return None
        creds = parse_authorization(value)
        return creds.username if creds is not None else ""
