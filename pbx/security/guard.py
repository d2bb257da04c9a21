"""The SIP guard: between the transports and the SIP core, before any parsing.

Transports hand it every datagram and every framed TCP message (it is their
MessageSink) and ask it before keeping a new TCP connection. In order, a
message from a banned source is dropped (counted, nothing else), one from an
address sip.conf's [general] ACL denies is dropped, one over the size or header
limits gets 513 / 400 built from its first lines only, and the rest goes to the
SIP core. Everything here is a few dict lookups and byte scans in C: a flood of
banned traffic costs little more than reading it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from pbx.ratelog import RateLimitedLog
from pbx.security.acl import Acl, allowed_by_all
from pbx.security.banlist import BanList
from pbx.security.settings import InputLimits
from pbx.sip.address import Address
from pbx.sip.refusal import refusal_bytes
from pbx.transport.base import MessageSink

__all__ = ["SipGuard"]

log = logging.getLogger("pbx.security.guard")


class SipGuard:
    """MessageSink and ConnectionGate of every transport; forwards to the SIP core."""

    def __init__(self, core: MessageSink, bans: BanList, *, send: Callable[[bytes, Address], None],
                 clock: Callable[[], float], limits: InputLimits | None = None,
                 access: tuple[Acl, ...] = (), server_header: str | None = None) -> None:
        self.core = core
        self.bans = bans
        self.send = send  # how refusals go out (the core's send_bytes)
        self.clock = clock
        self.limits = limits or InputLimits()
        self.access = access
        self.server_header = server_header
        self.events = RateLimitedLog(log)
        self.stats = {"banned": 0, "denied": 0, "too_large": 0, "too_many_headers": 0,
                      "connections_refused": 0}

    def configure(self, limits: InputLimits, access: tuple[Acl, ...],
                  server_header: str | None) -> None:
        """A reload: new limits, [general] ACL and Server header."""
        self.limits, self.access, self.server_header = limits, access, server_header

    # --- MessageSink -------------------------------------------------------------
    def on_message(self, data: bytes, source: Address, local: Address) -> None:
        host = source.host
        now = self.clock()
        if not self.bans.admit(host, now):
            self.stats["banned"] += 1
            return
        if self.access and not allowed_by_all(self.access, host):
            self.stats["denied"] += 1
            self.events.log("denied", now, "dropped SIP from %s: denied by sip.conf [general] "
                            "permit/deny/acl", source)
            return
        limits = self.limits
        if len(data) > limits.max_message_size:
            self.stats["too_large"] += 1
            self._refuse(data, source, 513, "Message Too Large", now,
                         f"{len(data)} bytes > security.limits.max_message_size")
            return
        end = data.find(b"\r\n\r\n")
        if end < 0:
            end = len(data)
        if data.count(b"\n", 0, end) >= limits.max_headers:
            self.stats["too_many_headers"] += 1
            self._refuse(data, source, 400, "Bad Request - Too Many Headers", now,
                         "more header lines than security.limits.max_headers")
            return
        if end > limits.max_header_line and max(
                map(len, data[:end].split(b"\n"))) > limits.max_header_line:
            self.stats["too_many_headers"] += 1
            self._refuse(data, source, 400, "Bad Request - Header Too Long", now,
                         "a header line longer than security.limits.max_header_line")
            return
        self.core.on_message(data, source, local)

    def on_framing_error(self, source: Address, reason: str, head: bytes = b"",
                         status: int = 400) -> None:
        """A TCP stream lost its framing (the connection closes): answer if we can."""
        now = self.clock()
        self.core.on_framing_error(source, reason)
        if head and not self.bans.is_banned(source.host, now):
            phrase = "Message Too Large" if status == 513 else f"Bad Request - {reason}"
            self._refuse(head, source, status, phrase, now, reason)

    def _refuse(self, data: bytes, source: Address, status: int, phrase: str, now: float,
                why: str) -> None:
        self.events.log(f"refused {status}", now, "%d %s to %s: %s", status, phrase, source, why)
        answer = refusal_bytes(data, status, phrase, self.server_header)
        if answer is not None:
            self.send(answer, source)

    # --- ConnectionGate ------------------------------------------------------------
    def admit_connection(self, source: Address, from_source: int, total: int) -> bool:
        """Keep a new inbound TCP connection? ``from_source``/``total`` are already open."""
        host = source.host
        now = self.clock()
        if not self.bans.admit(host, now):  # a connection counts as a message for the rate
            self.stats["banned"] += 1
            return False
        if self.access and not allowed_by_all(self.access, host):
            self.stats["denied"] += 1
            return False
        limits = self.limits
        if from_source < limits.tcp_per_source and total < limits.tcp_total:
            return True
        if self.bans.is_trusted(host) and total < 4 * limits.tcp_total:
            return True  # an office NAT: many phones, one address
        self.stats["connections_refused"] += 1
        which = ("tcp_total", total) if total >= limits.tcp_total else \
            ("tcp_per_source", from_source)
        self.events.log("tcp limit", now, "TCP connection from %s refused: %d open "
                        "(security.limits.%s)", source, which[1], which[0])
        return False

    def housekeeping(self, now: float) -> None:
        """Summaries of repeated events; ban expiry (call every few seconds)."""
        self.events.flush(now)
        self.bans.expire(now)
