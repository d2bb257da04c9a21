"""What the transports and the SIP core (or the guard in front of it) say to each other."""

from __future__ import annotations

from typing import Protocol

from pbx.sip.address import Address


class MessageSink(Protocol):
    """Receives every complete message a transport reads."""

    def on_message(self, data: bytes, source: Address, local: Address) -> None: ...

    def on_framing_error(self, source: Address, reason: str, head: bytes = b"",
                         status: int = 400) -> None:
        """A stream lost its framing; ``head`` starts the offending message."""
        ...


class ConnectionGate(Protocol):
    """Decides whether an inbound stream connection is kept (bans, ACL, limits)."""

    def admit_connection(self, source: Address, from_source: int, total: int) -> bool: ...
