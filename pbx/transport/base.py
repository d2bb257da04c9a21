"""What the transports and the SIP core say to each other."""

from __future__ import annotations

from typing import Protocol

from pbx.sip.address import Address


class MessageSink(Protocol):
    """The SIP core: receives every complete message a transport reads."""

    def on_message(self, data: bytes, source: Address, local: Address) -> None: ...

    def on_framing_error(self, source: Address, reason: str) -> None: ...
