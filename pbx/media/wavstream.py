"""A WAV file written while the audio arrives, valid on disk at every flush.

The recorder appends 16-bit PCM as packets come in and calls `flush()` a few
times a second: the buffered samples go to the kernel and the header's two
sizes are rewritten for what is in the file, so a process killed at any
moment leaves a playable WAV holding everything up to the last flush (the
kernel keeps written data when a process dies; `close()` also fsyncs, for a
power cut). `repair()` fixes the header of a file whose writer died between
a write and the header update.

Written by hand rather than with the stdlib `wave` module: `wave` updates the
header only on close, which is exactly what a crash skips.
"""

from __future__ import annotations

import os
import struct

HEADER_LEN = 44


def _header(rate: int, data_bytes: int) -> bytes:
    return (b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
            + b"data" + struct.pack("<I", data_bytes))


class WavStream:
    """16-bit mono PCM WAV, appended to; every method may raise OSError
    (disk full, file too large, read-only), which the caller reports."""

    def __init__(self, path: str, rate: int = 8000) -> None:
        self.path = path
        self.rate = rate
        self.data_bytes = 0  # accepted by write()
        self._flushed = -1
        self._header_len = HEADER_LEN  # where the samples start
        self._file = open(path, "wb")  # noqa: SIM115 - closed by close()
        try:
            self._file.write(_header(rate, 0))
            self._file.flush()
        except BaseException:
            self._file.close()
            raise

    @classmethod
    def append(cls, path: str, rate: int = 8000) -> WavStream:
        """Continue the WAV at `path` (a new one at `rate` if there is none): its
        own rate is kept (`.rate`). It must be 16-bit mono PCM whose data chunk
        ends the file, as this class writes; OSError otherwise (nothing changed)."""
        if not os.path.exists(path) or os.path.getsize(path) <= HEADER_LEN:
            return cls(path, rate)
        from pbx.media.wav import WavError, read_wav_format

        with open(path, "rb") as f:
            head = f.read(65536)
        try:
            fmt = read_wav_format(path, head)
        except WavError as exc:
            raise OSError(f"cannot append to {path}: {exc}") from exc
        size = os.path.getsize(path)
        if (fmt.format_tag, fmt.channels, fmt.bits_per_sample) != (1, 1, 16) or \
                struct.unpack_from("<I", head, fmt.data_offset - 4)[0] not in (
                    size - fmt.data_offset, 0):
            raise OSError(f"cannot append to {path}: not a 16-bit mono PCM WAV ending with "
                          "its samples")
        self = cls.__new__(cls)
        self.path = path
        self.rate = fmt.sample_rate
        self._header_len = fmt.data_offset
        self.data_bytes = size - fmt.data_offset
        self._flushed = -1
        self._file = open(path, "r+b")  # noqa: SIM115 - closed by close()
        self._file.seek(0, os.SEEK_END)
        return self

    def write(self, pcm: bytes) -> None:
        """Append samples (buffered: cheap enough for every packet)."""
        self._file.write(pcm)
        self.data_bytes += len(pcm)

    def flush(self) -> None:
        """Hand what was written to the kernel and make the header say so."""
        if self._flushed == self.data_bytes:
            return
        f = self._file
        f.flush()
        n = self.data_bytes - (self.data_bytes & 1)
        fd = f.fileno()
        start = self._header_len
        os.pwrite(fd, struct.pack("<I", start - 8 + n), 4)
        os.pwrite(fd, struct.pack("<I", n), start - 4)
        self._flushed = self.data_bytes

    def truncate(self, data_bytes: int) -> None:
        """Keep only the first `data_bytes` of audio (e.g. trailing silence cut)."""
        self._file.flush()
        data_bytes = max(0, min(data_bytes, self.data_bytes))
        data_bytes -= data_bytes & 1
        self._file.truncate(self._header_len + data_bytes)
        self._file.seek(self._header_len + data_bytes)
        self.data_bytes = data_bytes
        self._flushed = -1

    def close(self, sync: bool = True) -> None:
        """Final header, fsync (unless told not to), close."""
        if self._file.closed:
            return
        try:
            self.flush()
            if sync:
                os.fsync(self._file.fileno())
        finally:
            self._file.close()

    def abandon(self) -> None:
        """Close without raising (after an error); the file stays as it is."""
        try:
            self._file.close()
        except OSError:
            pass

    @property
    def seconds(self) -> float:
        return self.data_bytes / (2 * self.rate)


def repair(path: str) -> float:
    """Make the header of a WAV written by WavStream match its length (after a
    crash); returns the seconds of audio it holds. OSError if unreadable."""
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        head = f.read(HEADER_LEN)
        if len(head) < HEADER_LEN or head[:4] != b"RIFF" or head[36:40] != b"data":
            raise OSError(f"{path}: not a recording written by the PBX")
        rate = struct.unpack_from("<I", head, 24)[0] or 8000
        n = max(0, size - HEADER_LEN)
        n -= n & 1
        f.truncate(HEADER_LEN + n)
        f.seek(0)
        f.write(_header(rate, n))
        f.flush()
        os.fsync(f.fileno())
    return n / (2 * rate)
