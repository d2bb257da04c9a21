"""The SIP core's edges on real loopback sockets: a refused TCP connect fails its
transaction at once (RFC 3261 8.1.3.1) instead of waiting out timer B, and
responses carry received= and a filled rport (RFC 3581)."""

from __future__ import annotations

import asyncio
import socket

from pbx.channel import DigitQueue
from pbx.sip.address import Address
from pbx.sip.message import Response, make_response, parse_message
from pbx.sip.requests import new_request
from pbx.sipcore import SipCore
from pbx.transport.tcp import TcpTransport
from pbx.transport.udp import UdpTransport


def closed_tcp_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now: a connect is refused
    return port


async def test_refused_tcp_connect_fails_the_invite_at_once() -> None:
    loop = asyncio.get_running_loop()
    core = SipCore()
    core.use_loop(loop)
    tcp = await TcpTransport.listen(core, "127.0.0.1", 0)
    core.add_transport("tcp", tcp)
    try:
        dest = Address("tcp", "127.0.0.1", closed_tcp_port())
        invite = new_request("INVITE", f"sip:6002@127.0.0.1:{dest.port}", local=tcp.local,
                             from_user="6001", to_uri="sip:6002@127.0.0.1")
        failed: asyncio.Future[int] = loop.create_future()
        started = loop.time()
        core.send_request(invite, dest, lambda resp: None,
                          lambda status: failed.set_result(status))
        status = await asyncio.wait_for(failed, 5.0)
        assert status == 503  # a transport error, reported as 503 (8.1.3.1)
        assert loop.time() - started < 1.0  # not timer B's 32 s
        assert len(core.layer) == 0
    finally:
        core.close()


async def test_responses_carry_received_and_the_filled_rport() -> None:
    loop = asyncio.get_running_loop()
    core = SipCore()
    core.use_loop(loop)
    udp = await UdpTransport.listen(core, "127.0.0.1", 0)
    core.add_transport("udp", udp)
    core.handlers["OPTIONS"] = lambda req, tx, src: core.respond(tx, make_response(req, 200))
    phone = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    phone.bind(("127.0.0.1", 0))
    phone.setblocking(False)
    try:
        port = phone.getsockname()[1]
        # The Via names another host and port: the answer must still come back here.
        request = (
            b"OPTIONS sip:pbx@127.0.0.1 SIP/2.0\r\n"
            b"Via: SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bKnat1;rport\r\n"
            b"Max-Forwards: 70\r\nFrom: <sip:6001@pbx>;tag=a\r\nTo: <sip:pbx@pbx>\r\n"
            b"Call-ID: nat-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
        phone.sendto(request, ("127.0.0.1", udp.local.port))
        data = await asyncio.wait_for(loop.sock_recv(phone, 65535), 2.0)
        resp = parse_message(data)
        assert isinstance(resp, Response) and resp.status == 200
        via = resp.top_via
        assert via.received == "127.0.0.1" and via.rport == port
    finally:
        phone.close()
        core.close()


async def test_digit_queue_drops_only_a_leading_terminator() -> None:
    q = DigitQueue()
    for d in "#12":
        q.put_nowait(d)
    assert q.discard_first("#") and not q.discard_first("#")
    assert [q.get_nowait() for _ in range(q.qsize())] == ["1", "2"]
