"""Music on hold for a conference member alone in its room (music_on_hold_when_empty).

The PBX gives ConferenceService a `moh` factory, (session, class name) -> an
object with `stop()`: a listener of the class's shared stream
(pbx/media/moh.py, musiconhold.conf). `SilenceHold` sends encoded silence
where no class can play (and in tests); around it -- when music starts and
stops, the member's mute while it plays, suspending it for a menu prompt --
the room behaves as Asterisk's does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from pbx.media.codecs import silence

if TYPE_CHECKING:
    from pbx.media.session import MediaSession


class Hold(Protocol):
    """Music playing to one session until `stop()`."""

    def stop(self) -> None: ...


HoldFactory = Callable[["MediaSession", str], Hold]


class SilenceHold:
    """The stand-in class player: one frame of encoded silence per clock tick."""

    def __init__(self, session: MediaSession, moh_class: str) -> None:
        self.session = session
        self.moh_class = moh_class or "default"
        self._frame = silence(session.codec, 160)
        self._first = True
        self.sent = 0
        session.clock.add(self)

    def tick(self, n: int) -> None:
        if self.session.closed:
            self.stop()
            return
        if self.session.send_audio(self._frame, self._first):
            self._first = False
            self.sent += 1

    def stop(self) -> None:
        self.session.clock.remove(self)


def silence_hold(session: MediaSession, moh_class: str) -> Hold:
    """The default hold factory (silence): tests, and where no class can play."""
    return SilenceHold(session, moh_class)
