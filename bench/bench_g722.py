"""Benchmark: G.722 per 20 ms frame, the `g722` package against PyAV, and the
steps of a G.722 <-> PCMU transcode (decode, resample, encode) as the bridge
runs them. Prints microseconds per frame (best of 5 runs of 2,000 frames),
then the quality of the bridge's transcoding against the G.722 library's own
8 kHz (low sub-band only) mode, with tones: what leaks into the telephone band
from above 4 kHz, and the images above 4 kHz of telephone-band tones.

    .venv/bin/python bench/bench_g722.py

PyAV (`pip install av`) is measured only when installed: the PBX does not use it.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

import numpy as np

FRAMES = 2000


def _best(fn: Callable[[bytes], object], frames: list[bytes], runs: int = 5) -> float:
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        for f in frames:
            fn(f)
        best = min(best, time.perf_counter() - t0)
    return best / len(frames) * 1e6


def main() -> None:
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from pbx.media import g722
    from pbx.media.codecs import G722, PCMU, ulaw_decode, ulaw_encode
    from pbx.media.resample import Downsampler, Upsampler
    from pbx.media.transcode import transcoder

    t = np.arange(320 * FRAMES) / 16000
    pcm16 = (8000 * np.sin(2 * np.pi * (200 * t + 300 * t * t))).astype("<i2").tobytes()
    frames16 = [pcm16[i * 640:(i + 1) * 640] for i in range(FRAMES)]
    frames8 = [f[:320] for f in frames16]
    coded = [g722.new_encoder()(f) for f in frames16]
    ulaw = [ulaw_encode(f) for f in frames8]
    rows = [
        ("g722 package: encode 320 samples", _best(g722.new_encoder(), frames16)),
        ("g722 package: decode 160 octets", _best(g722.new_decoder(), coded)),
    ]
    try:
        import av
    except ImportError:
        av = None
    if av is not None:
        enc = av.CodecContext.create("g722", "w")
        enc.sample_rate, enc.format, enc.layout = 16000, "s16", "mono"
        enc.open()

        def av_encode(f: bytes) -> bytes:
            frame = av.AudioFrame.from_ndarray(np.frombuffer(f, dtype="<i2").reshape(1, -1),
                                               format="s16", layout="mono")
            frame.sample_rate = 16000
            return b"".join(bytes(p) for p in enc.encode(frame))

        dec = av.CodecContext.create("g722", "r")
        dec.sample_rate, dec.layout = 16000, "mono"
        dec.open()

        def av_decode(p: bytes) -> bytes:
            return b"".join(fr.to_ndarray().tobytes() for fr in dec.decode(av.Packet(p)))

        rows += [("PyAV (FFmpeg): encode 320 samples", _best(av_encode, frames16)),
                 ("PyAV (FFmpeg): decode 160 octets", _best(av_decode, coded))]
    rows += [
        ("resample 16 -> 8 kHz (half-band, 320 in)", _best(Downsampler(), frames16)),
        ("resample 8 -> 16 kHz (half-band, 160 in)", _best(Upsampler(), frames8)),
        ("G.711 mu-law encode 160", _best(ulaw_encode, frames8)),
        ("G.711 mu-law decode 160", _best(ulaw_decode, ulaw)),
        ("bridge G.722 -> PCMU, one packet", _best(transcoder(G722, PCMU), coded)),
        ("bridge PCMU -> G.722, one packet", _best(transcoder(PCMU, G722), ulaw)),
    ]
    for name, us in rows:
        print(f"{name:45} {us:6.1f} us/frame")
    quality()


def _tone(freq: float, rate: int) -> bytes:
    t = np.arange(rate) / rate
    return (8000 * np.sin(2 * np.pi * freq * t)).astype("<i2").tobytes()


def _level(pcm: bytes, freq: float, rate: int) -> float:
    """dB of the component at `freq` relative to the 8000 amplitude sent."""
    x = np.frombuffer(pcm, dtype="<i2").astype(float)[rate // 10:]
    t = np.arange(len(x)) / rate
    a = 2 * np.mean(x * np.sin(2 * np.pi * freq * t))
    b = 2 * np.mean(x * np.cos(2 * np.pi * freq * t))
    return float(20 * np.log10(np.hypot(a, b) / 8000 + 1e-12))


def quality() -> None:
    import G722 as lib

    from pbx.media.codecs import G722, PCMU, ulaw_decode, ulaw_encode
    from pbx.media.transcode import transcoder

    def packets(data: bytes) -> list[bytes]:
        return [data[i:i + 160] for i in range(0, len(data), 160)]

    print("G.722 -> 8 kHz: a tone above 4 kHz folds to 8000 - f (lower is better)")
    for f in (4500, 5000):
        coded = G722.encode(_tone(f, 16000))
        bridge = transcoder(G722, PCMU)
        ours = ulaw_decode(b"".join(bridge(p) for p in packets(coded)))  # type: ignore[misc]
        sub = lib.G722(8000, 64000, use_numpy=False).decode(coded).tobytes()
        print(f"  {f} Hz -> {8000 - f} Hz: bridge {_level(ours, 8000 - f, 8000):6.1f} dB, "
              f"low sub-band only {_level(sub, 8000 - f, 8000):6.1f} dB")
    print("8 kHz -> G.722: the image of a tone at 8000 - f (lower is better)")
    for f in (3000, 3400):
        mu = ulaw_encode(_tone(f, 8000))
        bridge = transcoder(PCMU, G722)
        ours = G722.decode(b"".join(bridge(p) for p in packets(mu)))  # type: ignore[misc]
        enc = lib.G722(8000, 64000, use_numpy=False)
        sub = G722.decode(enc.encode(memoryview(ulaw_decode(mu)).cast("h")))
        print(f"  {f} Hz -> image at {8000 - f} Hz: bridge {_level(ours, 8000 - f, 16000):6.1f}"
              f" dB, low sub-band only {_level(sub, 8000 - f, 16000):6.1f} dB")


if __name__ == "__main__":
    main()
