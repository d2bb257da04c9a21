"""The short fuzz run of `make test`: the corpus replayed, then a few hundred
mutations per target (hypothesis). The long run is tests/fuzz/run_fuzz.py."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.targets import FUZZERS, TARGETS, corpus

_INSERTS = [b"\r\n", b"\r\n ", b";", b",", b"<", b">", b'"', b"%", b"[", b":", b"\x00", b"\xff",
            b"\xc3", b"=", b"/", b"@", b"Content-Length: 5\r\n", b"Via: SIP/2.0/UDP [::1]\r\n",
            b"m=audio 0 RTP/AVP\r\n", b"a=rtpmap:", b"c=IN IP6 ::\r\n", b"\x80\x65",
            b"\x81\xc8\x00\x06", b"9999999999"]


@st.composite
def mutated(draw: st.DrawFn, target: str) -> bytes:
    seeds = corpus(target)
    data = bytearray(draw(st.sampled_from(seeds)) if seeds else b"")
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "dup", "byte"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "byte" and data:
            data[pos] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[pos:pos] = draw(st.sampled_from(_INSERTS))
        elif kind == "delete" and data:
            del data[pos:pos + draw(st.integers(1, 16))]
        elif kind == "truncate":
            del data[pos:]
        elif kind == "dup" and data:
            data[pos:pos] = data[pos:pos + draw(st.integers(1, 200))] * draw(st.integers(1, 20))
    return bytes(data)


@pytest.mark.parametrize("target", TARGETS)
def test_corpus_replays_clean(target: str) -> None:
    seeds = corpus(target)
    assert seeds, f"tests/fuzz/corpus for {target} is empty"
    for data in seeds:
        FUZZERS[target](data)


@pytest.mark.parametrize("target", TARGETS)
def test_mutations(target: str) -> None:
    @settings(max_examples=250, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(st.one_of(mutated(target), st.binary(max_size=2000)))
    def run(data: bytes) -> None:
        FUZZERS[target](data)

    run()
