"""The security log: one line per event, in the format of Asterisk's security log.

Asterisk's res_security_log writes ``SecurityEvent="InvalidPassword",EventTV=...,
RemoteAddress="IPV4/UDP/203.0.113.9/5060"`` lines; fail2ban's asterisk filter and
many log shippers read exactly that, so every failed authentication and every
ban here is one such line on the ``pbx.security`` logger (and, if pbx.yaml sets
`security.log_file`, in that file alone). Attacker-controlled values (account
names, Call-IDs) are escaped: a line can never be split or forged.
"""

from __future__ import annotations

import logging
import logging.handlers
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from pbx.security.banlist import Ban
from pbx.sip.address import Address

__all__ = ["SECURITY_LOGGER", "SecurityLog", "attach_log_file", "escape", "format_address"]

SECURITY_LOGGER = "pbx.security"


def escape(value: object) -> str:
    """A value safe inside double quotes on one line (\\, ", controls escaped)."""
    text = str(value)
    if text.isprintable() and '"' not in text and "\\" not in text:
        return text
    out = []
    for ch in text:
        if ch == "\\" or ch == '"':
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 256 else f"\\u{ord(ch):04x}")
    return "".join(out)


def format_address(addr: Address | None) -> str:
    """Asterisk's form: IPV4/UDP/192.0.2.1/5060."""
    if addr is None:
        return ""
    version = "IPV6" if ":" in addr.host else "IPV4"
    return f"{version}/{addr.transport.upper()}/{addr.host}/{addr.port}"


class SecurityLog:
    """Writes security events; ``wall`` is injected for tests."""

    def __init__(self, logger: logging.Logger | None = None,
                 wall: Callable[[], float] = time.time) -> None:
        self.logger = logger or logging.getLogger(SECURITY_LOGGER)
        self.wall = wall

    def event(self, name: str, severity: str, fields: list[tuple[str, object]]) -> None:
        """One line: SecurityEvent, EventTV, Severity, Service, EventVersion, then fields."""
        logger = self.logger
        level = logging.WARNING if severity == "Error" else logging.INFO
        if not logger.isEnabledFor(level):
            return
        tv = datetime.fromtimestamp(self.wall(), UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+0000")
        parts = [f'SecurityEvent="{name}"', f'EventTV="{tv}"', f'Severity="{severity}"',
                 'Service="SIP"', 'EventVersion="2"']
        parts.extend(f'{key}="{escape(value)}"' for key, value in fields)
        logger.log(level, "%s", ",".join(parts))

    def invalid_password(self, account: str, session_id: str, method: str,
                         remote: Address, local: Address | None) -> None:
        """A request whose credentials were refused (403 to an Authorization)."""
        self.event("InvalidPassword", "Error", [
            ("AccountID", account), ("SessionID", session_id),
            ("LocalAddress", format_address(local)), ("RemoteAddress", format_address(remote)),
            ("Method", method)])

    def failed_acl(self, account: str, session_id: str, acl_name: str,
                   remote: Address, local: Address | None) -> None:
        """A peer used from an address its permit/deny/acl refuses."""
        self.event("FailedACL", "Error", [
            ("AccountID", account), ("SessionID", session_id),
            ("LocalAddress", format_address(local)), ("RemoteAddress", format_address(remote)),
            ("ACLName", acl_name)])

    def ban(self, kind: str, ban: Ban, wall_until: float | None = None) -> None:
        """A source banned (Error) or let back in (Informational)."""
        if kind == "banned":
            self.event("AddressBanned", "Error", [
                ("RemoteAddress", ban.source), ("Reason", ban.reason), ("Count", ban.count),
                ("Duration", int(ban.until - ban.since))])
        else:
            self.event("AddressUnbanned", "Informational", [
                ("RemoteAddress", ban.source), ("Reason", kind), ("Dropped", ban.dropped)])


def attach_log_file(path: Path, logger_name: str = SECURITY_LOGGER) -> logging.Handler:
    """Also write the security events to ``path`` (reopened when logrotate moves it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.WatchedFileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("[%(asctime)s] SECURITY[%(process)d] pbx: %(message)s",
                                           "%Y-%m-%d %H:%M:%S"))
    handler.setLevel(logging.INFO)
    logger = logging.getLogger(logger_name)
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    return handler
