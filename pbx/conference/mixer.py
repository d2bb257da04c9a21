"""The conference mixer: each member hears the sum of the others, never itself.

One `Mixer` per room, one tick per 20 ms of the shared media clock. Packets
arriving on a member's session are only appended to its input buffer (inside
datagram_received, no decoding). Each tick then:

1. takes one 20 ms frame from every member's buffer (a member with nothing
   buffered, muted, or hearing a private prompt or music contributes nothing);
2. decodes the frames to linear PCM at the mix rate into the rows of one
   int32 matrix (G.711 by a 256-entry table, G.722 by its stream decoder;
   8 kHz members upsampled in a 16 kHz mix);
3. sums the rows (plus the room's announcement, if one plays): `total`;
4. subtracts each member's own row from `total` (mix-minus) for the whole
   matrix at once, applies listening volumes, clips to 16 bits;
5. encodes each member's row in its codec (G.711: one 65,536-entry table
   lookup for every G.711 member at once) and sends it.

The mix runs at 8 kHz, or at 16 kHz while any member is wideband (G.722),
as Asterisk's softmix picks its internal rate (a bridge profile may fix or
cap it). Each member's input is a byte FIFO in its codec (G.711 and G.722
carry 8 octets per millisecond whatever the packet size), holding at most
MAX_BUFFER_MS: a member whose clock runs fast loses its oldest audio, a late
packet waits for the next tick: a small, self-adjusting jitter buffer.

numpy carries the per-sample work; no Python loop runs per sample. The
per-member Python work is one buffer slice, one decode call and one send.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from pbx.media.codecs import (
    ALAW_DECODE_TABLE,
    CODECS_BY_PT,
    ULAW_DECODE_TABLE,
    Codec,
    alaw_encode,
    ulaw_encode,
)
from pbx.media.resample import converter
from pbx.media.transcode import CannotTranscode, transcoder

if TYPE_CHECKING:
    from pbx.media.clock import MediaClock
    from pbx.media.session import MediaSession

log = logging.getLogger("pbx.conference")

FRAME_MS = 20
OCTETS = 8 * FRAME_MS  # one 20 ms frame of G.711 or G.722 (64 kbit/s): 160 octets
MAX_BUFFER_MS = 80  # per member: beyond this the oldest input is dropped

# Decode tables (code -> linear, int32 so sums never overflow) and encode
# tables (the sample read as uint16 -> code), for every G.711 member at once.
_DECODE = np.array([ULAW_DECODE_TABLE, ALAW_DECODE_TABLE], dtype=np.int32)
_ALL = np.arange(65536, dtype=np.uint16).astype("<u2").tobytes()
_ENCODE = np.array([np.frombuffer(ulaw_encode(_ALL), np.uint8),
                    np.frombuffer(alaw_encode(_ALL), np.uint8)])
_LAW = {"PCMU": 0, "PCMA": 1}


def can_mix(codec: Codec) -> bool:
    """Whether a leg with this codec can take part (Opus is only passed through)."""
    return codec.transcodable


def listen_gain(level: int) -> float:
    """A volume step as a gain: +1 doubles, +2 triples, -1 halves (Asterisk's
    integer steps without its no-op first step; see README)."""
    return float(level + 1) if level >= 0 else 1.0 / (1 - level)


class MixMember:
    """One member's media in the mixer: the consumer of its session's audio."""

    __slots__ = ("_other", "buf", "cap", "codec", "decode", "dropped", "encode", "law",
                 "listen", "mixer", "muted", "on_gone", "private", "received", "resume",
                 "session", "talk", "wideband")

    def __init__(self, mixer: Mixer, session: MediaSession) -> None:
        self.mixer = mixer
        self.session = session
        self.buf = bytearray()
        self.cap = OCTETS * MAX_BUFFER_MS // FRAME_MS
        self.codec: Codec | None = None
        self.law = -1  # 0/1: G.711 by table in an 8 kHz mix; -1: decode/encode functions
        self.decode: Callable[[bytes], bytes] | None = None
        self.encode: Callable[[bytes], bytes] | None = None
        self.wideband = False
        self.muted = False  # may not talk (room decides: mute, waiting, music)
        self.private = False  # hears a prompt or music of its own, not the mix
        self.resume = True  # the next frame sent starts a talkspurt (marker)
        self.talk = 1.0  # gain on what it says
        self.listen = 1.0  # gain on what it hears
        self.received = 0
        self.dropped = 0  # octets dropped from a full buffer
        self.on_gone: Callable[[], None] | None = None
        self._other: dict[int, Callable[[bytes], bytes] | None] = {}

    # --- consumer interface (inside the session's datagram_received) -------------
    def rtp(self, payload: bytes, marker: int, seq: int, ts: int) -> None:
        """Hot path: buffer the frame; the tick decodes it."""
        buf = self.buf
        buf += payload
        self.received += 1
        over = len(buf) - self.cap
        if over > 0:
            del buf[:over]
            self.dropped += over

    def rtp_other(self, payload: bytes, pt: int, marker: int, seq: int, ts: int) -> None:
        """The phone switched to another stateless codec it offered: convert it to
        the negotiated one (a byte table between the G.711 laws)."""
        if pt not in self._other:
            codec = CODECS_BY_PT.get(pt)
            try:
                self._other[pt] = (transcoder(codec, self.session.codec)
                                   if codec is not None else None)
            except CannotTranscode:
                self._other[pt] = None
        t = self._other[pt]
        if t is not None:
            self.rtp(t(payload), marker, seq, ts)

    def session_closed(self) -> None:
        """Hangup: the mixer forgets the member."""
        self.mixer.remove(self)
        if self.on_gone is not None:
            self.on_gone()

    # --- set-up ---------------------------------------------------------------------
    def setup(self, rate: int) -> None:
        """Decoder and encoder for the session's codec at the mix rate."""
        codec = self.session.codec
        self.codec = codec
        self.wideband = codec.sample_rate > 8000
        self._other.clear()
        law = _LAW.get(codec.name, -1)
        if law >= 0 and rate == 8000:
            self.law, self.decode, self.encode = law, None, None
            return
        self.law = -1
        decode, encode = codec.new_decoder(), codec.new_encoder()
        up = converter(codec.sample_rate, rate)
        down = converter(rate, codec.sample_rate)
        self.decode = decode if up is None else (lambda p: up(decode(p)))
        self.encode = encode if down is None else (lambda pcm: encode(down(pcm)))


