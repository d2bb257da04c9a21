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
        self._file = open(path, "wb")  # noqa: SIM115 - closed by close()
        try:
            self._file.write(_header(rate, 0))
            self._file.flush()
        except BaseException:
            self._file.close()
            raise

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
        os.pwrite(fd, struct.pack("<I", 36 + n), 4)
        os.pwrite(fd, struct.pack("<I", n), 40)
        self._flushed = self.data_bytes

    def truncate(self, data_bytes: int) -> None:
        """Keep only the first `data_bytes` of audio (e.g. trailing silence cut)."""
        self._file.flush()
        data_bytes = max(0, min(data_bytes, self.data_bytes))
        data_bytes -= data_bytes & 1
        self._file.truncate(HEADER_LEN + data_bytes)
        self._file.seek(HEADER_LEN + data_bytes)
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
