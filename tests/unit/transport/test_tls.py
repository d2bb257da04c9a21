"""TLS transport on loopback: a listener with a `make cert` pair, a client that
verifies it, SIP framing shared with TCP, and refusals of bad peers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pbx.sip.address import Address
from pbx.tlscert import make_cert
from pbx.transport.tls import TlsFiles, TlsTransport, check_files

MESSAGE = (b"OPTIONS sip:pbx@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:1;branch=z9hG4bKx\r\n"
           b"Content-Length: 5\r\n\r\nhello")


class Sink:
    def __init__(self) -> None:
        self.got: list[tuple[bytes, Address, Address]] = []
        self.event = asyncio.Event()

    def on_message(self, data: bytes, source: Address, local: Address) -> None:
        self.got.append((data, source, local))
        self.event.set()

    def on_framing_error(self, source: Address, reason: str) -> None:
        pass


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_cert(tmp_path_factory.mktemp("tls"))


async def test_message_over_tls_both_ways(pair: tuple[Path, Path]) -> None:
    cert, key = pair
    files = TlsFiles(cert, key, ca=cert)
    server_sink, client_sink = Sink(), Sink()
    server = await TlsTransport.listen_tls(server_sink, "127.0.0.1", 0, files)
    client = await TlsTransport.listen_tls(client_sink, "127.0.0.1", 0, files)
    try:
        assert server.local.transport == "tls"
        # Two messages in one write, split by the TCP framer as for plain TCP.
        client.send(MESSAGE + MESSAGE, "127.0.0.1", server.local.port)
        await asyncio.wait_for(server_sink.event.wait(), 5)
        while len(server_sink.got) < 2:
            await asyncio.sleep(0.01)
        data, source, local = server_sink.got[0]
        assert data == MESSAGE and source.transport == "tls" and local == server.local
        # The answer goes back on the connection the client opened (no new connect).
        server.send(MESSAGE, source.host, source.port)
        await asyncio.wait_for(client_sink.event.wait(), 5)
        assert client_sink.got[0][0] == MESSAGE
        assert len(client.connections) == 1
    finally:
        server.close()
        client.close()


async def test_unverified_server_is_refused(pair: tuple[Path, Path],
                                            tmp_path: Path) -> None:
    """Connecting out checks the server's certificate: another CA fails at once."""
    cert, key = pair
    other_cert, _ = make_cert(tmp_path / "other")
    server = await TlsTransport.listen_tls(Sink(), "127.0.0.1", 0, TlsFiles(cert, key))
    client = await TlsTransport.listen_tls(Sink(), "127.0.0.1", 0,
                                           TlsFiles(cert, key, ca=other_cert))
    failed = asyncio.Event()
    try:
        client.send(MESSAGE, "127.0.0.1", server.local.port, on_error=failed.set)
        await asyncio.wait_for(failed.wait(), 5)
        assert not client.connections
    finally:
        server.close()
        client.close()


async def test_plain_tcp_client_gets_nothing(pair: tuple[Path, Path]) -> None:
    cert, key = pair
    sink = Sink()
    server = await TlsTransport.listen_tls(sink, "127.0.0.1", 0, TlsFiles(cert, key))
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.local.port)
        writer.write(MESSAGE)
        await writer.drain()
        data = await asyncio.wait_for(reader.read(100), 5)  # closed: not a TLS hello
        assert not data.startswith(b"SIP/2.0")
        writer.close()
        assert sink.got == []
    finally:
        server.close()


def test_check_files_names_the_problem(pair: tuple[Path, Path], tmp_path: Path) -> None:
    cert, key = pair
    assert check_files(TlsFiles(cert, key)) is None
    junk = tmp_path / "junk.pem"
    junk.write_bytes(b"not a certificate")
    assert "not a usable certificate/key pair" in (check_files(TlsFiles(junk, key)) or "")
    _, other_key = make_cert(tmp_path / "other")
    assert check_files(TlsFiles(cert, other_key)) is not None  # key of another cert
    assert "not found" in (check_files(TlsFiles(tmp_path / "none.crt", key)) or "")
