"""Micro-benchmark of the G.711 hot path (and SDP/DTMF for scale).

Prints frames of 160 samples (20 ms) processed per second and what that
means in concurrent calls per core (one call = 50 frames/s each way).
Run: .venv/bin/python bench/bench_codecs.py [seconds-per-case]
"""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pbx.media import codecs
from pbx.media.dtmf import DtmfReceiver, DtmfSender
from pbx.sip.sdp import make_offer, negotiate, parse_sdp


def rate(fn: Callable[[], object], seconds: float) -> float:
    """Calls per second of ``fn``, measured over about ``seconds``."""
    n, batch = 0, 1000
    start = time.perf_counter()
    while True:
        for _ in range(batch):
            fn()
        n += batch
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return n / elapsed


def main() -> None:
    """Run every case and print one line per figure."""
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    pcm = os.urandom(320)
    ulaw = codecs.ulaw_encode(pcm)
    alaw = codecs.alaw_encode(pcm)
    print(f"# bench_codecs  python {platform.python_version()}  {platform.machine()}")
    print(f"# numpy encode path: {codecs._ULAW_ENC_NP is not None}")
    cases: list[tuple[str, Callable[[], object]]] = [
        ("ulaw_encode", lambda: codecs.ulaw_encode(pcm)),
        ("alaw_encode", lambda: codecs.alaw_encode(pcm)),
        ("ulaw_decode", lambda: codecs.ulaw_decode(ulaw)),
        ("alaw_decode", lambda: codecs.alaw_decode(alaw)),
        ("ulaw_to_alaw", lambda: codecs.ulaw_to_alaw(ulaw)),
        ("alaw_to_ulaw", lambda: codecs.alaw_to_ulaw(alaw)),
    ]
    for name, fn in cases:
        r = rate(fn, seconds)
        print(
            f"{name:<24} {r:>12,.0f} frames/s  {1e6 / r:6.2f} us/frame"
            f"  ~{r / 50:>9,.0f} call-directions/core"
        )
    saved = codecs._ULAW_ENC_NP
    codecs._ULAW_ENC_NP = None
    try:
        r = rate(lambda: codecs.ulaw_encode(pcm), seconds)
        print(f"{'ulaw_encode (no numpy)':<24} {r:>12,.0f} frames/s  {1e6 / r:6.2f} us/frame")
    finally:
        codecs._ULAW_ENC_NP = saved
    # A whole prompt: 60 s encoded at once (what the prompt cache does once).
    minute = os.urandom(2 * 8000 * 60)
    r = rate(lambda: codecs.ulaw_encode(minute), seconds)
    print(f"{'ulaw_encode 60 s prompt':<24} {r:>12,.1f} prompts/s {1e3 / r:6.2f} ms/prompt")

    offer = make_offer("192.0.2.10", 4000, session_id=1).to_bytes()
    r = rate(
        lambda: negotiate(parse_sdp(offer), local_addr="198.51.100.1", local_port=10000), seconds
    )
    print(f"{'sdp parse+negotiate':<24} {r:>12,.0f} offers/s  {1e6 / r:6.2f} us/offer")
    pkts = DtmfSender().packets("5")

    def dtmf() -> None:
        rx = DtmfReceiver()
        for p in pkts:
            rx.feed(p.payload, 1000, p.marker)

    r = rate(dtmf, seconds) * len(pkts)
    print(f"{'dtmf receive':<24} {r:>12,.0f} packets/s {1e6 / r:6.2f} us/packet")


if __name__ == "__main__":
    main()
