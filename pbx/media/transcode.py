"""Transcoders between two codecs, one per direction of a bridge.

Same codec: nothing to do (the bridge relays the payload untouched, Opus
included). PCMU <-> PCMA: one byte table. Otherwise decode, convert the
sample rate when the codecs' PCM rates differ (G.722's 16 kHz against
G.711's 8 kHz, resample.py) and encode; each transcoder owns the decoder,
resampler and encoder state of its stream, so it must serve one stream only.
"""

from __future__ import annotations

from collections.abc import Callable

from pbx.media.codecs import CannotTranscode, Codec, alaw_to_ulaw, ulaw_to_alaw
from pbx.media.resample import converter

__all__ = ["CannotTranscode", "pcm_decoder", "transcoder"]

_TABLES: dict[tuple[str, str], Callable[[bytes], bytes]] = {
    ("PCMU", "PCMA"): ulaw_to_alaw,
    ("PCMA", "PCMU"): alaw_to_ulaw,
}


def _check(codec: Codec, other: Codec) -> None:
    if not codec.transcodable:
        raise CannotTranscode(
            f"cannot bridge {codec.name} with {other.name}: {codec.name} is passed through "
            "only, both legs must use it")


def transcoder(src: Codec, dst: Codec) -> Callable[[bytes], bytes] | None:
    """What turns ``src`` payloads into ``dst`` payloads; None when they are the same codec."""
    if src.name == dst.name and src.clock_rate == dst.clock_rate:
        return None
    table = _TABLES.get((src.name, dst.name))
    if table is not None:
        return table
    _check(src, dst)
    _check(dst, src)
    decode = src.new_decoder()
    encode = dst.new_encoder()
    resample = converter(src.sample_rate, dst.sample_rate)
    if resample is None:
        return lambda payload: encode(decode(payload))
    return lambda payload: encode(resample(decode(payload)))


def pcm_decoder(codec: Codec, rate: int) -> Callable[[bytes], bytes]:
    """Payloads of one ``codec`` stream to 16-bit PCM at ``rate`` (a recording)."""
    decode = codec.new_decoder()
    resample = converter(codec.sample_rate, rate)
    if resample is None:
        return decode
    return lambda payload: resample(decode(payload))
