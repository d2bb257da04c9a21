"""MixMonitor: both directions of one session, mixed into a WAV as the call goes.

The session hands the monitor (`session.set_monitor`) every audio payload it
receives (`rx`: what the phone says) and sends (`tx`: what the phone hears,
bridged audio, prompts and music alike). Each direction has its own decoder
(G.722 keeps state) and its own place on one timeline: a packet lands at the
position its RTP timestamp gives, anchored to the media clock when the
direction starts (or jumps: a new source, a resume that did not advance its
timestamps), so jitter, loss and silence need no guessing and the two sides
stay in step. Every clock tick, what is older than `DELAY` is mixed (with the
`v`/`V` volume factors), written, and forgotten; the separate `r()`/`t()`
files get each side alone.

Writing is `WavStream`'s: samples go to the file as they are mixed and the
header is made true every `FLUSH_TICKS`, so a crash keeps a playable file of
everything but the last fraction of a second. A write that fails ends the
monitor (logged) and the call goes on, as Asterisk's does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from pbx.media.codecs import Codec
from pbx.media.transcode import pcm_decoder
from pbx.media.wavstream import WavStream

log = logging.getLogger(__name__)

DELAY = 0.2  # seconds a packet may arrive late and still be mixed in its place
BUFFER = 2.0  # seconds of timeline held per direction
REANCHOR = 0.5  # a packet this far from where the clock says it belongs moves the anchor
FLUSH_TICKS = 10  # 200 ms between header updates on disk


def volume_factor(level: int) -> float:
    """Asterisk's get_volfactor: -4..4 -> divide or multiply by 2**|level| (0: as is)."""
    if not -4 <= level <= 4:
        raise ValueError(f"volume must be between -4 and 4, got {level}")
    return float(2 ** level)


@dataclass(slots=True)
class MonitorFiles:
    """Where one MixMonitor writes: the mix and/or each direction alone."""

    mix: str | None = None
    rx: str | None = None  # r(): what the channel sends us (Asterisk's "read")
    tx: str | None = None  # t(): what we send the channel ("write")


