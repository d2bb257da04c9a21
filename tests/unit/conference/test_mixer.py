"""The mixer on fake sessions driven tick by tick: each member hears the others,
never itself, by content (distinct tones), at 8 kHz and at 16 kHz (G.722)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from pbx.conference.mixer import OCTETS, Mixer, listen_gain
from pbx.media.codecs import G722, PCMA, PCMU, Codec, alaw_decode, ulaw_decode
from pbx.media.resample import resample_pcm

DECODE = {"PCMU": ulaw_decode, "PCMA": alaw_decode}


class FakeClock:
    def __init__(self) -> None:
        self.tickers: list[Any] = []

    def add(self, t: Any) -> None:
        if t not in self.tickers:
            self.tickers.append(t)

    def remove(self, t: Any) -> None:
        if t in self.tickers:
            self.tickers.remove(t)


class FakeSession:
    """What the mixer uses of a MediaSession: the codec, the consumer, send_audio."""

    def __init__(self, codec: Codec) -> None:
        self.codec = codec
        self.consumer: Any = None
        self.sent: list[tuple[bytes, bool]] = []
        self.decoder = codec.new_decoder()
        self.encoder = codec.new_encoder()

    def set_consumer(self, c: Any) -> Any:
        prev, self.consumer = self.consumer, c
        return prev

    def send_audio(self, payload: bytes, marker: bool = False, samples: int = 0) -> bool:
        self.sent.append((bytes(payload), marker))
        return True

    def speak(self, pcm: bytes) -> None:
        """The phone sends 20 ms packets of `pcm` (at its codec's rate)."""
        payload = self.encoder(pcm)
        for i in range(0, len(payload) - OCTETS + 1, OCTETS):
            self.consumer.rtp(payload[i:i + OCTETS], 0, 0, 0)

    def heard(self, skip: int = 0) -> np.ndarray:
        """What it received, decoded (at its codec's rate), frames from `skip` on."""
        data = b"".join(p for p, _ in self.sent[skip:])
        return np.frombuffer(self.decoder(data), dtype="<i2").astype(float)


def tone(freq: float, seconds: float, rate: int = 8000, amp: float = 6000.0) -> bytes:
    t = np.arange(int(rate * seconds)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype("<i2").tobytes()


def level(x: np.ndarray, freq: float, rate: int) -> float:
    """Amplitude of the component at `freq` (single-bin DFT)."""
    t = np.arange(len(x)) / rate
    return float(2 * abs(np.dot(x, np.exp(-2j * np.pi * freq * t))) / len(x))


def run(mixer: Mixer, ticks: int, speech: dict[FakeSession, bytes] | None = None) -> None:
    """`ticks` ticks; each tick every session in `speech` sends its next 20 ms first,
    as a phone does in real time. A tick sends what the previous one mixed: one more
    tick at the end sends the last frame."""
    frames = {s: s.encoder(pcm) for s, pcm in (speech or {}).items()}
    for n in range(ticks):
        for s, payload in frames.items():
            chunk = payload[n * OCTETS:(n + 1) * OCTETS]
            if len(chunk) == OCTETS:
                s.consumer.rtp(chunk, 0, 0, 0)
        mixer.tick(n)
    mixer.flush()


FREQS = (500.0, 1100.0, 1700.0)


@pytest.mark.parametrize("codecs", [(PCMU, PCMU, PCMU), (PCMU, PCMA, PCMU)])
def test_three_narrowband_members_hear_the_other_two_not_themselves(codecs: tuple) -> None:
    mixer = Mixer(FakeClock())  # type: ignore[arg-type]
    sessions = [FakeSession(c) for c in codecs]
    for s in sessions:
        mixer.add(s)  # type: ignore[arg-type]
    assert mixer.rate == 8000
    run(mixer, 10, {s: tone(f, 0.2) for s, f in zip(sessions, FREQS, strict=True)})
    for i, s in enumerate(sessions):
        assert len(s.sent) == 10 and s.sent[0][1] and not s.sent[1][1]  # marker on the first
        heard = s.heard()
        for j, f in enumerate(FREQS):
            a = level(heard, f, 8000)
            if i == j:
                # its own voice: absent (what is there is G.711 distortion of the
                # others, on the same 100 Hz grid: 76 for A-law, -38 dB)
                assert a < 150, (i, f, a)
            else:
                assert 5000 < a < 7000, (i, f, a)  # the others: at their level


def test_mix_is_exactly_the_others_sum() -> None:
    mixer = Mixer(FakeClock())  # type: ignore[arg-type]
    s = [FakeSession(PCMU) for _ in range(3)]
    for x in s:
        mixer.add(x)  # type: ignore[arg-type]
    pcm = [tone(f, 0.02) for f in FREQS]
    for x, p in zip(s, pcm, strict=True):
        x.speak(p)
    mixer.tick(0)
    assert s[0].sent == []  # sent at the next tick
    mixer.tick(1)
    dec = [np.frombuffer(ulaw_decode(x.encoder(p)), "<i2").astype(int) for x, p in
           zip(s, pcm, strict=True)]
    expect = np.clip(dec[1] + dec[2], -32768, 32767).astype("<i2").tobytes()
    assert s[0].sent[0][0] == PCMU.encode(expect)


def test_g722_member_makes_a_16khz_mix_and_everyone_hears_the_others() -> None:
    mixer = Mixer(FakeClock())  # type: ignore[arg-type]
    wide = FakeSession(G722)
    a, b = FakeSession(PCMU), FakeSession(PCMA)
    mixer.add(a)  # type: ignore[arg-type]
    assert mixer.rate == 8000
    mw = mixer.add(wide)  # type: ignore[arg-type]
    mixer.add(b)  # type: ignore[arg-type]
    assert mixer.rate == 16000
    run(mixer, 20, {wide: tone(1300.0, 0.4, 16000), a: tone(500.0, 0.4),
                    b: tone(900.0, 0.4)})
    hw = wide.heard(skip=5)  # 16 kHz; past the filters' start
    assert level(hw, 500, 16000) > 4000 and level(hw, 900, 16000) > 4000
    assert level(hw, 1300, 16000) < 100
    ha, hb = a.heard(skip=5), b.heard(skip=5)
    assert level(ha, 1300, 8000) > 4000 and level(ha, 900, 8000) > 4000
    assert level(ha, 500, 8000) < 100
    assert level(hb, 1300, 8000) > 4000 and level(hb, 500, 8000) > 4000
    assert level(hb, 900, 8000) < 100
    # The wideband member leaves: back to 8 kHz, the others still hear each other.
    mixer.remove(mw)
    assert mixer.rate == 8000 and wide.consumer is None
    a.sent.clear()
    run(mixer, 10, {a: tone(500.0, 0.2), b: tone(900.0, 0.2)})
    ha = a.heard(skip=2)
    assert level(ha, 900, 8000) > 4000 and level(ha, 500, 8000) < 60


def test_g722_content_above_4khz_reaches_another_g722_member() -> None:
    mixer = Mixer(FakeClock())  # type: ignore[arg-type]
    w1, w2 = FakeSession(G722), FakeSession(G722)
    mixer.add(w1)  # type: ignore[arg-type]
    mixer.add(w2)  # type: ignore[arg-type]
    run(mixer, 20, {w1: tone(6000.0, 0.4, 16000)})  # above anything G.711 carries
    assert level(w2.heard(skip=3), 6000, 16000) > 3000


def test_muted_member_is_not_heard_but_hears_private_member_gets_nothing() -> None:
    mixer = Mixer(FakeClock())  # type: ignore[arg-type]
    s = [FakeSession(PCMU) for _ in range(3)]
    m = [mixer.add(x) for x in s]  # type: ignore[arg-type]
    m[0].muted = True
    m[2].private = True
    run(mixer, 5, {x: tone(f, 0.1) for x, f in zip(s, FREQS, strict=True)})
    h1 = s[1].heard()
    assert level(h1, FREQS[0], 8000) < 60  # muted
    assert level(h1, FREQS[2], 8000) < 60  # hearing a prompt of its own: not in the mix
    assert level(s[0].heard(), FREQS[1], 8000) > 5000  # a muted member still hears
    assert s[2].sent == []
    m[2].private = False
    s[2].speak(tone(FREQS[2], 0.02))
    run(mixer, 1)
    assert s[2].sent[0][1]  # back from its prompt: a new talkspurt (marker)


def test_volumes() -> None:
    assert listen_gain(0) == 1.0 and listen_gain(1) == 2.0 and listen_gain(-1) == 0.5
    mixer = Mixer(FakeClock())  # type: ignore[arg-type]
    a, b = FakeSession(PCMU), FakeSession(PCMU)
    ma, mb = mixer.add(a), mixer.add(b)  # type: ignore[arg-type]
    ma.talk = 0.5  # a speaks softer
    mb.listen = 2.0  # b hears louder: a at 0.5 x 2 = as sent
    run(mixer, 5, {a: tone(700.0, 0.1, amp=4000), b: tone(1500.0, 0.1, amp=4000)})
    assert abs(level(b.heard(), 700, 8000) - 4000) < 200
    assert abs(level(a.heard(), 1500, 8000) - 4000) < 200


def test_input_buffer_is_bounded_and_drops_the_oldest() -> None:
    mixer = Mixer(FakeClock())  # type: ignore[arg-type]
    a = FakeSession(PCMU)
    m = mixer.add(a)  # type: ignore[arg-type]
    a.speak(tone(500.0, 1.0))  # 50 frames at once: a phone whose clock ran ahead
    assert len(m.buf) == m.cap == 4 * OCTETS and m.dropped == 46 * OCTETS


def test_announcer_is_heard_by_all_and_recorded() -> None:
    clock = FakeClock()
    mixer = Mixer(clock)  # type: ignore[arg-type]
    recorded: list[tuple[bytes, int]] = []
    mixer.record = lambda pcm, rate: recorded.append((pcm, rate))
    a, b = FakeSession(PCMU), FakeSession(PCMU)
    mixer.add(a)  # type: ignore[arg-type]
    mixer.add(b)  # type: ignore[arg-type]
    assert clock.tickers == [mixer]
    done: list[bool] = []
    mixer.announce(tone(800.0, 0.1), 8000, lambda: done.append(True))
    run(mixer, 5, {a: tone(500.0, 0.1)})
    assert done == [True]
    assert level(a.heard(), 800, 8000) > 5000 and level(b.heard(), 800, 8000) > 5000
    assert level(b.heard(), 500, 8000) > 5000 and level(a.heard(), 500, 8000) < 60
    rec = np.frombuffer(b"".join(p for p, _ in recorded), "<i2").astype(float)
    assert len(recorded) == 5 and recorded[0][1] == 8000
    assert level(rec, 800, 8000) > 5000 and level(rec, 500, 8000) > 5000


def test_announcement_started_at_8k_finishes_after_a_switch_to_16k() -> None:
    mixer = Mixer(FakeClock())  # type: ignore[arg-type]
    a = FakeSession(PCMU)
    mixer.add(a)  # type: ignore[arg-type]
    mixer.announce(tone(800.0, 0.3), 8000)
    run(mixer, 4)
    w = FakeSession(G722)
    mixer.add(w)  # type: ignore[arg-type]
    run(mixer, 12)
    assert not mixer.announcer.playing
    heard = w.heard()
    assert level(heard[320:320 * 10], 800, 16000) > 5000  # the 10 frames left, at 16 kHz


def test_empty_mixer_stops_its_clock_and_a_closed_session_leaves() -> None:
    clock = FakeClock()
    mixer = Mixer(clock)  # type: ignore[arg-type]
    a = FakeSession(PCMU)
    m = mixer.add(a)  # type: ignore[arg-type]
    gone: list[bool] = []
    m.on_gone = lambda: gone.append(True)
    m.session_closed()
    assert gone == [True] and mixer.members == [] and clock.tickers == []


def test_phone_switching_law_is_converted() -> None:
    mixer = Mixer(FakeClock())  # type: ignore[arg-type]
    a, b = FakeSession(PCMU), FakeSession(PCMU)
    ma = mixer.add(a)  # type: ignore[arg-type]
    mixer.add(b)  # type: ignore[arg-type]
    alaw = PCMA.encode(tone(600.0, 0.02))
    ma.rtp_other(alaw, 8, 0, 0, 0)
    run(mixer, 1)
    assert level(b.heard(), 600, 8000) > 5000


def test_fixed_and_capped_rates() -> None:
    assert Mixer(FakeClock(), fixed_rate=16000).rate == 16000  # type: ignore[arg-type]
    capped = Mixer(FakeClock(), max_rate=8000)  # type: ignore[arg-type]
    capped.add(FakeSession(G722))  # type: ignore[arg-type]
    assert capped.rate == 8000
    w = FakeSession(G722)
    capped.add(w)  # type: ignore[arg-type]
    first = capped.members[0].session
    run(capped, 10, {first: resample_pcm(tone(1000.0, 0.2), 8000, 16000)})  # type: ignore
    assert level(w.heard(skip=3), 1000, 16000) > 3000


def test_engine_sends_every_room_before_mixing_any() -> None:
    """The send times do not depend on the mixing: in each tick every room first
    sends what it mixed at the previous tick, then every room mixes."""
    from pbx.conference.mixer import MixEngine

    clock = FakeClock()
    engine = MixEngine(clock)  # type: ignore[arg-type]
    order: list[str] = []

    def sender(tag: str) -> Any:
        def send_audio(payload: bytes, marker: bool = False, samples: int = 0) -> bool:
            order.append(tag)
            return True
        return send_audio

    def mixing(tag: str, mix: Any) -> Any:
        def traced(n: int) -> None:
            order.append(tag)
            mix(n)
        return traced

    rooms = [Mixer(engine) for _ in range(2)]  # type: ignore[arg-type]
    sessions = []
    for r, room in enumerate(rooms):
        for k in range(2):
            s = FakeSession(PCMU)
            s.send_audio = sender(f"send{r}{k}")  # type: ignore[method-assign]
            room.add(s)  # type: ignore[arg-type]
            sessions.append(s)
        room.mix = mixing(f"mix{r}", room.mix)  # type: ignore[method-assign]
    assert clock.tickers == [engine] and list(engine.mixers) == rooms
    engine.tick(0)
    assert order == ["mix0", "mix1"]
    order.clear()
    engine.tick(1)
    assert order == ["send00", "send01", "send10", "send11", "mix0", "mix1"]
    # A member that leaves between its frame's mixing and sending gets nothing.
    rooms[0].remove(sessions[0].consumer)
    order.clear()
    engine.tick(2)
    assert order == ["send01", "send10", "send11", "mix0", "mix1"]
    for room in rooms:
        room.close()
    assert clock.tickers == [] and not engine.mixers
