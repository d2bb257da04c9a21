"""MediaSession on real loopback sockets: latching, DTMF, timeout, RTCP, hold."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator
from typing import Any

import pytest

from pbx.media.clock import MediaClock
from pbx.media.codecs import PCMA, PCMU
from pbx.media.dtmf import DtmfSender, decode_event
from pbx.media.ports import PortAllocator
from pbx.media.rtp import RtpPacket, parse_rtp
from pbx.media.session import MediaSession
from tests.unit.media.loops import event_loop_policy  # noqa: F401 - both loops

_base = [40000 + (__import__("os").getpid() % 500) * 20]




def allocator() -> PortAllocator:
    """A fresh port range per test (sockets are released, but stay distinct)."""
    _base[0] += 40
    if _base[0] > 60000:
        _base[0] = 40000
    return PortAllocator(_base[0], _base[0] + 38)


class Peer(asyncio.DatagramProtocol):
    """A far-end phone: a UDP socket collecting (time, packet, addr)."""

    def __init__(self) -> None:
        self.got: list[tuple[float, bytes, Any]] = []
        self.waiters: list[tuple[int, asyncio.Future[None]]] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.got.append((asyncio.get_running_loop().time(), data, addr))
        for n, f in self.waiters:
            if len(self.got) >= n and not f.done():
                f.set_result(None)

    async def wait(self, n: int, timeout: float = 5.0) -> None:
        if len(self.got) >= n:
            return
        f = asyncio.get_running_loop().create_future()
        self.waiters.append((n, f))
        await asyncio.wait_for(f, timeout)

    @property
    def addr(self) -> tuple[str, int]:
        assert self.transport is not None
        return self.transport.get_extra_info("sockname")[:2]

    def send(self, data: bytes, port: int) -> None:
        assert self.transport is not None
        self.transport.sendto(data, ("127.0.0.1", port))

    def packets(self) -> list[RtpPacket]:
        return [parse_rtp(d) for _, d, _ in self.got]


async def open_peer() -> Peer:
    loop = asyncio.get_running_loop()
    _, p = await loop.create_datagram_endpoint(Peer, local_addr=("127.0.0.1", 0))
    return p


async def wait_for(cond: Any, timeout: float = 5.0) -> None:
    """Poll a condition (for things without an event of their own)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.005)


@pytest.fixture
async def env() -> AsyncIterator[tuple[MediaClock, PortAllocator]]:
    loop = asyncio.get_running_loop()
    clock = MediaClock(loop)
    yield clock, allocator()
    clock.stop()


def rtp(seq: int, ts: int, payload: bytes, pt: int = 0, marker: bool = False,
        ssrc: int = 0x1234) -> bytes:
    return RtpPacket(pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc, payload, marker).build()


async def test_open_close_releases_ports(env: tuple[MediaClock, PortAllocator]) -> None:
    clock, alloc = env
    loop = asyncio.get_running_loop()
    s = await MediaSession.open(loop, alloc, "127.0.0.1", clock)
    assert s.local_port % 2 == 0 and alloc.in_use == 1
    s.close()
    assert alloc.in_use == 0
    await asyncio.sleep(0.01)  # the transports close their sockets on the next loop turn
    # The port can be bound again: the sockets are really closed.
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", s.local_port))
    probe.close()


async def test_symmetric_rtp_latches_to_real_source(env: tuple[MediaClock, PortAllocator]) -> None:
    clock, alloc = env
    loop = asyncio.get_running_loop()
    s = await MediaSession.open(loop, alloc, "127.0.0.1", clock)
    real = await open_peer()
    other = await open_peer()
    # SDP says 127.0.0.1:9 (wrong, e.g. a NATed private address).
    s.set_remote(("127.0.0.1", 9), PCMU)
    # Probation: three packets in sequence are not enough, nothing latched or used.
    for i in range(3):
        real.send(rtp(1 + i, 160 * i, b"\xff" * 160), s.local_port)
    await wait_for(lambda: s.errors == 3)
    assert s.remote == ("127.0.0.1", 9) and s.rx.received == 0
    real.send(rtp(4, 480, b"\xff" * 160), s.local_port)  # the fourth: latched
    await wait_for(lambda: s.rx.received == 1)
    assert s.remote == real.addr
    assert s.send_audio(b"\x01" * 160, marker=True)
    await real.wait(1)
    # Another source is not adopted by a single stray packet...
    other.send(rtp(500, 0, b"\xff" * 160, ssrc=99), s.local_port)
    await asyncio.sleep(0.05)
    assert s.remote == real.addr
    # ...only after several sequential packets (strict RTP relearning).
    for i in range(4):
        other.send(rtp(501 + i, 160 * i, b"\xff" * 160, ssrc=99), s.local_port)
    await wait_for(lambda: s.remote == other.addr)
    assert s.relatched == 1
    s.close()


