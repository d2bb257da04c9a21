"""Recorder: incoming audio -> 16-bit PCM -> WAV, written atomically at the end.

The WAV has the rate of the leg's codec when recording starts: 8 kHz from a
G.711 leg, 16 kHz from a G.722 leg (wideband kept, as Asterisk's wav16). The
stream has its own decoder (G.722 carries state between frames); if a
re-INVITE changes the codec mid-recording, the new one is decoded and
resampled to the recording's rate.

Stops on a DTMF terminator ('#'), on silence of a given length (mean
absolute sample value below a threshold, like Asterisk's silencethreshold
128), on a maximum duration, or on hangup; what was recorded is kept in every
case. Frames are collected in memory (a voicemail is a few hundred KB) and
written once to `<path>.tmp`, then renamed over `path` (os.replace).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from pbx.media.clock import MediaClock
from pbx.media.codecs import CODECS_BY_PT, Codec
from pbx.media.session import MediaSession
from pbx.media.transcode import pcm_decoder

# Like Asterisk's Record(): when stopped by silence, keep only this much of it.
KEEP_SILENCE = 0.2


@dataclass(slots=True)
class RecordResult:
    """The finished recording."""

    path: str
    seconds: float
    stopped_by: str  # "dtmf" | "silence" | "maxduration" | "hangup" | "stopped"
    digit: str = ""  # the terminator pressed, when stopped_by == "dtmf"


class Recorder:
    """Consumer of one session's audio; `start()` returns the result's Future."""

    def __init__(self, session: MediaSession, path: str, *, terminators: str = "#",
                 silence_seconds: float = 0.0, silence_threshold: int = 128,
                 max_seconds: float = 0.0, clock: MediaClock | None = None) -> None:
        self.session = session
        self.clock = clock or session.clock
        self.path = path
        self.terminators = terminators
        self.silence_seconds = silence_seconds
        self.silence_threshold = silence_threshold
        self.max_seconds = max_seconds
        # A pass-through codec (Opus) cannot be decoded: nothing is recorded from it.
        self.rate = session.codec.sample_rate if session.codec.transcodable else 8000
        self._codec: Codec | None = None
        self._decode: Callable[[bytes], bytes] | None = None
        self._other: dict[int, Callable[[bytes], bytes]] = {}
        self._pcm = bytearray()
        self._fut: asyncio.Future[RecordResult] | None = None
        self._prev_consumer = None
        self._start = 0.0
        self._last_loud = 0.0  # loop time of the last frame above the threshold
        self._loud_bytes = 0  # PCM length at the end of that frame
        self._digit = ""

    def start(self) -> asyncio.Future[RecordResult]:
        """Begin recording; the Future resolves when it stops."""
        loop = self.session.loop
        self._fut = loop.create_future()
        self._start = self._last_loud = loop.time()
        if self.session.closed:
            self._finish("hangup")
            return self._fut
        self._prev_consumer = self.session.set_consumer(self)
        self.clock.add(self)
        return self._fut

    async def record(self) -> RecordResult:
        """start() and wait for the result."""
        return await self.start()

    # --- consumer interface (called from the session's datagram_received) ---
    def rtp(self, payload: bytes, marker: int, seq: int, ts: int) -> None:
        """An audio frame in the session's codec."""
        codec = self.session.codec
        if codec is not self._codec:
            self._codec = codec
            self._decode = pcm_decoder(codec, self.rate) if codec.transcodable else None
        if self._decode is not None:
            self._add(self._decode(payload))

    def rtp_other(self, payload: bytes, pt: int, marker: int, seq: int, ts: int) -> None:
        """A frame in another known (stateless) codec (the remote switched)."""
        decode = self._other.get(pt)
        if decode is None:
            codec = CODECS_BY_PT.get(pt)
            if codec is None:
                return
            decode = self._other[pt] = pcm_decoder(codec, self.rate)
        self._add(decode(payload))

    def _add(self, pcm: bytes) -> None:
        if self._fut is None:
            return
        self._pcm += pcm
        if self.silence_seconds:
            level = np.abs(np.frombuffer(pcm, dtype="<i2").astype(np.int32)).mean()
            if level >= self.silence_threshold:
                self._last_loud = self.session.loop.time()
                self._loud_bytes = len(self._pcm)

    def dtmf(self, digit: str) -> None:
        """A digit from the caller: a terminator ends the recording."""
        if digit in self.terminators and self._fut is not None:
            self._digit = digit
            self._finish("dtmf")

    def session_closed(self) -> None:
        """The caller hung up: keep what we have."""
        self._finish("hangup")

    # --- clock ---
    def tick(self, n: int) -> None:
        """Clock: duration and silence limits (also when no packets arrive)."""
        now = self.session.loop.time()
        if self.max_seconds and now - self._start >= self.max_seconds:
            self._finish("maxduration")
        elif self.silence_seconds and now - self._last_loud >= self.silence_seconds:
            self._finish("silence")

    def stop(self, reason: str = "stopped") -> None:
        """End the recording now (e.g. the application was told to)."""
        self._finish(reason)

    def _finish(self, reason: str) -> None:
        fut = self._fut
        if fut is None or fut.done():
            return
        self._fut = None
        self.clock.remove(self)
        if self.session.consumer is self:
            self.session.set_consumer(self._prev_consumer)
        pcm = self._pcm
        if reason == "silence":
            keep = self._loud_bytes + int(KEEP_SILENCE * 2 * self.rate)
            del pcm[keep - (keep & 1):]
        try:
            _write_atomic(self.path, bytes(pcm), self.rate)
        except Exception as exc:  # disk full, bad folder: the caller must know
            fut.set_exception(exc)
            return
        fut.set_result(RecordResult(self.path, len(pcm) / (2 * self.rate), reason, self._digit))


def _write_atomic(path: str, pcm: bytes, rate: int) -> None:
    """Write the WAV next to `path` under a temporary name, then rename it."""
    from pbx.media.wav import write_wav

    # write_wav is itself atomic (tmp + os.replace); the folder must exist.
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    write_wav(path, pcm, rate)
