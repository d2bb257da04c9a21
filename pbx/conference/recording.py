"""record_conference: the room as its members hear it, streamed to a WAV on disk.

Frames arrive from the mixer every tick (the whole mix, announcements
included) and go to `<file>.part` through pbx/media/wavstream.py, flushed with
a valid header every FLUSH_TICKS, so a crash keeps all but the last fraction
of a second; when the room ends the file is fsynced and renamed. The WAV has
the mix rate of the first frame; if the room changes rate later (a G.722
member joins), the rest is converted to it. A write that fails (disk full)
stops the recording with one log line; the conference goes on. What a crash
left as `.part` is repaired and renamed at the next start (`recover`).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from pbx.media.resample import converter
from pbx.media.wavstream import WavStream, repair

log = logging.getLogger("pbx.conference")

FLUSH_TICKS = 10
PART_SUFFIX = ".part"


def recording_path(monitor_dir: Path, room: str, record_file: str, timestamp: bool,
                   now: float | None = None) -> Path:
    """Asterisk's naming: `confbridge-<room>-<epoch>.wav` in the monitor folder, or
    the profile's record_file (relative to that folder), with `-<epoch>` before
    the extension when record_file_timestamp=yes."""
    stamp = int(time.time() if now is None else now)
    safe_room = "".join(c if c.isalnum() or c in "-_." else "_" for c in room)
    if not record_file:
        return monitor_dir / f"confbridge-{safe_room}-{stamp}.wav"
    path = Path(record_file)
    if not path.is_absolute():
        path = monitor_dir / path
    if path.suffix.lower() != ".wav":
        path = path.with_name(path.name + ".wav")
    if timestamp:
        path = path.with_name(f"{path.stem}-{stamp}{path.suffix}")
    return path


class ConferenceRecording:
    """Writes the mix; `write` is the mixer's record callback."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rate = 0
        self._wav: WavStream | None = None
        self._convert = None
        self._from_rate = 0
        self._ticks = 0
        self.failed = False

    def write(self, pcm: bytes, rate: int) -> None:
        if self.failed:
            return
        try:
            if self._wav is None:
                os.makedirs(self.path.parent, exist_ok=True)
                self.rate = rate
                self._wav = WavStream(str(self.path) + PART_SUFFIX, rate)
                log.info("conference recording to %s", self.path)
            if rate != self.rate:
                if rate != self._from_rate:
                    self._from_rate, self._convert = rate, converter(rate, self.rate)
                pcm = self._convert(pcm)  # type: ignore[misc]
            self._wav.write(pcm)
            self._ticks += 1
            if self._ticks >= FLUSH_TICKS:
                self._ticks = 0
                self._wav.flush()
        except OSError as exc:
            self._fail(exc)

    def close(self) -> Path | None:
        """Finish the file (renamed from .part); the path, or None if nothing was kept."""
        wav = self._wav
        if wav is None or self.failed:
            return None
        try:
            wav.close()
            os.replace(wav.path, self.path)
        except OSError as exc:
            self._fail(exc)
            return None
        return self.path

    def _fail(self, exc: OSError) -> None:
        self.failed = True
        if self._wav is not None:
            self._wav.abandon()
        log.error("conference recording %s stopped: %s", self.path, exc.strerror or exc)


def recover(monitor_dir: Path) -> list[Path]:
    """At start-up: recordings a crash left as `confbridge-*.wav.part` get their
    header fixed (wavstream.repair) and their final name; returns the files kept.
    (A record_file of another name stays `.part`, a valid WAV up to its last flush:
    the monitor folder is shared with other recorders, whose files are theirs.)"""
    kept: list[Path] = []
    if not monitor_dir.is_dir():
        return kept
    for part in sorted(monitor_dir.glob("confbridge-*.wav" + PART_SUFFIX)):
        final = part.with_name(part.name[:-len(PART_SUFFIX)])
        try:
            seconds = repair(str(part))
            os.replace(part, final)
        except OSError as exc:
            log.error("conference recording %s left by a crash: %s", part, exc)
            continue
        log.warning("conference recording %s was cut short by a crash: %.1f s kept", final,
                    seconds)
        kept.append(final)
    return kept
