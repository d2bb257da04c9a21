"""A mixing conference: every party hears all the others (a three-way call).

Each party's session hands its audio to a consumer that decodes it to 8 kHz
PCM and keeps the last few frames; one ticker on the shared 20 ms media clock
takes a frame from each party, sums them once, and sends each party the sum
minus its own voice, encoded in its codec (silence when nobody speaks, so its
phone keeps receiving RTP). Mixing needs decoded audio, so unlike the two-party
relay it costs a decode and an encode per party and frame; it is meant for a
handful of parties (an attended transfer's three-way call), not for large
conferences. DTMF is not passed between parties.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable

import numpy as np

from pbx.media.clock import MediaClock
from pbx.media.codecs import CannotTranscode
from pbx.media.resample import converter
from pbx.media.session import MediaSession
from pbx.media.transcode import pcm_decoder

log = logging.getLogger(__name__)

RATE = 8000
FRAME = 160  # samples per 20 ms at 8 kHz
_BACKLOG = 3  # frames kept per party (a little jitter), older ones are dropped


class _Party:
    """The consumer on one party's session."""

    __slots__ = ("conference", "decode", "encode", "frames", "received", "session")

    def __init__(self, conference: Conference, session: MediaSession) -> None:
        self.conference = conference
        self.session = session
        codec = session.codec
        self.decode = pcm_decoder(codec, RATE)
        encode = codec.new_encoder()
        up = converter(RATE, codec.sample_rate)
        self.encode: Callable[[bytes], bytes] = encode if up is None else \
            (lambda pcm: encode(up(pcm)))
        self.frames: deque[np.ndarray] = deque(maxlen=_BACKLOG)
        self.received = 0

    def rtp(self, payload: bytes, marker: int, seq: int, ts: int) -> None:
        pcm = np.frombuffer(self.decode(payload), dtype="<i2")
        if len(pcm) != FRAME:  # another packet size: cut or pad to one frame
            pcm = np.resize(pcm, FRAME) if len(pcm) > FRAME else \
                np.pad(pcm, (0, FRAME - len(pcm)))
        self.frames.append(pcm.astype(np.int32))
        self.received += 1

    def session_closed(self) -> None:
        self.conference._closed(self.session)


class Conference:
    """Parties mixed together until each leaves (see the module docstring)."""

    def __init__(self, clock: MediaClock) -> None:
        self.clock = clock
        self._parties: dict[MediaSession, _Party] = {}
        self.on_closed: Callable[[MediaSession], None] | None = None
        self.sent = 0

    def __len__(self) -> int:
        return len(self._parties)

    def add(self, session: MediaSession) -> None:
        """``session`` hears the others and is heard (CannotTranscode for Opus)."""
        if not session.codec.transcodable:
            raise CannotTranscode(f"{session.codec.name} cannot be mixed")
        party = _Party(self, session)
        self._parties[session] = party
        session.set_consumer(party)
        self.clock.add(self)

    def remove(self, session: MediaSession) -> None:
        party = self._parties.pop(session, None)
        if party is not None and session.consumer is party:
            session.set_consumer(None)
        if not self._parties:
            self.clock.remove(self)

    def _closed(self, session: MediaSession) -> None:
        self.remove(session)
        if self.on_closed is not None:
            self.on_closed(session)

    def tick(self, n: int) -> None:
        """One 20 ms frame for everyone: the sum of the others."""
        parties = list(self._parties.values())
        frames = [p.frames.popleft() if p.frames else None for p in parties]
        total = np.zeros(FRAME, dtype=np.int32)
        for f in frames:
            if f is not None:
                total += f
        for party, own in zip(parties, frames, strict=True):
            mix = total - own if own is not None else total
            pcm = np.clip(mix, -32768, 32767).astype("<i2").tobytes()
            if party.session.send_audio(party.encode(pcm)):
                self.sent += 1
