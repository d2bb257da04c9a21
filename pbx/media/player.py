"""Prompt player: one RTP packet per clock tick, sliced from cached payloads.

The payloads are the PromptLibrary's cached bytes (one object per prompt and
codec); frames are memoryview slices of them, so a thousand channels playing
the same prompt share its memory. A play request owns one Future, resolved
when the list has been played, stopped or the session closed.

A tone (PlayTones, Read's tones: pbx.media.tones) is a request like any
other, with a loop: after its items the player starts the loop payload again
for ever, so the tone plays until it is stopped or replaced.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pbx.media.clock import MediaClock
from pbx.media.codecs import silence
from pbx.media.session import MediaSession


@dataclass(slots=True)
class PlayResult:
    """How a play request ended."""

    completed: bool  # every available prompt played to its end
    reason: str = "done"  # "done" | "stopped" | "hangup" | "replaced"
    frames: int = 0
    missing: list[str] = field(default_factory=list)  # names that were not found


class Player:
    """Plays on one MediaSession; reusable for successive requests."""

    __slots__ = (
        "_end",
        "_first",
        "_frame",
        "_fut",
        "_items",
        "_loop",
        "_mv",
        "_pos",
        "_result",
        "_send",
        "_tone",
        "clock",
        "session",
    )

    def __init__(self, session: MediaSession, clock: MediaClock | None = None) -> None:
        self.session = session
        self.clock = clock or session.clock
        self._send = session.send_audio
        self._fut: asyncio.Future[PlayResult] | None = None
        self._items: list[memoryview] = []
        self._loop: memoryview | None = None  # played again and again after the items
        self._tone = False  # the request in progress is a tone (stop_tone ends it)
        self._mv: memoryview = memoryview(b"")
        self._pos = 0
        self._end = 0
        self._frame = 160
        self._first = True
        self._result = PlayResult(False)

    @property
    def playing(self) -> bool:
        """True while a request is in progress."""
        return self._fut is not None

    @property
    def playing_tone(self) -> bool:
        """True while a tone (play_tone) is in progress."""
        return self._fut is not None and self._tone

    def play_tone(self, intro: bytes, loop: bytes) -> asyncio.Future[PlayResult]:
        """Play `intro` once, then `loop` for ever (b"": stop after the intro);
        the future resolves when stopped, replaced or the session closes."""
        fut = self.play([intro] if intro else [], repeat=loop)
        self._tone = True
        return fut

    def stop_tone(self) -> None:
        """Stop the request in progress if it is a tone (StopPlayTones)."""
        if self._fut is not None and self._tone:
            self._finish(False, "stopped")

    def play(self, payloads: Sequence[bytes | None],
             names: Sequence[str] | None = None, *,
             repeat: bytes | None = None) -> asyncio.Future[PlayResult]:
        """Play encoded payloads (already in the session's codec) back to back.

        None entries (prompts not found) are skipped and listed in the
        result's `missing` (by `names` when given). `repeat` is played after
        them again and again until stop(). A request in progress is ended with
        reason "replaced".
        """
        if self._fut is not None:
            self._finish(False, "replaced")
        loop = self.session.loop
        fut: asyncio.Future[PlayResult] = loop.create_future()
        missing = [(names[i] if names else str(i)) for i, p in enumerate(payloads) if p is None]
        self._items = [memoryview(p) for p in payloads if p]
        self._loop = memoryview(repeat) if repeat else None
        self._tone = False
        self._result = PlayResult(False, missing=missing)
        self._frame = self.session.samples_per_frame  # G.711, G.722: one octet per unit
        self._first = True
        if self.session.closed:
            self._result.reason = "hangup"
            fut.set_result(self._result)
            return fut
        self._fut = fut
        if not self._next_item():
            self._fut = None
            self._result.completed = True
            fut.set_result(self._result)
            return fut
        self.session.add_close_callback(self._on_close)
        self.clock.add(self)
        return fut

    def play_prompts(self, library: Any, names: Sequence[str]) -> asyncio.Future[PlayResult]:
        """Look `names` up in a PromptLibrary for the session's codec and play them."""
        codec = self.session.codec
        return self.play([library.get(n, codec) for n in names], names)

    def stop(self) -> None:
        """Interrupt playback (e.g. a DTMF digit during Background)."""
        if self._fut is not None:
            self._finish(False, "stopped")

    def _next_item(self) -> bool:
        if self._items:
            self._mv = self._items.pop(0)
        elif self._loop is not None:
            self._mv = self._loop
        else:
            return False
        self._pos = 0
        self._end = len(self._mv)
        return True

    def tick(self, n: int) -> None:
        """Clock: send the next frame (the per-packet hot path)."""
        pos = self._pos
        nxt = pos + self._frame
        if nxt <= self._end:
            frame: Any = self._mv[pos:nxt]
            self._pos = nxt
        else:
            frame = self._boundary_frame()
            if frame is None:
                self._finish(True, "done")
                return
        if self._first:
            self._first = False
            if self._send(frame, True):
                self._result.frames += 1
            else:
                self._first = True  # on hold: mark the first frame actually sent
        elif self._send(frame):
            self._result.frames += 1
        if self._pos >= self._end and not self._items and self._loop is None:
            self._finish(True, "done")

    def _boundary_frame(self) -> bytes | None:
        """A frame spanning the end of one prompt and the next one (no gap);
        the very last frame is padded with silence to keep 20 ms packets."""
        need = self._frame
        parts = [bytes(self._mv[self._pos:self._end])]
        have = len(parts[0])
        while have < need and self._next_item():
            take = min(need - have, self._end)
            parts.append(bytes(self._mv[:take]))
            self._pos = take
            have += take
        if have == 0:
            return None
        if have < need:
            self._pos = self._end
            parts.append(silence(self.session.codec, need - have))
        return b"".join(parts)

    def _on_close(self) -> None:
        if self._fut is not None:
            self._finish(False, "hangup")

    def _finish(self, completed: bool, reason: str) -> None:
        self.clock.remove(self)
        self.session.remove_close_callback(self._on_close)
        fut = self._fut
        self._fut = None
        self._items = []
        self._loop = None
        self._mv = memoryview(b"")
        self._pos = self._end = 0
        res = self._result
        res.completed = completed
        res.reason = reason
        if fut is not None and not fut.done():
            fut.set_result(res)
