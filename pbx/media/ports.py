"""RTP/RTCP port pairs from the configured `rtp.ports` range.

Each call leg gets an even RTP port and the odd port above it for RTCP
(RFC 3550 sec. 11). Both sockets are actually bound here, so a port taken by
another program is skipped rather than discovered later.
"""

from __future__ import annotations

import random
import socket
from collections import deque
from dataclasses import dataclass, field


class PortsExhausted(Exception):
    """No free even/odd port pair is left in the range."""


@dataclass(slots=True)
class PortPair:
    """Two bound, non-blocking UDP sockets: RTP on an even port, RTCP on +1."""

    rtp_port: int
    rtp_sock: socket.socket
    rtcp_sock: socket.socket
    _allocator: PortAllocator | None = field(default=None, repr=False)

    @property
    def rtcp_port(self) -> int:
        """The RTCP port (RTP port + 1)."""
        return self.rtp_port + 1

    def release(self, close: bool = True) -> None:
        """Give the pair back. `close=False` when asyncio transports own the
        sockets: they close them, and closing an fd twice could hit a reused one."""
        if self._allocator is not None:
            self._allocator.release(self, close)


class PortAllocator:
    """Hands out even RTP ports (RTCP = +1) in [low, high], chosen at random.

    Random, so an attacker cannot guess the next call's port from the last one
    (sequential ports make RTP injection easy); a just-released port is held
    back for a while (`quarantine`) so late packets of the previous call do
    not land in the new one. `rng` is for tests; the default draws from the
    OS (unpredictable, unlike the `random` module's seeded generator).
    """

    def __init__(self, low: int = 10000, high: int = 20000,
                 rng: random.Random | None = None) -> None:
        if low > high:
            raise ValueError(f"bad RTP port range {low}-{high}")
        self.low = low
        self.high = high
        first = low + (low & 1)  # first even port
        # The RTCP port (+1) must also be inside the range.
        self._ports = list(range(first, high, 2))
        if not self._ports:
            raise ValueError(f"RTP port range {low}-{high} holds no even/odd pair")
        self._rng = rng or random.SystemRandom()
        self._in_use: set[int] = set()
        # Recently released ports, reused last: a quarter of the range, at most 1,000.
        self._resting: deque[int] = deque(maxlen=min(1000, len(self._ports) // 4))
        self._resting_set: set[int] = set()  # the same ports: membership in O(1)

    @property
    def in_use(self) -> int:
        """Number of pairs currently allocated."""
        return len(self._in_use)

    @property
    def capacity(self) -> int:
        """Number of pairs in the range."""
        return len(self._ports)

    def allocate(self, host: str = "127.0.0.1") -> PortPair:
        """Bind a free pair on `host`; raise PortsExhausted when none is left."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        n = len(self._ports)
        # A few random draws find a free pair at once in all but a nearly full range;
        # then one walk from a random start, resting ports last, tries every pair.
        for _ in range(8):
            port = self._ports[self._rng.randrange(n)]
            if port not in self._in_use and port not in self._resting_set:
                pair = self._bind_pair(family, host, port)
                if pair is not None:
                    return pair
        start = self._rng.randrange(n)
        order = [self._ports[(start + i) % n] for i in range(n)]
        resting = self._resting_set
        for port in [p for p in order if p not in resting] + list(self._resting):
            if port not in self._in_use:
                pair = self._bind_pair(family, host, port)
                if pair is not None:
                    return pair
        raise PortsExhausted(
            f"no free RTP port pair in {self.low}-{self.high} ({len(self._in_use)} in use)"
        )

    def _bind_pair(self, family: int, host: str, port: int) -> PortPair | None:
        rtp = _bind(family, host, port)
        if rtp is None:
            return None
        rtcp = _bind(family, host, port + 1)
        if rtcp is None:
            rtp.close()
            return None
        self._in_use.add(port)
        return PortPair(port, rtp, rtcp, self)

    def release(self, pair: PortPair, close: bool = True) -> None:
        """Close the pair's sockets (unless `close` is False) and free the port."""
        if close:
            for s in (pair.rtp_sock, pair.rtcp_sock):
                try:
                    s.close()
                except OSError:
                    pass
        self._in_use.discard(pair.rtp_port)
        resting = self._resting
        if resting.maxlen and pair.rtp_port not in self._resting_set:
            if len(resting) == resting.maxlen:
                self._resting_set.discard(resting[0])  # about to fall off the left
            resting.append(pair.rtp_port)
            self._resting_set.add(pair.rtp_port)
        pair._allocator = None


def _bind(family: int, host: str, port: int) -> socket.socket | None:
    s = socket.socket(family, socket.SOCK_DGRAM)
    try:
        s.setblocking(False)
        s.bind((host, port))
    except OSError:
        s.close()
        return None
    return s