async def test_hijack_datagram_changes_nothing(env: tuple[MediaClock, PortAllocator]) -> None:
    """Issue 14: one datagram from anywhere (random bytes, or valid-looking RTP)
    re-latched the stream. Now neither is used, nor moves where we send."""
    clock, alloc = env
    loop = asyncio.get_running_loop()
    s = await MediaSession.open(loop, alloc, "127.0.0.1", clock)
    phone = await open_peer()
    attacker = await open_peer()
    s.set_remote(phone.addr, PCMU)
    heard: list[bytes] = []

    class Sink:
        def rtp(self, payload: bytes, marker: int, seq: int, ts: int) -> None:
            heard.append(payload)

    s.set_consumer(Sink())
    for i in range(6):
        phone.send(rtp(100 + i, 160 * i, b"\x11" * 160), s.local_port)
    await wait_for(lambda: len(heard) == 6)  # the SDP address is heard at once
    assert s.remote == phone.addr
    attacker.send(__import__("os").urandom(172), s.local_port)
    attacker.send(rtp(107, 160 * 7, b"\x66" * 160), s.local_port)  # even the next seq/ssrc
    attacker.send(b"\x80", s.local_port)
    phone.send(rtp(106, 160 * 6, b"\x11" * 160), s.local_port)
    await wait_for(lambda: len(heard) == 7)
    await asyncio.sleep(0.02)
    assert s.remote == phone.addr and s.relatched == 0
    assert b"\x66" * 160 not in heard and len(heard) == 7
    assert s.send_audio(b"\x01" * 160, marker=True)
    await phone.wait(1)
    assert attacker.got == []
    s.close()


async def test_garbage_never_latches_and_sdp_address_is_used(
        env: tuple[MediaClock, PortAllocator]) -> None:
    clock, alloc = env
    loop = asyncio.get_running_loop()
    s = await MediaSession.open(loop, alloc, "127.0.0.1", clock)
    sdp_peer = await open_peer()
    junk = await open_peer()
    s.set_remote(sdp_peer.addr, PCMU)
    for _ in range(20):  # version 2 but an unknown payload type, or short: never RTP of ours
        junk.send(bytes([0x80, 0x7F]) + bytes(170), s.local_port)
        junk.send(b"\x80\x00\x00", s.local_port)
    await wait_for(lambda: s.errors == 40)
    assert s.remote == sdp_peer.addr and not s._latched
    # Out-of-sequence packets from a new source keep restarting its probation.
    for seq in (10, 12, 14, 16, 18, 20):
        junk.send(rtp(seq, 0, b"\xff" * 160), s.local_port)
    await wait_for(lambda: s.errors == 46)
    assert s.remote == sdp_peer.addr and s.rx.received == 0
    s.close()


def test_probation_bookkeeping_is_bounded() -> None:
    """A flood of sources on probation keeps at most MAX_CANDIDATES entries."""
    from pbx.media.session import MAX_CANDIDATES

    loop = asyncio.new_event_loop()
    try:
        alloc = allocator()
        s = MediaSession(loop, alloc.allocate("127.0.0.1"), "127.0.0.1", MediaClock(loop))
        s.set_remote(("127.0.0.1", 9), PCMU)
        for port in range(1000, 1500):
            s.datagram_received(rtp(1, 0, b"\xff" * 160), ("127.0.0.1", port))
            assert len(s._candidates) <= MAX_CANDIDATES
        assert s.remote == ("127.0.0.1", 9)
        s._pair.release()
    finally:
        loop.close()


async def test_rfc4733_digits_and_timeout(env: tuple[MediaClock, PortAllocator]) -> None:
    clock, alloc = env
    loop = asyncio.get_running_loop()
    s = await MediaSession.open(loop, alloc, "127.0.0.1", clock, rtp_timeout=1)
    peer = await open_peer()
    s.set_remote(peer.addr, PCMU, dtmf_pt=101)
    digits: list[str] = []
    timed_out = loop.create_future()
    s.on_dtmf = digits.append
    s.on_timeout = lambda: timed_out.done() or timed_out.set_result(None)
    seq = 10
    for digit, ts in (("1", 1000), ("#", 5000)):
        for p in DtmfSender().packets(digit, 60):
            peer.send(rtp(seq, ts, p.payload, pt=101, marker=p.marker), s.local_port)
            seq += 1
    await wait_for(lambda: len(digits) == 2)
    assert digits == ["1", "#"]
    # No more packets: the timeout fires within about 1-2 s (checked once a second).
    await asyncio.wait_for(timed_out, 3.5)
    s.close()


async def test_send_dtmf_paced_by_clock(env: tuple[MediaClock, PortAllocator]) -> None:
    clock, alloc = env
    loop = asyncio.get_running_loop()
    s = await MediaSession.open(loop, alloc, "127.0.0.1", clock)
    peer = await open_peer()
    s.set_remote(peer.addr, PCMU, dtmf_pt=98)
    assert s.send_dtmf("5", 100)
    await peer.wait(8)  # 5 packets for 100 ms + 3 end packets
    pkts = peer.packets()
    assert all(p.payload_type == 98 for p in pkts)
    assert len({p.timestamp for p in pkts}) == 1
    assert pkts[0].marker and not any(p.marker for p in pkts[1:])
    assert [p.seq for p in pkts] == [(pkts[0].seq + i) & 0xFFFF for i in range(8)]
    ev = [decode_event(p.payload) for p in pkts]
    assert ev[0][0] == "5" and ev[-1][1] and ev[-1][3] == 800
    times = [t for t, _, _ in peer.got]
    assert times[-1] - times[0] > 0.1  # paced, not a burst
    s.close()


