"""SIP over TCP: Content-Length framing, connection reuse, RFC 5626 keep-alive."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Callable

from pbx.sip.address import Address
from pbx.sip.message import FramingError, StreamFramer
from pbx.transport.base import MessageSink

log = logging.getLogger("pbx.transport.tcp")

IDLE_TIMEOUT = 600.0  # seconds without traffic before we close an inbound connection


class TcpConnection(asyncio.Protocol):
    """One TCP connection, inbound or outbound; framed messages go to the core."""

    def __init__(self, server: TcpTransport) -> None:
        self.server = server
        self.framer = StreamFramer()
        self.transport: asyncio.Transport | None = None
        self.remote: Address | None = None
        self._idle: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self.remote = Address(self.server.kind, peer[0], peer[1])
        self.server.connections[(peer[0], peer[1])] = self
        self._touch()

    def _touch(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
        loop = asyncio.get_running_loop()
        self._idle = loop.call_later(self.server.idle_timeout, self.close)

    def data_received(self, data: bytes) -> None:
        self._touch()
        try:
            messages = self.framer.feed(data)
        except FramingError as exc:
            # Framing is lost (negative, repeated or absurd Content-Length):
            # the only safe thing on a stream is to close it (RFC 4475 3.1.2.3).
            log.info("closing TCP connection from %s: %s", self.remote, exc)
            assert self.remote is not None
            self.server.sink.on_framing_error(self.remote, str(exc))
            self.close()
            return
        if self.framer.pings and self.transport is not None:
            self.transport.write(b"\r\n" * self.framer.pings)  # RFC 5626 pong
            self.framer.pings = 0
        for message in messages:
            try:
                assert self.remote is not None
                self.server.sink.on_message(message, self.remote, self.server.local)
            except Exception:
                log.exception("error handling message from %s", self.remote)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._idle is not None:
            self._idle.cancel()
        if self.remote is not None:
            key = (self.remote.host, self.remote.port)
            if self.server.connections.get(key) is self:
                del self.server.connections[key]

    def send(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class TcpTransport:
    """A listening TCP socket plus every connection to or from it.

    TLS (pbx/transport/tls.py) is this class with SSL contexts: the same
    framing and connection handling, another `kind` in addresses."""

    kind = "tcp"
    server_ssl: ssl.SSLContext | None = None  # TLS: wraps accepted connections
    client_ssl: ssl.SSLContext | None = None  # TLS: wraps connections we open

    def __init__(self, sink: MessageSink, local: Address) -> None:
        self.sink = sink
        self.local = local
        self.connections: dict[tuple[str, int], TcpConnection] = {}
        self.server: asyncio.base_events.Server | None = None
        self.idle_timeout = IDLE_TIMEOUT
        # Messages waiting for a connection being opened, with their error callbacks.
        self._connecting: dict[tuple[str, int], list[tuple[bytes, Callable[[], None] | None]]] = {}

    @classmethod
    async def listen(cls, sink: MessageSink, host: str, port: int) -> TcpTransport:
        """Listen on host:port (IPv4 or IPv6)."""
        self = cls(sink, Address(cls.kind, host, port))
        await self._serve(host, port)
        return self

    async def _serve(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.server = await loop.create_server(lambda: TcpConnection(self), host, port,
                                               family=family, reuse_address=True,
                                               ssl=self.server_ssl)
        bound = self.server.sockets[0].getsockname()[1]
        self.local = Address(self.kind, host, bound)

    def send(self, data: bytes, host: str, port: int,
             on_error: Callable[[], None] | None = None) -> None:
        """Send on the existing connection to host:port, opening one if needed.

        ``on_error`` is called when no connection can be made, so the
        transaction fails at once instead of waiting out its timer.
        """
        conn = self.connections.get((host, port))
        if conn is not None:
            conn.send(data)
            return
        key = (host, port)
        waiting = self._connecting.get(key)
        if waiting is not None:  # a connect is under way: queue behind it
            waiting.append((data, on_error))
            return
        self._connecting[key] = [(data, on_error)]
        asyncio.get_running_loop().create_task(self._connect(host, port))

    async def _connect(self, host: str, port: int) -> None:
        key = (host, port)
        loop = asyncio.get_running_loop()
        try:
            _, conn = await loop.create_connection(
                lambda: TcpConnection(self), host, port, ssl=self.client_ssl,
                server_hostname=host if self.client_ssl is not None else None)
        except OSError as exc:  # ssl.SSLError (a failed handshake) is an OSError too
            log.warning("cannot connect to %s:%s:%s: %s", self.kind, host, port,
                        getattr(exc, "strerror", None) or exc)
            for _, on_error in self._connecting.pop(key, []):
                if on_error is not None:
                    on_error()
            return
        for data, _ in self._connecting.pop(key, []):
            conn.send(data)

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for conn in list(self.connections.values()):
            conn.close()
