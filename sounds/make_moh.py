#!/usr/bin/env python3
"""Write sounds/moh/pbx-fallback.wav: the music on hold the repository ships.

Eight seconds of arpeggiated chords (C, Am, F, G), each note a few decaying
harmonics: generated here, so it is free of any licence. The PBX plays it when
no other music-on-hold folder is found (Debian's asterisk-moh-opsound-wav,
installed by `make run` as root, is preferred). Deterministic: running it again
writes the same bytes.

    python3 sounds/make_moh.py [OUT.wav]
"""

from __future__ import annotations

import sys
import wave
from pathlib import Path

import numpy as np

RATE = 8000
NOTE = 0.25  # seconds per note
CHORDS = [  # MIDI notes, arpeggiated up and down
    (60, 64, 67, 72), (57, 60, 64, 69), (53, 57, 60, 65), (55, 59, 62, 67)]


def note(midi: int, seconds: float) -> np.ndarray:
    f = 440.0 * 2 ** ((midi - 69) / 12)
    t = np.arange(int(seconds * RATE)) / RATE
    tone = sum(np.sin(2 * np.pi * f * k * t) / k ** 1.5 for k in (1, 2, 3))
    attack = np.minimum(1.0, t / 0.01)
    return tone * attack * np.exp(-t * 5.0)


def music() -> np.ndarray:
    parts = []
    for chord in CHORDS:
        for midi in (*chord, *reversed(chord)):
            parts.append(note(midi, NOTE) + 0.5 * note(chord[0] - 12, NOTE))
    x = np.concatenate(parts)
    return (x / np.abs(x).max() * 0.35 * 32767).astype("<i2")


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else \
        Path(__file__).resolve().parent / "moh" / "pbx-fallback.wav"
    out.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(out), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(music().tobytes())
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
