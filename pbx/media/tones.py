"""Call progress tones played in band: ringback to a party that is already answered.

A caller that has been answered cannot be sent a 180 any more: when a transfer
sends it to a phone that rings, it hears the ringback tone in its audio, as
Asterisk plays it on an up channel (indications.conf, country ``us``:
440+480 Hz, 2 s on, 4 s off). One cadence cycle is made and encoded once per
codec; the player repeats that same bytes object, so every ringing party
shares it.
"""

from __future__ import annotations

import numpy as np

from pbx.media.codecs import Codec

__all__ = ["ringback"]

_ON, _OFF = 2.0, 4.0  # seconds
_FREQS = (440.0, 480.0)
_AMPLITUDE = 3000.0  # each tone; about -18 dBm0 together, as telephone tones are
_cache: dict[str, bytes] = {}


def _cycle_pcm(rate: int) -> bytes:
    n_on = int(rate * _ON)
    t = np.arange(n_on) / rate
    tone = sum(np.sin(2 * np.pi * f * t) for f in _FREQS) * _AMPLITUDE
    pcm = np.concatenate((tone, np.zeros(int(rate * _OFF))))
    return pcm.astype("<i2").tobytes()


def ringback(codec: Codec) -> bytes | None:
    """One 6 s ringback cycle encoded in ``codec`` (None if it cannot be encoded)."""
    data = _cache.get(codec.name)
    if data is None:
        if not codec.transcodable:
            return None
        data = _cache[codec.name] = codec.new_encoder()(_cycle_pcm(codec.sample_rate))
    return data
