"""SIP over TLS (RFC 3261 sec. 26.2, `sips:`): the TCP transport with SSL contexts.

Framing, connection reuse, keep-alive and idle timeouts are TcpTransport's;
this module only builds the contexts. Inbound: our certificate and key from
pbx.yaml (`sip.tls.cert`, `sip.tls.key`). Outbound (trunks, or phones whose
connection closed): the server's certificate is verified against `sip.tls.ca`
(or the system's CAs) unless `sip.tls.verify_server` is false, as Asterisk's
`tlsdontverifyserver=no` does by default.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from pbx.security.settings import InputLimits
from pbx.sip.address import Address
from pbx.transport.base import ConnectionGate, MessageSink
from pbx.transport.tcp import TcpTransport


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """What pbx.yaml's `sip.tls` says (paths already resolved)."""

    cert: Path
    key: Path
    ca: Path | None = None  # CAs for servers we connect to; None: the system's
    verify_server: bool = True


def server_context(files: TlsFiles) -> ssl.SSLContext:
    """The context for connections phones and trunks open to us (TLS 1.2+)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(files.cert), str(files.key))
    return ctx


def client_context(files: TlsFiles) -> ssl.SSLContext:
    """The context for connections we open (to a trunk, or back to a phone)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if files.verify_server:
        if files.ca is not None:
            ctx.load_verify_locations(cafile=str(files.ca))
        else:
            ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    # A trunk that asks for a client certificate gets ours.
    ctx.load_cert_chain(str(files.cert), str(files.key))
    return ctx


def check_files(files: TlsFiles) -> str | None:
    """Why these files cannot be used (unreadable, not PEM, key not matching), or None."""
    try:
        server_context(files)
        if files.verify_server and files.ca is not None:
            ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=str(files.ca))
    except FileNotFoundError as exc:
        return f"{exc.filename or 'file'}: not found"
    except PermissionError as exc:
        return f"{exc.filename or 'file'}: permission denied"
    except ssl.SSLError as exc:
        return f"not a usable certificate/key pair: {exc.reason or exc}"
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"
    return None


class TlsTransport(TcpTransport):
    """A TLS listener and every TLS connection to or from it."""

    kind = "tls"

    @classmethod
    async def listen_tls(cls, sink: MessageSink, host: str, port: int, files: TlsFiles, *,
                         limits: InputLimits | None = None,
                         gate: ConnectionGate | None = None) -> TlsTransport:
        """Listen on host:port with our certificate; connect out with the client context."""
        self = cls(sink, Address(cls.kind, host, port), limits=limits, gate=gate)
        self.server_ssl = server_context(files)
        self.client_ssl = client_context(files)
        await self._serve(host, port)
        return self
