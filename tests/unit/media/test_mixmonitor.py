"""MixMonitor: both directions on one timeline, mixed and streamed to a WAV."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pbx.media.codecs import G722, PCMU, Codec, ulaw_decode, ulaw_encode
from pbx.media.mixmonitor import FLUSH_TICKS, MixMonitor, MonitorFiles, volume_factor
from pbx.media.wav import read_wav


class FakeLoop:
    def __init__(self) -> None:
        self.t = 100.0

    def time(self) -> float:
        return self.t


class FakeClock:
    def __init__(self) -> None:
        self.tickers: list[Any] = []
        self.n = 0

    def add(self, t: Any) -> None:
        self.tickers.append(t)

    def remove(self, t: Any) -> None:
        if t in self.tickers:
            self.tickers.remove(t)


class FakeSession:
    """The parts of MediaSession MixMonitor uses: codec, loop, monitor, close callbacks."""

    def __init__(self, codec: Codec = PCMU) -> None:
        self.codec = codec
        self.loop = FakeLoop()
        self.monitor: Any = None
        self._close: list[Any] = []

    def set_monitor(self, monitor: Any) -> None:
        self.monitor = monitor

    def add_close_callback(self, cb: Any) -> None:
        self._close.append(cb)

    def remove_close_callback(self, cb: Any) -> None:
        if cb in self._close:
            self._close.remove(cb)

    def close(self) -> None:
        for cb in list(self._close):
            cb()


def tone(freq: float, n: int, amp: float = 6000.0) -> bytes:
    t = np.arange(n) / 8000.0
    return (amp * np.sin(2 * np.pi * freq * t)).astype("<i2").tobytes()


def run_call(session: FakeSession, clock: FakeClock, frames: int, *, rx: bytes | None,
             tx: bytes | None, skip_rx: set[int] = frozenset(), late_rx: int = 0,  # type: ignore[assignment]
             rx_ts_jump: dict[int, int] | None = None) -> None:
    """20 ms frames: each tick's packets arrive as their audio ends (exact timing);
    from the sixth on, rx frames arrive `late_rx` ticks late (jitter)."""
    pending: list[tuple[int, int]] = []
    ts_off = 0
    for i in range(frames):
        session.loop.t += 0.020
        if rx_ts_jump and i in rx_ts_jump:
            ts_off += rx_ts_jump[i]
        if rx is not None and i not in skip_rx:
            pending.append((i + (late_rx if i >= 5 else 0), i))
        for due, j in [p for p in pending if p[0] <= i]:
            pending.remove((due, j))
            frame = ulaw_encode(rx[j * 320:(j + 1) * 320])
            session.monitor.rx(frame, 0, j, 1000 + j * 160 - ts_off)
        if tx is not None:
            session.monitor.tx(ulaw_encode(tx[i * 320:(i + 1) * 320]), 5000 + i * 160)
        for t in list(clock.tickers):
            t.tick(clock.n)
        clock.n += 1


def monitor(tmp_path: Path, **kw: Any) -> tuple[MixMonitor, FakeSession, FakeClock]:
    session, clock = FakeSession(kw.pop("codec", PCMU)), FakeClock()
    files = kw.pop("files", MonitorFiles(str(tmp_path / "call.wav")))
    m = MixMonitor(session, clock, files, **kw)
    m.start()
    return m, session, clock


def g711(pcm: bytes) -> np.ndarray:
    return np.frombuffer(ulaw_decode(ulaw_encode(pcm)), dtype="<i2").astype(np.int32)


def test_both_directions_mixed_in_step(tmp_path: Path) -> None:
    m, session, clock = monitor(tmp_path)
    rx, tx = tone(400, 8000), tone(1000, 8000)
    run_call(session, clock, 50, rx=rx, tx=tx)
    m.stop()
    assert session.monitor is None and clock.tickers == []
    got = np.frombuffer(read_wav(tmp_path / "call.wav"), dtype="<i2").astype(np.int32)
    want = g711(rx)[:len(got)] + g711(tx)[:len(got)]
    assert len(got) == 50 * 160
    assert np.array_equal(got, np.clip(want, -32768, 32767))


def test_late_packets_find_their_place_lost_ones_are_silence(tmp_path: Path) -> None:
    m, session, clock = monitor(tmp_path)
    rx = tone(400, 8000)
    run_call(session, clock, 50, rx=rx, tx=None, late_rx=4, skip_rx={20})
    m.stop()
    got = np.frombuffer(read_wav(tmp_path / "call.wav"), dtype="<i2").astype(np.int32)
    want = g711(rx)
    assert np.array_equal(got[:20 * 160], want[:20 * 160])  # 80 ms late: still in place
    assert not got[20 * 160:21 * 160].any()  # the lost packet
    assert np.array_equal(got[21 * 160:46 * 160], want[21 * 160:46 * 160])


def test_a_timestamp_that_did_not_move_over_a_pause_is_reanchored(tmp_path: Path) -> None:
    m, session, clock = monitor(tmp_path)
    rx = tone(400, 8000)
    # Frames 10..29 are not sent (a hold); the phone resumes without moving its
    # timestamps on: the audio goes where the clock says, not 400 ms early.
    run_call(session, clock, 50, rx=rx, tx=None, skip_rx=set(range(10, 30)),
             rx_ts_jump={30: 20 * 160})
    m.stop()
    got = np.frombuffer(read_wav(tmp_path / "call.wav"), dtype="<i2").astype(np.int32)
    assert not got[10 * 160:30 * 160].any()
    assert np.array_equal(got[30 * 160:50 * 160], g711(rx)[30 * 160:50 * 160])


def test_volumes_and_separate_files(tmp_path: Path) -> None:
    files = MonitorFiles(str(tmp_path / "mix.wav"), str(tmp_path / "in.wav"),
                         str(tmp_path / "out.wav"))
    m, session, clock = monitor(tmp_path, files=files, rx_volume=volume_factor(1),
                                tx_volume=volume_factor(-1))
    rx, tx = tone(400, 8000, 3000), tone(1000, 8000, 3000)
    run_call(session, clock, 30, rx=rx, tx=tx)
    m.stop()
    mix, heard, spoken = (np.frombuffer(read_wav(tmp_path / n), dtype="<i2").astype(np.int32)
                          for n in ("mix.wav", "in.wav", "out.wav"))
    n = 30 * 160
    assert np.array_equal(heard, g711(rx)[:n] * 2)
    assert np.array_equal(spoken, (g711(tx)[:n] * 0.5).astype(np.int32))
    assert np.array_equal(mix, heard + spoken)
    assert volume_factor(0) == 1.0 and volume_factor(-4) == 1 / 16


def test_inactive_time_is_left_out_of_the_file(tmp_path: Path) -> None:
    m, session, clock = monitor(tmp_path, active=False, only_bridged=True)
    rx = tone(400, 8000)
    run_call(session, clock, 10, rx=rx, tx=None)  # not bridged yet: nothing written
    m.set_active(True)
    run_call(session, clock, 20, rx=rx, tx=None)
    m.stop()
    assert len(read_wav(tmp_path / "call.wav")) == 20 * 320


def test_file_is_valid_on_disk_while_recording_and_append_continues_it(tmp_path: Path) -> None:
    _, session, clock = monitor(tmp_path)
    run_call(session, clock, 2 * FLUSH_TICKS + 20, rx=tone(400, 16000), tx=None)
    # Not stopped (a crash now): the file on disk is a WAV with what was flushed.
    mid = read_wav(tmp_path / "call.wav")
    assert len(mid) >= 2 * FLUSH_TICKS * 320 - 0.2 * 16000
    session.close()  # the call ends: the monitor stops by itself
    first = len(read_wav(tmp_path / "call.wav"))
    m2, session2, clock2 = monitor(tmp_path, append=True, rate=16000)
    assert m2.rate == 8000  # appending keeps the file's rate
    run_call(session2, clock2, 25, rx=tone(400, 16000), tx=None)
    m2.stop()
    assert len(read_wav(tmp_path / "call.wav")) == first + 25 * 320


def test_a_wideband_leg_recorded_at_16khz(tmp_path: Path) -> None:
    session, clock = FakeSession(G722), FakeClock()
    m = MixMonitor(session, clock, MonitorFiles(str(tmp_path / "wb.wav")), rate=16000)
    m.start()
    enc = G722.new_encoder()
    pcm = (6000 * np.sin(2 * np.pi * 5000 * np.arange(16000) / 16000)).astype("<i2").tobytes()
    for i in range(40):
        session.loop.t += 0.02
        session.monitor.rx(enc(pcm[i * 640:(i + 1) * 640]), 0, i, i * 160)
        for t in list(clock.tickers):
            t.tick(i)
    m.stop()
    got = np.frombuffer(read_wav(tmp_path / "wb.wav", 16000), dtype="<i2").astype(float)
    assert len(got) == 40 * 320
    spectrum = np.abs(np.fft.rfft(got[3200:]))
    assert abs(np.argmax(spectrum) * 16000 / len(got[3200:]) - 5000) < 50  # 5 kHz survives
