"""SIP over UDP: one datagram is one message (RFC 3261 sec. 18)."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable

from pbx.sip.address import Address
from pbx.transport.base import MessageSink

log = logging.getLogger("pbx.transport.udp")


class UdpTransport(asyncio.DatagramProtocol):
    """Bytes in -> core.on_message; core -> sendto. No task per datagram."""

    def __init__(self, sink: MessageSink, local: Address) -> None:
        self.sink = sink
        self.local = local
        self.transport: asyncio.DatagramTransport | None = None

    @classmethod
    async def listen(cls, sink: MessageSink, host: str, port: int) -> UdpTransport:
        """Bind host:port (IPv4 or IPv6) and start reading."""
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # A burst of REGISTERs or INVITEs must queue, not be dropped by the kernel.
        for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
            try:
                sock.setsockopt(socket.SOL_SOCKET, opt, 4 * 1024 * 1024)
            except OSError:
                pass
        sock.bind((host, port))
        bound_port = sock.getsockname()[1]
        proto = cls(sink, Address("udp", host, bound_port))
        await loop.create_datagram_endpoint(lambda: proto, sock=sock)
        return proto

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        if len(data) < 8 and not data.strip(b"\r\n\x00 "):
            return  # RFC 5626 keep-alive (CRLF) or empty: nothing to answer
        try:
            self.sink.on_message(data, Address("udp", addr[0], addr[1]), self.local)
        except Exception:  # a bug must not stop the socket from reading
            log.exception("error handling datagram from %s:%s", addr[0], addr[1])

    def error_received(self, exc: Exception) -> None:
        log.debug("UDP error on %s: %s", self.local, exc)

    def send(self, data: bytes, host: str, port: int,
             on_error: Callable[[], None] | None = None) -> None:
        """Send one datagram (UDP has no delivery failure to report)."""
        if self.transport is not None:
            self.transport.sendto(data, (host, port))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
