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
   lookup for every G.711 member at once), to be sent at the start of the next
   tick: the MixEngine of the clock has every room send before any room mixes,
   so packets leave at times as regular as a prompt's, whatever the mixing
   costs (one frame, 20 ms, of delay).

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
from pbx.media.resample import BatchDownsampler, BatchUpsampler, converter
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
_SILENCE_U, _SILENCE_A = b"\xff" * OCTETS, b"\xd5" * OCTETS  # what a silent member "says"


def _pcm16(x: np.ndarray) -> bytes:
    """int32 samples, clipped to 16-bit little-endian PCM."""
    return np.clip(x, -32768, 32767).astype("<i2").tobytes()


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
        self.mixer: Mixer | None = mixer  # None once out of the room
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
        if self.mixer is not None:
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
        if law >= 0:  # by table, all G.711 members at once (resampled as a batch at 16 kHz)
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


class MixEngine:
    """Drives the mixers of every room on one media clock: each tick, every room
    sends what it mixed at the previous tick, then every room mixes the next
    frame. So no packet waits for other rooms' mixing: the send times are as
    regular as a prompt's (the playback timing of the 999 test)."""

    def __init__(self, clock: MediaClock) -> None:
        self.clock = clock
        self.mixers: dict[Mixer, None] = {}

    def add(self, mixer: Mixer) -> None:
        if not self.mixers:
            self.clock.add(self)
        self.mixers[mixer] = None

    def remove(self, mixer: Mixer) -> None:
        if self.mixers.pop(mixer, 0) is None and not self.mixers:
            self.clock.remove(self)

    def tick(self, n: int) -> None:
        mixers = tuple(self.mixers)
        for m in mixers:
            m.flush()
        for m in mixers:
            try:
                m.mix(n)
            except Exception:  # one room's failure must not silence the others
                log.exception("conference mixer failed")


