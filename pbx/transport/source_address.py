"""The local address the kernel sends from toward a destination.

A transport bound to the wildcard (`bind = 0.0.0.0` in pjsip.conf) has no one
address to put in Via, Contact and SDP: the right one is the address the
kernel would send from toward the peer (a phone on the LAN sees the LAN
address, one on loopback sees 127.0.0.1), as pjsip picks it. A UDP socket
`connect()`ed to the destination learns it without sending anything.
"""

from __future__ import annotations

import ipaddress
import socket

# Routing only: nothing is ever sent there (RFC 5737 / RFC 3849 documentation ranges).
_NO_IP = {4: "192.0.2.1", 6: "2001:db8::1"}
_LOOPBACK = {4: "127.0.0.1", 6: "::1"}
WILDCARDS = ("0.0.0.0", "::")


class SourceAddresses:
    """Source address per destination host, remembered (bounded)."""

    MAX = 4096

    def __init__(self) -> None:
        self._known: dict[tuple[str, int], str] = {}

    def toward(self, host: str | None, family: int) -> str:
        key = (host or "", family)
        found = self._known.get(key)
        if found is None:
            found = self._route(host, family)
            if len(self._known) >= self.MAX:
                self._known.clear()
            self._known[key] = found
        return found

    @staticmethod
    def _route(host: str | None, family: int) -> str:
        target = (host or "").strip("[]")
        try:
            ipaddress.ip_address(target)
        except ValueError:  # a name (not resolved here: no blocking DNS) or nothing
            target = _NO_IP[family]
        af = socket.AF_INET6 if family == 6 else socket.AF_INET
        try:
            with socket.socket(af, socket.SOCK_DGRAM) as s:
                s.connect((target, 9))
                return str(s.getsockname()[0])
        except OSError:  # no route: only loopback answers
            return _LOOPBACK[family]
