"""Echo(): what the caller sends comes straight back.

Runs entirely inside the session's datagram_received (no clock): the
payload is re-sent untouched under our own SSRC, with sequence numbers and
timestamps mapped from the caller's (so loss and timing are preserved).
"""

from __future__ import annotations

import asyncio

from pbx.media.session import MediaSession


class Echo:
    """Consumer that returns each packet to its sender; ends on '#' or hangup."""

    __slots__ = ("_forward", "_fut", "_prev", "echoed", "session", "terminators")

    def __init__(self, session: MediaSession, terminators: str = "#") -> None:
        self.session = session
        self.terminators = terminators
        self.echoed = 0
        self._fut: asyncio.Future[str] | None = None
        self._prev = None
        self._forward = session.forward

    def start(self) -> asyncio.Future[str]:
        """Begin echoing; the Future gives the reason it ended ("dtmf"/"hangup"/"stopped")."""
        self._fut = self.session.loop.create_future()
        if self.session.closed:
            self._end("hangup")
        else:
            self._prev = self.session.set_consumer(self)
        return self._fut

    def rtp(self, payload: bytes, marker: int, seq: int, ts: int) -> None:
        """Hot path: send the payload back at once."""
        if self._forward(payload, marker, seq, ts, self):
            self.echoed += 1

    def dtmf(self, digit: str) -> None:
        """A terminator digit ends the echo."""
        if digit in self.terminators:
            self._end("dtmf")

    def session_closed(self) -> None:
        """Hangup."""
        self._end("hangup")

    def stop(self) -> None:
        """End the echo from outside."""
        self._end("stopped")

    def _end(self, reason: str) -> None:
        if self.session.consumer is self:
            self.session.set_consumer(self._prev)
        fut = self._fut
        if fut is not None and not fut.done():
            fut.set_result(reason)