class Mixer:
    """The media of one room, driven while it has members by a MixEngine (or by the
    media clock itself: `tick` sends then mixes)."""

    def __init__(self, clock: MediaClock | MixEngine, *, fixed_rate: int = 0,
                 max_rate: int = 0) -> None:
        self.clock = clock
        self.fixed_rate = fixed_rate  # bridge profile internal_sample_rate (0: auto)
        self.max_rate = max_rate  # maximum_sample_rate (0: none)
        self.members: list[MixMember] = []
        self.announcer = Announcer()
        self.rate = fixed_rate or 8000
        self.n = self.rate // 50
        self.record: Callable[[bytes, int], None] | None = None  # (pcm, rate) each tick
        self.ticks = 0
        # Rebuilt when the members or the rate change (_rebuild):
        self._rows = np.zeros((0, self.n), dtype=np.int32)  # what each member says
        self._out = np.zeros((0, self.n), dtype=np.int32)  # what each member hears
        self._frames: list[bytes | bytearray] = []
        self._talk: list[int] = []
        self._g711: list[int] = []  # indices of the G.711 members (decoded by table)
        self._other: list[int] = []  # the others (G.722: decoder/encoder functions)
        self._laws = np.zeros((0, 1), dtype=np.intp)  # law of each G.711 member, a column
        self._only_g711 = True  # every member G.711 in an 8 kHz mix: the fast path
        self._up = BatchUpsampler()  # G.711 members in a 16 kHz mix
        self._down = BatchDownsampler()
        self._batch: list[MixMember] = []  # whose history the resamplers hold, in order
        self._pending: list[tuple[MixMember, bytes]] = []  # mixed, sent at the next tick
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
        m.mixer = None
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
            self._batch = []  # the resamplers' histories are for another rate
            self._dirty = True

    def _rebuild(self) -> None:
        members = self.members
        k, n = len(members), self.n
        self._rows = np.zeros((k, n), dtype=np.int32)
        self._out = np.zeros((k, n), dtype=np.int32)
        self._frames = [_SILENCE_U] * k
        self._talk = [0] * k
        self._g711 = [i for i, m in enumerate(members) if m.law >= 0]
        self._other = [i for i, m in enumerate(members) if m.law < 0]
        self._laws = np.array([[members[i].law] for i in self._g711], dtype=np.intp)
        self._only_g711 = self.rate == 8000 and not self._other
        if self.rate != 8000:
            # Each G.711 member keeps its resampling history across membership changes.
            now = [members[i] for i in self._g711]
            before = {id(m): j for j, m in enumerate(self._batch)}
            rows = [before.get(id(m)) for m in now]
            self._up.resize(rows)
            self._down.resize(rows)
            self._batch = now
        self._dirty = False

    # --- the clock --------------------------------------------------------------------
    def tick(self, n: int) -> None:
        """Driven by the media clock alone: send what the last tick mixed, mix the next."""
        self.flush()
        self.mix(n)

    def flush(self) -> None:
        """Send each member the frame mixed at the previous tick. Sending first, and
        for every room before any mixing (MixEngine), makes the send times as regular
        as a prompt's: they do not move with how long the mixing takes. Costs one
        frame (20 ms) of delay."""
        pending, self._pending = self._pending, []
        send = self._send
        for m, payload in pending:
            if m.mixer is self and not m.private:
                send(m, payload)

    def mix(self, n: int) -> None:
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
        frames, talk = self._frames, self._talk
        talking = False
        for i, m in enumerate(members):
            buf = m.buf
            if len(buf) >= OCTETS:
                if m.muted or m.private:
                    del buf[:OCTETS]  # drained all the same: no stale audio later
                else:
                    frames[i] = buf[:OCTETS]  # a bytearray: joined or decoded as it is
                    del buf[:OCTETS]
                    talk[i] = 1
                    talking = True
                    continue
            frames[i] = _SILENCE_U if m.law != 1 else _SILENCE_A
            talk[i] = 0
        if talking:
            rows = self._decode(frames, talk)
            total = rows.sum(axis=0, dtype=np.int32)
        else:
            rows = self._rows
            rows.fill(0)
            total = np.zeros(self.n, np.int32)
        ann = self.announcer.frame(self.rate, self.n)
        if ann is not None:
            total += ann
        if self.record is not None:
            self.record(_pcm16(total), self.rate)
        if not members:
            if ann is None:
                self._stop()
            return
        out = self._out
        np.subtract(total, rows, out=out)
        for i, m in enumerate(members):
            if m.listen != 1.0:
                np.multiply(out[i], m.listen, out=out[i], casting="unsafe")
        self._encode_and_send(out)

    def _decode(self, frames: list[bytes | bytearray], talk: list[int]) -> np.ndarray:
        """Every member's frame as a row of linear PCM at the mix rate (0: silent)."""
        members = self.members
        g711, other = self._g711, self._other
        if self._only_g711:
            codes = np.frombuffer(b"".join(frames), dtype=np.uint8).reshape(len(frames), OCTETS)
            rows = self._rows = _DECODE[self._laws, codes]
        else:
            rows = self._rows
            rows.fill(0)
            if g711:
                codes = np.frombuffer(b"".join([frames[i] for i in g711]),
                                      dtype=np.uint8).reshape(len(g711), OCTETS)
                pcm8 = _DECODE[self._laws, codes]
                rows[g711] = pcm8 if self.rate == 8000 else np.rint(self._up(pcm8))
            for i in other:
                if talk[i]:
                    pcm = np.frombuffer(members[i].decode(frames[i]), dtype="<i2")  # type: ignore[misc]
                    rows[i, :len(pcm)] = pcm[:self.n]
        np.multiply(rows, np.array(talk, dtype=np.int32)[:, None], out=rows)
        for i, m in enumerate(members):
            if m.talk != 1.0 and talk[i]:
                np.multiply(rows[i], m.talk, out=rows[i], casting="unsafe")
        return rows

    def _encode_and_send(self, out: np.ndarray) -> None:
        """Encode each member's frame; flush() sends them at the next tick."""
        members = self.members
        pending = self._pending
        send = lambda m, payload: pending.append((m, payload))  # noqa: E731
        if self._only_g711:
            np.minimum(out, 32767, out=out)
            np.maximum(out, -32768, out=out)
            # One table lookup encodes every member's frame.
            data = _ENCODE[self._laws, out & 0xFFFF].tobytes()
            for i, m in enumerate(members):
                if not m.private:
                    send(m, data[i * OCTETS:(i + 1) * OCTETS])
            return
        g711 = self._g711
        if g711:
            pcm8 = out[g711] if self.rate == 8000 else np.rint(self._down(out[g711]))
            np.clip(pcm8, -32768, 32767, out=pcm8)
            data = _ENCODE[self._laws, pcm8.astype(np.int32) & 0xFFFF].tobytes()
            for j, i in enumerate(g711):
                m = members[i]
                if not m.private:
                    send(m, data[j * OCTETS:(j + 1) * OCTETS])
        for i in self._other:
            m = members[i]
            if not m.private:
                row = out[i]
                send(m, m.encode(_pcm16(row)))  # type: ignore[misc]

    @staticmethod
    def _send(m: MixMember, payload: bytes) -> None:
        if m.resume:
            if m.session.send_audio(payload, True):
                m.resume = False
        else:
            m.session.send_audio(payload)
