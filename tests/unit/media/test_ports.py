"""Port pairs: even RTP, odd RTCP, bound, released, exhaustion message."""

from __future__ import annotations

import itertools
import random
import socket

import pytest

from pbx.media.ports import PortAllocator, PortsExhausted


def _free_base() -> int:
    # A range well inside the ephemeral-free area used only by this test run.
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return 30000 + (port % 1000) * 2


def test_pairs_are_even_and_odd_and_bound() -> None:
    base = _free_base()
    alloc = PortAllocator(base, base + 20)
    pairs = [alloc.allocate("127.0.0.1") for _ in range(3)]
    for p in pairs:
        assert p.rtp_port % 2 == 0
        assert p.rtcp_port == p.rtp_port + 1
        assert p.rtp_sock.getsockname()[1] == p.rtp_port
        assert p.rtcp_sock.getsockname()[1] == p.rtcp_port
    assert len({p.rtp_port for p in pairs}) == 3
    assert alloc.in_use == 3
    for p in pairs:
        p.release()
    assert alloc.in_use == 0


def test_exhaustion_and_release() -> None:
    base = _free_base()
    alloc = PortAllocator(base, base + 4)  # pairs base, base+2 (base+4 has no +1 in range)
    a = alloc.allocate()
    b = alloc.allocate()
    with pytest.raises(PortsExhausted) as ei:
        alloc.allocate()
    assert str(ei.value) == f"no free RTP port pair in {base}-{base + 4} (2 in use)"
    a.release()
    c = alloc.allocate()
    assert c.rtp_port == a.rtp_port
    b.release()
    c.release()


def test_busy_port_is_skipped() -> None:
    base = _free_base()
    blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    blocker.bind(("127.0.0.1", base + 1))  # RTCP port of the first pair is taken
    try:
        alloc = PortAllocator(base, base + 4)  # two pairs: base (blocked) and base+2
        for _ in range(5):  # whatever the random draws, the blocked pair is never handed out
            p = alloc.allocate()
            assert p.rtp_port == base + 2
            p.release()
    finally:
        blocker.close()


def test_ipv6_loopback() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")  # pragma: no cover
    base = _free_base()
    alloc = PortAllocator(base, base + 10)
    try:
        p = alloc.allocate("::1")
    except PortsExhausted:
        pytest.skip("::1 not configured on this host")  # pragma: no cover
    assert p.rtp_sock.family == socket.AF_INET6
    p.release()


def test_ports_are_random_not_sequential() -> None:
    """Issue 14: ports handed out in order are easy to guess."""
    base = _free_base()
    alloc = PortAllocator(base, base + 400)  # 200 pairs
    pairs = [alloc.allocate() for _ in range(10)]
    ports = [p.rtp_port for p in pairs]
    steps = {b - a for a, b in itertools.pairwise(ports)}
    assert steps != {2}, ports  # not base, base+2, base+4, ...
    assert len(set(ports)) == 10
    # Spread over the range: ten sequential pairs would span 18 ports.
    assert max(ports) - min(ports) > 40, ports
    for p in pairs:
        p.release()


def test_seeded_draws_are_reproducible_and_spread() -> None:
    base = _free_base()
    a = PortAllocator(base, base + 400, rng=random.Random(7))
    b = PortAllocator(base, base + 400, rng=random.Random(7))
    pa = a.allocate()
    pa.release()
    pb = b.allocate()
    assert pa.rtp_port == pb.rtp_port
    pb.release()


def test_released_port_rests_before_reuse() -> None:
    base = _free_base()
    alloc = PortAllocator(base, base + 40)  # 20 pairs: 5 rest after release
    first = alloc.allocate()
    port = first.rtp_port
    first.release()
    again = [alloc.allocate() for _ in range(15)]  # every non-resting pair
    assert port not in {p.rtp_port for p in again}
    last = alloc.allocate()  # only resting pairs are left: they are used, not refused
    assert last.rtp_port in range(base, base + 40, 2)
    for p in [*again, last]:
        p.release()