class _Side:
    """One direction: decoder, anchor, and its part of the timeline."""

    __slots__ = ("anchor_pos", "anchor_ts", "buf", "codec", "decode", "monitor", "ratio",
                 "volume")

    def __init__(self, monitor: MixMonitor, volume: float) -> None:
        self.monitor = monitor
        self.volume = volume
        self.buf = np.zeros(int(BUFFER * monitor.rate), dtype=np.int16)
        self.codec: Codec | None = None
        self.decode: Callable[[bytes], bytes] | None = None
        self.ratio = 1
        self.anchor_pos: int | None = None
        self.anchor_ts = 0

    def add(self, payload: bytes, ts: int) -> None:
        m = self.monitor
        codec = m.session.codec
        if codec is not self.codec:
            self.codec = codec
            self.decode = pcm_decoder(codec, m.rate) if codec.transcodable else None
            self.ratio = max(1, m.rate // codec.clock_rate)
            self.anchor_pos = None
        if self.decode is None:
            return
        x = np.frombuffer(self.decode(payload), dtype="<i2")
        n = len(x)
        # This packet's audio ends about now: where the timeline says it belongs.
        here = m.position() - n
        if self.anchor_pos is None:
            self.anchor_pos, self.anchor_ts = here, ts
            pos = here
        else:
            dts = (ts - self.anchor_ts) & 0xFFFFFFFF
            if dts >= 0x80000000:
                dts -= 0x100000000
            pos = self.anchor_pos + dts * self.ratio
            # Far from now, or wholly in what was written already: the timestamps
            # jumped (a new source, a resume that kept counting from before).
            if abs(pos - here) > REANCHOR * m.rate or pos + n <= m.written:
                self.anchor_pos, self.anchor_ts = here, ts
                pos = here
        off = pos - m.written
        if off < 0:  # older than what was written already: too late
            if -off >= n:
                return
            x = x[-off:]
            off = 0
        end = min(off + len(x), len(self.buf))
        if end > off:
            self.buf[off:end] = x[:end - off]

    def take(self, k: int) -> np.ndarray:
        """The next k samples of this side (volume applied, as int32), forgotten after."""
        out = self.buf[:k].astype(np.int32)
        self.buf[:-k] = self.buf[k:].copy()
        self.buf[-k:] = 0
        if self.volume != 1.0:
            out = (out * self.volume).astype(np.int32)
        return out

    def reset(self) -> None:
        self.buf[:] = 0
        self.anchor_pos = None


class MixMonitor:
    """Records one session's two directions; `start()`, then `stop()` (or its close)."""

    def __init__(self, session: Any, clock: Any, files: MonitorFiles, *, rate: int = 8000,
                 rx_volume: float = 1.0, tx_volume: float = 1.0, append: bool = False,
                 active: bool = True, only_bridged: bool = False, monitor_id: str = "",
                 on_end: Callable[[MixMonitor], None] | None = None) -> None:
        self.session = session
        self.clock = clock
        self.files = files
        self.rate = rate
        self.append = append
        self.id = monitor_id
        self.on_end = on_end
        self.active = active  # False: time passes, nothing is written (the `b` option)
        self.only_bridged = only_bridged
        self.rx_side = _Side(self, rx_volume)
        self.tx_side = _Side(self, tx_volume)
        self.written = 0  # timeline samples done (written, or skipped while inactive)
        self._loop = session.loop
        self._t0 = 0.0
        self._wavs: dict[str, WavStream] = {}
        self._ticks = 0
        self.running = False
        self.error: str | None = None

    # --- life cycle -------------------------------------------------------------
    def start(self) -> None:
        """Open the files (OSError naming one if it cannot be) and start listening."""
        wavs: dict[str, WavStream] = {}
        try:
            for kind in ("mix", "rx", "tx"):
                path = getattr(self.files, kind)
                if path is None:
                    continue
                wavs[kind] = (WavStream.append(path, self.rate) if self.append
                              else WavStream(path, self.rate))
        except OSError:
            for w in wavs.values():
                w.abandon()
            raise
        rates = {w.rate for w in wavs.values()}
        if len(rates) == 1:
            self.rate = rates.pop()  # appending keeps the file's own rate
        self._wavs = wavs
        self.rx_side = _Side(self, self.rx_side.volume)  # buffers at the final rate
        self.tx_side = _Side(self, self.tx_side.volume)
        self._t0 = self._loop.time()
        self.running = True
        attach(self.session, self)
        self.session.add_close_callback(self.stop)
        self.clock.add(self)

    def position(self) -> int:
        """The timeline's present, in samples since the start."""
        return round((self._loop.time() - self._t0) * self.rate)

    def set_active(self, active: bool) -> None:
        """`b`: record only while bridged; the time outside is left out of the file."""
        if active != self.active:
            self.active = active
            self._skip_to(self.position())

    def stop(self) -> None:
        """Write what is buffered, make the files whole, let go of the session."""
        if not self.running:
            return
        self.running = False
        self.clock.remove(self)
        detach(self.session, self)
        self.session.remove_close_callback(self.stop)
        try:
            if self.active:
                self._emit(self.position())
            for w in self._wavs.values():
                w.close()
        except OSError as exc:
            self._failed(exc)
        if self.on_end is not None:
            self.on_end(self)

    # --- the monitor ------------------------------------------------------------------
    def rx(self, payload: bytes, marker: int, seq: int, ts: int) -> None:
        """Audio received from the channel (the session's receive path)."""
        if self.active:
            self.rx_side.add(payload, ts)

    def tx(self, payload: bytes, ts: int) -> None:
        """Audio sent to the channel."""
        if self.active:
            self.tx_side.add(payload, ts)

    # --- the clock ------------------------------------------------------------------
    def tick(self, n: int) -> None:
        """Mix and write what is older than DELAY; flush the headers now and then."""
        target = self.position() - int(DELAY * self.rate)
        if not self.active:
            self._skip_to(target)
            return
        if target - self.written >= self.rate // 10:
            try:
                self._emit(target)
            except OSError as exc:
                self._failed(exc)
                return
        self._ticks += 1
        if self._ticks >= FLUSH_TICKS:
            self._ticks = 0
            try:
                for w in self._wavs.values():
                    w.flush()
            except OSError as exc:
                self._failed(exc)

    def _emit(self, target: int) -> None:
        cap = len(self.rx_side.buf)
        while target > self.written:
            k = min(target - self.written, cap)
            rx = self.rx_side.take(k)
            tx = self.tx_side.take(k)
            wavs = self._wavs
            if "mix" in wavs:
                wavs["mix"].write(_pcm(rx + tx))
            if "rx" in wavs:
                wavs["rx"].write(_pcm(rx))
            if "tx" in wavs:
                wavs["tx"].write(_pcm(tx))
            self.written += k

    def _skip_to(self, target: int) -> None:
        if target > self.written:
            self.written = target
        self.rx_side.reset()
        self.tx_side.reset()

    def _failed(self, exc: OSError) -> None:
        self.error = f"{exc.strerror or exc}"
        log.error("MixMonitor %s: cannot write: %s", self.files.mix or self.files.rx
                  or self.files.tx, self.error)
        for w in self._wavs.values():
            w.abandon()
        if self.running:
            self.running = False
            self.clock.remove(self)
            detach(self.session, self)
            self.session.remove_close_callback(self.stop)
            if self.on_end is not None:
                self.on_end(self)

    @property
    def seconds(self) -> float:
        """Audio written so far (the mix, or the first file)."""
        w = next(iter(self._wavs.values()), None)
        return w.seconds if w is not None else 0.0


def _pcm(x: np.ndarray) -> bytes:
    return np.clip(x, -32768, 32767).astype("<i2").tobytes()


class _Monitors:
    """Several monitors on one session."""

    __slots__ = ("monitors",)

    def __init__(self, monitors: list[Any]) -> None:
        self.monitors = monitors

    def rx(self, payload: bytes, marker: int, seq: int, ts: int) -> None:
        for t in self.monitors:
            t.rx(payload, marker, seq, ts)

    def tx(self, payload: bytes, ts: int) -> None:
        for t in self.monitors:
            t.tx(payload, ts)


def attach(session: Any, monitor: Any) -> None:
    """Add `monitor` to the session's monitors."""
    current = session.monitor
    if current is None:
        session.set_monitor(monitor)
    elif isinstance(current, _Monitors):
        session.set_monitor(_Monitors([*current.monitors, monitor]))
    else:
        session.set_monitor(_Monitors([current, monitor]))


def detach(session: Any, monitor: Any) -> None:
    """Remove `monitor` from the session's monitors."""
    current = session.monitor
    if current is monitor:
        session.set_monitor(None)
    elif isinstance(current, _Monitors) and monitor in current.monitors:
        rest = [t for t in current.monitors if t is not monitor]
        session.set_monitor(rest[0] if len(rest) == 1 else _Monitors(rest))
