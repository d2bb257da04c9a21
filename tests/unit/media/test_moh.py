"""Music on hold: one shared position per class, one encode per codec per tick."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import numpy as np
import pytest

from pbx.media.codecs import G722, OPUS, PCMA, PCMU, Codec, ulaw_decode, ulaw_encode
from pbx.media.moh import FRAME_BYTES, MohSource, MohStream, MusicOnHold
from pbx.moh_conf import MohClass, MohConfig


class FakeClock:
    """The MediaClock's add/remove; the test calls tick() itself."""

    def __init__(self) -> None:
        self.tickers: list[Any] = []
        self.n = 0
        self.loop = None

    def add(self, t: Any) -> None:
        if t not in self.tickers:
            self.tickers.append(t)

    def remove(self, t: Any) -> None:
        if t in self.tickers:
            self.tickers.remove(t)

    def tick(self, count: int = 1) -> None:
        for _ in range(count):
            for t in list(self.tickers):
                t.tick(self.n)
            self.n += 1


class FakeSession:
    """What music on hold uses of a MediaSession."""

    def __init__(self, codec: Codec = PCMU, can_send: bool = True) -> None:
        self.codec = codec
        self.sent: list[tuple[bytes, bool]] = []
        self.generating = False
        self.closed = False
        self.can_send = can_send
        self._close: list[Any] = []

    def send_audio(self, payload: bytes, marker: bool = False, samples: int = 0) -> bool:
        if not self.can_send:
            return False
        self.sent.append((bytes(payload), marker))
        return True

    def add_close_callback(self, cb: Any) -> None:
        self._close.append(cb)

    def remove_close_callback(self, cb: Any) -> None:
        if cb in self._close:
            self._close.remove(cb)

    def close(self) -> None:
        self.closed = True
        for cb in list(self._close):
            cb()


def ramp_files(n: int, seconds: float = 0.1) -> dict[str, bytes]:
    """n "files" of PCM whose samples say which file and where (file*10000 + i)."""
    k = int(8000 * seconds)
    return {f"/moh/{i}": (np.arange(k) % 5000 + 10000 * (i + 1) - 15000).astype("<i2").tobytes()
            for i in range(n)}


def source(files: dict[str, bytes], sort: str = "alpha", **kw: Any) -> MohSource:
    return MohSource(sorted(files), sort, loader=files.get, **kw)


def samples(frame: bytes) -> np.ndarray:
    return np.frombuffer(frame, dtype="<i2")


def test_source_plays_files_back_to_back_without_gaps_and_loops() -> None:
    files = ramp_files(3, seconds=0.05)  # 400 samples: 2.5 frames each
    src = source(files)
    src.start()
    pcm = b"".join(src.frame() for _ in range(15))  # 300 ms = two passes
    expected = b"".join(files[f] for f in sorted(files)) * 2
    assert pcm == expected[:len(pcm)]
    assert len(pcm) == 15 * FRAME_BYTES


def test_random_sort_shuffles_each_pass_and_randstart_starts_anywhere() -> None:
    files = ramp_files(6, seconds=0.02)  # one frame per file
    src = source(files, "random", rng=random.Random(3))
    src.start()
    heard = [int(samples(src.frame())[0]) for _ in range(12)]
    first, second = heard[:6], heard[6:]
    assert sorted(first) == sorted(second) == sorted(set(first))  # every file once a pass
    assert first != sorted(first) or second != sorted(second)
    starts = set()
    for seed in range(20):
        s = source(files, "randstart", rng=random.Random(seed))
        s.start()
        order = [int(samples(s.frame())[0]) for _ in range(6)]
        starts.add(order[0])
        i = sorted(order).index(order[0])
        assert order == sorted(order)[i:] + sorted(order)[:i]  # alphabetical from there
    assert len(starts) > 2


def test_a_file_loading_off_the_loop_gives_silence_then_the_music() -> None:
    pending: list[Any] = []
    files = ramp_files(2, seconds=0.04)
    src = source(files, submit=lambda job, done: pending.append((job, done)),
                 cache_budget=0)
    src.start()
    assert src.frame() == bytes(FRAME_BYTES)  # the first file is not loaded yet
    job, done = pending.pop(0)
    done(job())
    assert src.frame() == files["/moh/0"][:FRAME_BYTES]
    # While file 0 plays, file 1 is being read (prefetch): ready before it is needed.
    job, done = pending.pop(0)
    done(job())
    src.frame()
    assert src.frame()[:FRAME_BYTES] == files["/moh/1"][:FRAME_BYTES]


def test_unreadable_files_are_skipped_and_a_class_of_bad_files_stays_silent() -> None:
    files = ramp_files(2, seconds=0.02)
    files["/moh/0"] = None  # type: ignore[assignment]
    src = source(files)
    src.start()
    assert src.frame() == files["/moh/1"]
    bad = source({"/moh/x": None, "/moh/y": None})  # type: ignore[dict-item]
    bad.start()
    assert {bad.frame() for _ in range(5)} == {bytes(FRAME_BYTES)}


def stream(files: dict[str, bytes], clock: FakeClock) -> MohStream:
    klass = MohClass("default", files=tuple(sorted(files)))
    return MohStream(klass, clock, source(files))