class Announcer:
    """Prompts played into the room (join sounds, "the leader has left"...):
    linear PCM at the mix rate, one frame per tick, one request after another."""

    def __init__(self) -> None:
        self._items: list[tuple[np.ndarray, int, Any]] = []  # (samples, rate, done)
        self._pos = 0

    @property
    def playing(self) -> bool:
        return bool(self._items)

    def add(self, pcm: bytes, rate: int, done: Any = None) -> None:
        """Queue 16-bit PCM at `rate`; `done()` is called when it has played."""
        self._items.append((np.frombuffer(pcm, dtype="<i2"), rate, done))

    def frame(self, rate: int, n: int) -> np.ndarray | None:
        """The next `n` samples at `rate` (int32), or None when idle."""
        if not self._items:
            return None
        out = np.zeros(n, dtype=np.int32)
        filled = 0
        while filled < n and self._items:
            samples, item_rate, done = self._items[0]
            if item_rate != rate:  # the room changed rate mid-prompt: convert the rest
                from pbx.media.resample import resample_pcm

                rest = resample_pcm(samples[self._pos:].tobytes(), item_rate, rate)
                samples = np.frombuffer(rest, dtype="<i2")
                self._items[0] = (samples, rate, done)
                self._pos = 0
            take = min(n - filled, len(samples) - self._pos)
            out[filled:filled + take] = samples[self._pos:self._pos + take]
            filled += take
            self._pos += take
            if self._pos >= len(samples):
                self._items.pop(0)
                self._pos = 0
                if done is not None:
                    done()
        return out

    def clear(self) -> None:
        items, self._items, self._pos = self._items, [], 0
        for _, _, done in items:
            if done is not None:
                done()