async def test_hold_stops_sending_and_ignores(env: tuple[MediaClock, PortAllocator]) -> None:
    clock, alloc = env
    loop = asyncio.get_running_loop()
    s = await MediaSession.open(loop, alloc, "127.0.0.1", clock)
    peer = await open_peer()
    s.set_remote(peer.addr, PCMU, direction="sendonly")  # the remote holds us
    assert not s.send_audio(b"\x00" * 160)
    s.set_remote(peer.addr, PCMU, direction="inactive")
    got: list[bytes] = []

    class C:
        def rtp(self, payload: bytes, marker: int, seq: int, ts: int) -> None:
            got.append(payload)

    s.set_consumer(C())
    peer.send(rtp(1, 0, b"\x11" * 160), s.local_port)
    await wait_for(lambda: s.rx.received == 1)
    assert got == []
    s.set_remote(peer.addr, PCMU, direction="sendrecv")
    peer.send(rtp(2, 160, b"\x22" * 160), s.local_port)
    await wait_for(lambda: got)
    assert s.send_audio(b"\x00" * 160)
    await peer.wait(1)
    s.close()


async def test_rtcp_reports_exchanged_and_stats(env: tuple[MediaClock, PortAllocator]) -> None:
    clock, alloc = env
    loop = asyncio.get_running_loop()
    a = await MediaSession.open(loop, alloc, "127.0.0.1", clock)
    b = await MediaSession.open(loop, alloc, "127.0.0.1", clock)
    a.set_remote(("127.0.0.1", b.local_port), PCMA)
    b.set_remote(("127.0.0.1", a.local_port), PCMA)
    for _ in range(10):
        a.send_audio(b"\xd5" * 160)
        b.send_audio(b"\xd5" * 160)
    await wait_for(lambda: a.rx.received == 10 and b.rx.received == 10)
    a._send_rtcp()
    b._send_rtcp()
    await wait_for(lambda: a.remote_report is not None and b.remote_report is not None)
    st = a.stats()
    assert st.packets_sent == 10 and st.octets_sent == 1600
    assert st.packets_received == 10 and st.lost == 0
    assert st.remote_lost == 0 and st.rtcp_received >= 1
    a.close()
    b.close()
    assert alloc.in_use == 0


async def test_malformed_packets_counted_not_fatal(env: tuple[MediaClock, PortAllocator]) -> None:
    clock, alloc = env
    loop = asyncio.get_running_loop()
    s = await MediaSession.open(loop, alloc, "127.0.0.1", clock)
    peer = await open_peer()
    s.set_remote(peer.addr, PCMU)
    peer.send(b"hello", s.local_port)
    peer.send(struct.pack("!BB", 0x40, 0) + bytes(20), s.local_port)
    peer.send(rtp(1, 0, b"\xff" * 160), s.local_port)
    await wait_for(lambda: s.rx.received == 1)
    assert s.errors == 2
    s.close()


async def test_reinvite_same_sdp_keeps_latched_address(
        env: tuple[MediaClock, PortAllocator]) -> None:
    clock, alloc = env
    loop = asyncio.get_running_loop()
    s = await MediaSession.open(loop, alloc, "127.0.0.1", clock)
    nat = await open_peer()
    s.set_remote(("127.0.0.1", 9), PCMU)  # private address behind NAT
    for i in range(4):  # probation passed
        nat.send(rtp(1 + i, 160 * i, b"\xff" * 160), s.local_port)
    await wait_for(lambda: s.remote == nat.addr)
    s.set_remote(("127.0.0.1", 9), PCMU, direction="sendrecv")  # re-INVITE, same SDP
    assert s.remote == nat.addr
    s.set_remote(("127.0.0.1", 11), PCMU)  # a really new address: back to the SDP guess
    assert s.remote == ("127.0.0.1", 11)
    s.close()


async def test_no_timeout_while_remote_does_not_send(
        env: tuple[MediaClock, PortAllocator]) -> None:
    clock, alloc = env
    loop = asyncio.get_running_loop()
    s = await MediaSession.open(loop, alloc, "127.0.0.1", clock, rtp_timeout=1)
    fired: list[int] = []
    s.on_timeout = lambda: fired.append(1)
    s.set_remote(("127.0.0.1", 9), PCMU, direction="inactive")
    for n in range(0, 200, 50):  # drive the slow ticks by hand: 4 "seconds"
        s.tick(n)
    assert fired == []
    s.set_remote(("127.0.0.1", 9), PCMU, direction="sendrecv")
    for n in range(0, 200, 50):
        s.tick(n)
    assert fired == [1]
    s.close()
