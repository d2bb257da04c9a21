"""Where SIP bytes come from or go to: the transport-level peer of a message."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Address:
    """A transport-level peer: where bytes came from or go to."""

    transport: str  # "udp" | "tcp" | "tls"
    host: str  # IPv6 without brackets
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.transport}:{host}:{self.port}"
