"""Recorder: incoming audio -> 16-bit PCM -> WAV, streamed to disk as it arrives.

The WAV has the rate of the leg's codec when recording starts: 8 kHz from a
G.711 leg, 16 kHz from a G.722 leg (wideband kept, as Asterisk's wav16). The
stream has its own decoder (G.722 carries state between frames); if a
re-INVITE changes the codec mid-recording, the new one is decoded and
resampled to the recording's rate.

Stops on a DTMF terminator ('#'), on silence of a given length (mean
absolute sample value below a threshold, like Asterisk's silencethreshold
128), on a maximum duration, or on hangup; what was recorded is kept in every
case. Frames go to `<path>.part` as they arrive (pbx/media/wavstream.py),
flushed with a valid header every FLUSH_TICKS clock ticks, so a crash keeps
all but the last fraction of a second; when the recording ends the file is
fsynced and renamed to `path`. A write that fails (disk full, file size
limit, read-only spool) ends the recording at once with StorageError, while
the caller is still there to be told.
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
from pbx.media.wavstream import WavStream

# Like Asterisk's Record(): when stopped by silence, keep only this much of it.
KEEP_SILENCE = 0.2
# Clock ticks (20 ms) between flushes to disk: at most 200 ms lost in a crash.
FLUSH_TICKS = 10
PART_SUFFIX = ".part"


class StorageError(OSError):
    """The recording could not be written (the message names the file and why)."""

    def __str__(self) -> str:
        return self.strerror or super().__str__()


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
        self._wav: WavStream | None = None
        self._ticks = 0
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
        try:
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            self._wav = WavStream(self.path + PART_SUFFIX, self.rate)
        except OSError as exc:
            self._fut.set_exception(_storage_error(self.path, exc))
            return self._fut
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
        wav = self._wav
        if self._fut is None or wav is None:
            return
        try:
            wav.write(pcm)
        except OSError as exc:
            self._fail(exc)
            return
        if self.silence_seconds:
            level = np.abs(np.frombuffer(pcm, dtype="<i2").astype(np.int32)).mean()
            if level >= self.silence_threshold:
                self._last_loud = self.session.loop.time()
                self._loud_bytes = wav.data_bytes

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
        else:
            self._ticks += 1
            if self._ticks >= FLUSH_TICKS and self._wav is not None:
                self._ticks = 0
                try:
                    self._wav.flush()
                except OSError as exc:
                    self._fail(exc)

    def stop(self, reason: str = "stopped") -> None:
        """End the recording now (e.g. the application was told to)."""
        self._finish(reason)

    def _detach(self) -> asyncio.Future[RecordResult] | None:
        fut = self._fut
        if fut is None or fut.done():
            return None
        self._fut = None
        self.clock.remove(self)
        if self.session.consumer is self:
            self.session.set_consumer(self._prev_consumer)
        return fut

    def _fail(self, exc: OSError) -> None:
        """A write failed: stop now; what was written stays in the .part file."""
        fut = self._detach()
        if fut is None:
            return
        if self._wav is not None:
            self._wav.abandon()
        fut.set_exception(_storage_error(self.path, exc))

    def _finish(self, reason: str) -> None:
        fut = self._detach()
        if fut is None:
            return
        wav = self._wav
        assert wav is not None
        try:
            if reason == "silence":
                wav.truncate(self._loud_bytes + int(KEEP_SILENCE * 2 * self.rate))
            wav.close()
            os.replace(wav.path, self.path)
        except OSError as exc:  # disk full, bad folder: the caller must know
            wav.abandon()
            fut.set_exception(_storage_error(self.path, exc))
            return
        fut.set_result(RecordResult(self.path, wav.data_bytes / (2 * self.rate), reason,
                                    self._digit))


def _storage_error(path: str, exc: OSError) -> StorageError:
    err = StorageError(exc.errno, f"cannot write {path}: {exc.strerror or exc}")
    err.filename = path
    return err
