"""SIP over TCP: Content-Length framing, connection reuse, RFC 5626 keep-alive.

Limits (pbx.yaml `security.limits`): the gate (the SIP guard) decides whether an
inbound connection is kept, given how many are open from its address and in
all; an inbound connection must deliver each message within
``message_timeout`` of its first byte, and its first message within that time
of connecting (slowloris); any connection idle for ``tcp_idle`` is closed. One
sweep timer per listener checks the deadlines: nothing is armed per packet.
Resets and refusals are counted and summarised, never a traceback each.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Callable

from pbx.ratelog import RateLimitedLog
from pbx.security.settings import InputLimits
from pbx.sip.address import Address
from pbx.sip.message import FramingError, StreamFramer
from pbx.transport.base import ConnectionGate, MessageSink

log = logging.getLogger("pbx.transport.tcp")

SWEEP_INTERVAL = 1.0  # seconds between deadline checks (deadlines are whole seconds)


class TcpConnection(asyncio.Protocol):
    """One TCP connection, inbound or outbound; framed messages go to the sink."""

    def __init__(self, server: TcpTransport, *, inbound: bool) -> None:
        self.server = server
        self.inbound = inbound
        self.framer = StreamFramer(server.limits.max_message_size)
        self.transport: asyncio.Transport | None = None
        self.remote: Address | None = None
        self.last_activity = 0.0
        # When the message now being received began (None: nothing pending). An
        # inbound connection starts "pending": its first message is due too.
        self.message_started: float | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        server = self.server
        now = server.now()
        peer = transport.get_extra_info("peername")
        if not peer:  # reset before we got to it: nothing to serve
            server.events.log("reset", now, "TCP connection reset before it was accepted")
            transport.abort()
            return
        remote = Address(server.kind, peer[0], peer[1])
        if self.inbound:
            if server.gate is not None and not server.gate.admit_connection(
                    remote, server.per_source.get(remote.host, 0), len(server.connections)):
                transport.abort()
                return
            self.message_started = now
        self.remote = remote
        self.last_activity = now
        server.add(self)

    def data_received(self, data: bytes) -> None:
        server = self.server
        now = server.now()
        self.last_activity = now
        remote = self.remote
        if remote is None:
            return
        try:
            messages = self.framer.feed(data)
        except FramingError as exc:
            # Framing is lost (too large, negative or repeated Content-Length): deliver
            # the messages before it, answer what can be answered, then close: a stream
            # cannot resynchronise (RFC 4475 3.1.2.3).
            self._deliver(exc.messages, remote)
            server.events.log("framing", now, "closing TCP connection from %s: %s", remote, exc)
            server.sink.on_framing_error(remote, exc.reason, exc.head, exc.status)
            self.close()
            return
        framer = self.framer
        if framer.pings and self.transport is not None:
            self.transport.write(b"\r\n" * framer.pings)  # RFC 5626 pong
            framer.pings = 0
        if framer.buffered:
            if self.message_started is None or messages:
                self.message_started = now
        else:
            self.message_started = None
        self._deliver(messages, remote)

    def _deliver(self, messages: list[bytes], remote: Address) -> None:
        sink = self.server.sink
        local = self.server.local
        for message in messages:
            try:
                sink.on_message(message, remote, local)
            except Exception:  # a bug must not stop the connection
                log.exception("error handling message from %s", remote)

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None:
            self.server.events.log("reset", self.server.now(),
                                   "TCP connection from %s lost: %s", self.remote,
                                   getattr(exc, "strerror", None) or exc)
        self.server.remove(self)

    def send(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class TcpTransport:
    """A listening TCP socket plus every connection to or from it.

    TLS (pbx/transport/tls.py) is this class with SSL contexts: the same
    framing, limits and connection handling, another `kind` in addresses."""

    kind = "tcp"
    server_ssl: ssl.SSLContext | None = None  # TLS: wraps accepted connections
    client_ssl: ssl.SSLContext | None = None  # TLS: wraps connections we open

    def __init__(self, sink: MessageSink, local: Address, *, limits: InputLimits | None = None,
                 gate: ConnectionGate | None = None) -> None:
        self.sink = sink
        self.local = local
        self.limits = limits or InputLimits()
        self.gate = gate
        self.connections: dict[tuple[str, int], TcpConnection] = {}
        self.per_source: dict[str, int] = {}
        self.server: asyncio.base_events.Server | None = None
        self.events = RateLimitedLog(log)
        self._sweep: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # Messages waiting for a connection being opened, with their error callbacks.
        self._connecting: dict[tuple[str, int], list[tuple[bytes, Callable[[], None] | None]]] = {}

    @classmethod
    async def listen(cls, sink: MessageSink, host: str, port: int, *,
                     limits: InputLimits | None = None,
                     gate: ConnectionGate | None = None) -> TcpTransport:
        """Listen on host:port (IPv4 or IPv6)."""
        self = cls(sink, Address(cls.kind, host, port), limits=limits, gate=gate)
        await self._serve(host, port)
        return self

    async def _serve(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.server = await loop.create_server(lambda: TcpConnection(self, inbound=True),
                                               host, port, family=family, reuse_address=True,
                                               backlog=512, ssl=self.server_ssl)
        bound = self.server.sockets[0].getsockname()[1]
        self.local = Address(self.kind, host, bound)

    @property
    def idle_timeout(self) -> float:
        return self.limits.tcp_idle

    def now(self) -> float:
        return (self._loop or asyncio.get_running_loop()).time()

    # --- connection table -------------------------------------------------------
    def add(self, conn: TcpConnection) -> None:
        assert conn.remote is not None
        host, port = conn.remote.host, conn.remote.port
        self.connections[(host, port)] = conn
        self.per_source[host] = self.per_source.get(host, 0) + 1
        if self._sweep is None:
            loop = self._loop or asyncio.get_running_loop()
            self._sweep = loop.call_later(SWEEP_INTERVAL, self._check_deadlines)

    def remove(self, conn: TcpConnection) -> None:
        if conn.remote is None:
            return
        host, port = conn.remote.host, conn.remote.port
        if self.connections.get((host, port)) is conn:
            del self.connections[(host, port)]
            left = self.per_source.get(host, 1) - 1
            if left > 0:
                self.per_source[host] = left
            else:
                self.per_source.pop(host, None)

    def close_source(self, matches: Callable[[str], bool]) -> int:
        """Close every connection whose remote host ``matches`` (a ban); how many."""
        doomed = [c for (host, _), c in self.connections.items() if matches(host)]
        for conn in doomed:
            if conn.transport is not None:
                conn.transport.abort()
        return len(doomed)

    def _check_deadlines(self) -> None:
        self._sweep = None
        now = self.now()
        limits = self.limits
        slow_before = now - limits.message_timeout
        idle_before = now - limits.tcp_idle
        for conn in list(self.connections.values()):
            started = conn.message_started
            if started is not None and started < slow_before and conn.inbound:
                self.events.log("slow", now, "closing TCP connection from %s: no complete "
                                "message within %.0f s (security.limits.message_timeout)",
                                conn.remote, limits.message_timeout)
                conn.close()
            elif conn.last_activity < idle_before:
                self.events.log("idle", now, "closing TCP connection from %s: idle for %.0f s",
                                conn.remote, limits.tcp_idle)
                conn.close()
        self.events.flush(now)
        if self.connections:
            loop = self._loop or asyncio.get_running_loop()
            self._sweep = loop.call_later(SWEEP_INTERVAL, self._check_deadlines)

    # --- sending -----------------------------------------------------------------
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
                lambda: TcpConnection(self, inbound=False), host, port, ssl=self.client_ssl,
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
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        for conn in list(self.connections.values()):
            conn.close()
