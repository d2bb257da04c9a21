"""What the transports and the SIP core say to each other."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Address:
    """A transport-level peer: where bytes came from or go to."""

    transport: str  # "udp" | "tcp"
    host: str  # IPv6 without brackets
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.transport}:{host}:{self.port}"


class MessageSink(Protocol):
    """The SIP core: receives every complete message a transport reads."""

    def on_message(self, data: bytes, source: Address, local: Address) -> None: ...

    def on_framing_error(self, source: Address, reason: str) -> None: ...
