"""Security wired into a running PBX: ban list, guard, auth watch, security log.

The server creates one, gives ``guard`` to the transports as their sink and
gate, and calls :meth:`configure` on reload. Bans start and end here: each is
logged, and a banned source's TCP connections are closed at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from pbx.security.authwatch import AuthWatch
from pbx.security.banlist import BanEvent, BanList, source_key
from pbx.security.guard import SipGuard
from pbx.security.seclog import SecurityLog, attach_log_file

__all__ = ["SecurityService"]

HOUSEKEEPING_INTERVAL = 5.0


class SecurityService:
    def __init__(self, config: Any, core: Any, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.clock = clock
        self.seclog = SecurityLog()
        security = config.settings.security
        self.bans = BanList(security.ban, config.trusted, self._on_ban_event)
        self.guard = SipGuard(core, self.bans, send=core.send_bytes, clock=clock,
                              limits=security.limits, access=config.sip.general.acls,
                              server_header=core.user_agent)
        self.watch = AuthWatch(self.bans, self.seclog, peer=self._peer,
                               local_for=lambda src: core.local_address(
                                   src.transport, 6 if ":" in src.host else 4),
                               clock=clock)
        self.watch.any_peer_acl = _any_peer_acl(config)
        core.request_filter = self.watch.check_request
        core.response_observer = self.watch.on_final_response
        self.stream_transports: list[Any] = []  # have close_source(matches)
        self._timer: asyncio.TimerHandle | None = None
        self._log_handler: Any = None

    def start(self) -> None:
        log_file = self.config.settings.security.log_file
        if log_file is not None and self._log_handler is None:
            self._log_handler = attach_log_file(log_file)
        self._timer = asyncio.get_running_loop().call_later(HOUSEKEEPING_INTERVAL,
                                                             self._housekeeping)

    def configure(self, config: Any) -> None:
        """A reload: thresholds, trusted networks, limits, ACLs; bans in force stay."""
        self.config = config
        security = config.settings.security
        self.bans.configure(security.ban, config.trusted)
        self.guard.configure(security.limits, config.sip.general.acls,
                             self.guard.server_header)
        self.watch.any_peer_acl = _any_peer_acl(config)
        for transport in self.stream_transports:
            transport.limits = security.limits

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._log_handler is not None:
            logging.getLogger(self.seclog.logger.name).removeHandler(self._log_handler)
            self._log_handler.close()
            self._log_handler = None

    # --- bans -------------------------------------------------------------------------
    def ban_rows(self) -> list[dict]:
        """For `pbx bans`: what is banned, why, for how long still."""
        now = self.clock()
        return [{"source": b.source, "reason": b.reason, "count": b.count,
                 "remaining": max(0, round(b.until - now)), "dropped": b.dropped,
                 "since": round(time.time() - (now - b.since))}
                for b in self.bans.bans(now)]

    def lift(self, source: str) -> int:
        """Lift one ban (`all`: every ban); how many were lifted."""
        if source == "all":
            return self.bans.lift_all()
        return 1 if self.bans.lift(source) else 0

    def _on_ban_event(self, event: BanEvent) -> None:
        self.seclog.ban(event.kind, event.ban)
        if event.kind == "banned":
            banned = event.ban.source
            for transport in self.stream_transports:
                transport.close_source(lambda host: source_key(host) == banned)

    def _peer(self, name: str) -> Any:
        return self.config.sip.peers.get(name)

    def _housekeeping(self) -> None:
        self.guard.housekeeping(self.clock())
        self._timer = asyncio.get_running_loop().call_later(HOUSEKEEPING_INTERVAL,
                                                             self._housekeeping)


def _any_peer_acl(config: Any) -> bool:
    return any(peer.acls for peer in config.sip.peers.values())