class Mixer:
    """The media of one room, driven by the media clock while it has members."""

    def __init__(self, clock: MediaClock, *, fixed_rate: int = 0, max_rate: int = 0) -> None:
        self.clock = clock
        self.fixed_rate = fixed_rate  # bridge profile internal_sample_rate (0: auto)
        self.max_rate = max_rate  # maximum_sample_rate (0: none)
        self.members: list[MixMember] = []
        self.announcer = Announcer()
        self.rate = fixed_rate or 8000
        self.n = self.rate // 50
        self.record: Callable[[bytes, int], None] | None = None  # (pcm, rate) each tick
        self.ticks = 0
        self._rows = np.zeros((0, self.n), dtype=np.int32)
        self._out = np.zeros((0, self.n), dtype=np.int32)
        self._laws = np.zeros((0, 1), dtype=np.intp)
        self._all_g711 = True
        self._running = False
        self._dirty = True

    # --- membership -------------------------------------------------------------------
    def add(self, session: MediaSession) -> MixMember:
        """Take a session's audio into the room (its previous consumer is replaced)."""
        m = MixMember(self, session)
        self.members.append(m)
        self._dirty = True
        self._pick_rate()
        m.setup(self.rate)
        session.set_consumer(m)
        self._start()
        return m

    def remove(self, m: MixMember) -> None:
        """Take a member out (its session gets no consumer: its audio is dropped)."""
        if m not in self.members:
            return
        self.members.remove(m)
        if m.session.consumer is m:
            m.session.set_consumer(None)
        self._dirty = True
        self._pick_rate()
        if not self.members and not self.announcer.playing:
            self._stop()

    def announce(self, pcm: bytes, rate: int, done: Callable[[], None] | None = None) -> None:
        """Play 16-bit PCM into the room (everyone hears it, nobody's own voice)."""
        self.announcer.add(pcm, rate, done)
        self._start()

    def close(self) -> None:
        for m in list(self.members):
            self.remove(m)
        self.announcer.clear()
        self._stop()

    def _start(self) -> None:
        if not self._running:
            self._running = True
            self.clock.add(self)

    def _stop(self) -> None:
        if self._running:
            self._running = False
            self.clock.remove(self)

    def _pick_rate(self) -> None:
        if self.fixed_rate:
            rate = self.fixed_rate
        else:
            rate = 16000 if any(m.session.codec.sample_rate > 8000 for m in self.members) \
                else 8000
        if self.max_rate:
            rate = min(rate, self.max_rate)
        if rate != self.rate:
            log.debug("conference mixer: %d Hz -> %d Hz", self.rate, rate)
            self.rate = rate
            self.n = rate // 50
            for m in self.members:
                m.setup(rate)
            self._dirty = True

    def _rebuild(self) -> None:
        k, n = len(self.members), self.n
        if self._rows.shape != (k, n):
            self._rows = np.zeros((k, n), dtype=np.int32)
            self._out = np.zeros((k, n), dtype=np.int32)
        self._laws = np.array([[max(m.law, 0)] for m in self.members], dtype=np.intp)
        self._all_g711 = all(m.law >= 0 for m in self.members)
        self._dirty = False

    # --- the clock --------------------------------------------------------------------
    def tick(self, n: int) -> None:
        """Mix one 20 ms frame for everyone (the hot path: see the module docstring)."""
        members = self.members
        for m in members:
            if m.session.codec is not m.codec:  # a re-INVITE changed it
                self._pick_rate()
                m.setup(self.rate)
                self._dirty = True
        if self._dirty:
            self._rebuild()
        self.ticks += 1
        rows = self._rows
        talking = False
        for i, m in enumerate(members):
            buf = m.buf
            if len(buf) >= OCTETS:
                frame = bytes(buf[:OCTETS])
                del buf[:OCTETS]
            else:
                frame = None
            row = rows[i]
            if frame is None or m.muted or m.private:
                row.fill(0)
                continue
            talking = True
            if m.law >= 0:
                np.take(_DECODE[m.law], np.frombuffer(frame, dtype=np.uint8), out=row)
            else:
                pcm = np.frombuffer(m.decode(frame), dtype="<i2")  # type: ignore[misc]
                if len(pcm) != len(row):  # a short frame: pad (never longer: 20 ms in)
                    row.fill(0)
                    pcm = pcm[:len(row)]
                row[:len(pcm)] = pcm
            if m.talk != 1.0:
                np.multiply(row, m.talk, out=row, casting="unsafe")
        total = rows.sum(axis=0, dtype=np.int32) if talking else np.zeros(self.n, np.int32)
        ann = self.announcer.frame(self.rate, self.n)
        if ann is not None:
            total += ann
        if self.record is not None:
            self.record(np.clip(total, -32768, 32767).astype("<i2").tobytes(), self.rate)
        if not members:
            if ann is None:
                self._stop()
            return
        out = self._out
        np.subtract(total, rows, out=out)
        for i, m in enumerate(members):
            if m.listen != 1.0:
                np.multiply(out[i], m.listen, out=out[i], casting="unsafe")
        np.clip(out, -32768, 32767, out=out)
        if self._all_g711:
            # Every member G.711 in an 8 kHz mix: one table lookup encodes them all.
            data = _ENCODE[self._laws, out & 0xFFFF].tobytes()
            for i, m in enumerate(members):
                if not m.private:
                    self._send(m, data[i * OCTETS:(i + 1) * OCTETS])
            return
        for i, m in enumerate(members):
            if m.private:
                continue
            if m.law >= 0:
                payload = _ENCODE[m.law][out[i] & 0xFFFF].tobytes()
            else:
                payload = m.encode(out[i].astype("<i2").tobytes())  # type: ignore[misc]
            self._send(m, payload)

    @staticmethod
    def _send(m: MixMember, payload: bytes) -> None:
        if m.resume:
            if m.session.send_audio(payload, True):
                m.resume = False
        else:
            m.session.send_audio(payload)