def test_listeners_share_one_position_a_late_one_joins_where_the_music_is() -> None:
    clock = FakeClock()
    files = ramp_files(1, seconds=1.0)
    s = stream(files, clock)
    first = FakeSession()
    s.add(first)
    assert first.generating  # the bridge forwards nothing into a session hearing music
    clock.tick(10)
    late = FakeSession()
    s.add(late)
    clock.tick(5)
    assert first.sent[0][1] and late.sent[0][1]  # each first packet starts a talkspurt
    assert not any(m for _, m in first.sent[1:])
    # The late one hears what the first hears from its joining tick on.
    assert [p for p, _ in late.sent] == [p for p, _ in first.sent[10:]]
    pcm = ulaw_decode(b"".join(p for p, _ in first.sent))
    ref = files["/moh/0"][:len(pcm)]
    assert np.abs(samples(pcm).astype(int) - samples(ref)).max() < 600  # mu-law error


class CountingCodec:
    """Wraps a codec's encoder factory to count encodes."""

    def __init__(self, codec: Codec) -> None:
        self.calls: Counter[str] = Counter()
        base = codec

        def factory() -> Any:
            enc = base.new_encoder()

            def encode(pcm: bytes) -> bytes:
                self.calls[base.name] += 1
                return enc(pcm)
            return encode

        self.codec = Codec(base.name, base.payload_type, base.clock_rate, base.encode,
                           base.decode, sample_rate=base.sample_rate, encoder_factory=factory)


def test_one_encode_per_codec_per_tick_whatever_the_number_of_listeners() -> None:
    clock = FakeClock()
    s = stream(ramp_files(1, seconds=2.0), clock)
    ulaw, alaw, g722 = CountingCodec(PCMU), CountingCodec(PCMA), CountingCodec(G722)
    sessions = ([FakeSession(ulaw.codec) for _ in range(50)]
                + [FakeSession(alaw.codec) for _ in range(20)]
                + [FakeSession(g722.codec) for _ in range(5)])
    for sess in sessions:
        s.add(sess)
    clock.tick(25)
    assert ulaw.calls["PCMU"] == alaw.calls["PCMA"] == g722.calls["G722"] == 25
    assert all(len(x.sent) == 25 for x in sessions)
    # G.722 listeners hear the class at 16 kHz (160 octets a frame, like G.711).
    assert {len(p) for x in sessions[-5:] for p, _ in x.sent} == {160}
    assert s.sent == 25 * len(sessions)


def test_leaving_closing_and_the_class_keeping_its_place() -> None:
    clock = FakeClock()
    files = ramp_files(1, seconds=2.0)
    s = stream(files, clock)
    a, b = FakeSession(), FakeSession()
    la = s.add(a)
    s.add(b)
    clock.tick(3)
    la.stop()
    assert not a.generating and b.generating
    b.close()  # a session that ends leaves by itself
    assert len(s) == 0 and clock.tickers == []  # nobody hears it: it stops ticking
    clock.tick(5)
    c = FakeSession()
    s.add(c)
    clock.tick(1)
    # It goes on where it stopped (after the 3 frames heard), not from the start.
    assert c.sent[0][0] == ulaw_encode(files["/moh/0"][3 * FRAME_BYTES:4 * FRAME_BYTES])


def test_a_codec_change_moves_the_listener() -> None:
    clock = FakeClock()
    s = stream(ramp_files(1, seconds=1.0), clock)
    sess = FakeSession(PCMU)
    listener = s.add(sess)
    clock.tick(2)
    sess.codec = PCMA
    listener.refresh()
    clock.tick(2)
    assert listener.codec is PCMA and sess.sent[2][1]  # marked: a new stream
    assert sess.sent[3][0] != sess.sent[1][0]


def test_service_chooses_the_first_existing_class_else_default() -> None:
    clock = FakeClock()
    files = ramp_files(1)
    config = MohConfig(classes={
        "default": MohClass("default", files=tuple(files)),
        "jazz": MohClass("jazz", files=tuple(files))})
    moh = MusicOnHold(clock, config, submit=lambda job, done: done(job()), loader=files.get)
    assert moh.choose(None, "nope", "jazz").name == "jazz"
    assert moh.choose("", None).name == "default"
    listener = moh.start(FakeSession(), "nope", None)
    assert listener is not None and listener.name == "default"
    assert moh.start(FakeSession(OPUS)) is None  # passed through only: no music
    # A reload that changes a class: new listeners get the new stream.
    old = moh.streams["default"]
    moh.reload(MohConfig(classes={"default": MohClass("default", sort="random",
                                                       files=tuple(files))}))
    again = moh.start(FakeSession())
    assert again is not None and again.stream is not old and len(old) == 1


@pytest.mark.parametrize("codec", [PCMU, PCMA])
def test_music_survives_a_session_that_cannot_send(codec: Codec) -> None:
    clock = FakeClock()
    s = stream(ramp_files(1), clock)
    held = FakeSession(codec, can_send=False)  # the hearer itself holds: nothing goes out
    s.add(held)
    clock.tick(3)
    assert held.sent == [] and len(s) == 1
