"""The Signalling port: what a call leg may ask of the SIP core.

A leg responds on server transactions, sends requests in client
transactions, sends bytes outside any transaction (ACK of a 2xx, 2xx
retransmissions) and puts its timers on the core's one heap. The SIP core
(:class:`pbx.sipcore.SipCore`) implements it; the B2BUA unit tests use a fake.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from pbx.sip.address import Address
from pbx.sip.message import Request, Response
from pbx.sip.timers import TimerHeap


class Signalling(Protocol):
    timers: TimerHeap  # entries owned by a leg come back as leg.on_timer(kind, now)

    def now(self) -> float: ...

    def respond(self, tx: Any, response: Response) -> None: ...

    def send_request(self, req: Request, dest: Address,
                     callback: Callable[[Response | None], None],
                     on_failure: Callable[[int], None] | None = None) -> Any: ...

    def forget(self, tx: Any) -> None: ...

    def send_bytes(self, data: bytes, dest: Address) -> None: ...

    def local_address(self, transport: str = "udp", family: int = 4,
                      toward: str | None = None) -> Address | None: ...

    def allow_header(self) -> str: ...
