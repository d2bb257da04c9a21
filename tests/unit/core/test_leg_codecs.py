"""Which codec each leg of a call gets (pbx/leg_codecs.py)."""

from __future__ import annotations

import pytest

from pbx.leg_codecs import (
    FORMATS,
    answer_formats,
    caller_formats,
    dial_offer_formats,
    media_codec,
    offer_formats,
    reoffer,
)
from pbx.media.codecs import G722, OPUS, PCMA, PCMU
from pbx.sip.sdp import Format, accept_answer, make_offer, negotiate, parse_sdp

ULAW, ALAW, WIDE, OP = FORMATS["ulaw"], FORMATS["alaw"], FORMATS["g722"], FORMATS["opus"]

# A WebRTC-ish phone: Opus (111, with its parameters), G.722, PCMU, PCMA.
PHONE_OFFER = parse_sdp(
    "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n"
    "m=audio 4000 RTP/AVP 111 9 0 8 101\r\n"
    "a=rtpmap:111 opus/48000/2\r\na=fmtp:111 useinbandfec=1\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n")
PCMU_ONLY_OFFER = parse_sdp(
    "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n"
    "m=audio 4000 RTP/AVP 0\r\n")


def names(formats: list[Format]) -> list[str]:
    return [f.name for f in formats]


def test_media_codecs_of_formats() -> None:
    assert [media_codec(f) for f in (ULAW, ALAW, WIDE, OP)] == [PCMU, PCMA, G722, OPUS]
    with pytest.raises(KeyError):
        media_codec(Format("G729", 8000, 1, 18))
    with pytest.raises(KeyError):
        media_codec(Format("G722", 16000))


def test_answers_follow_the_peer_order_opus_only_as_a_last_resort() -> None:
    assert names(answer_formats(["opus", "g722", "ulaw"])) == ["G722", "PCMU", "opus"]
    opus_only = parse_sdp(str(PHONE_OFFER).replace("RTP/AVP 111 9 0 8 101", "RTP/AVP 111"))
    ans = negotiate(opus_only, local_addr="127.0.0.1", local_port=10000,
                    formats=answer_formats(["g722", "opus"]))
    assert ans.format.name == "opus"  # accepted; only an Opus callee can take it
    assert dial_offer_formats(["ulaw", "opus"], ["g722", "opus"], opus_only, None) == [
        Format("opus", 48000, 2, 111, "useinbandfec=1")]
    assert dial_offer_formats(["ulaw"], ["g722", "opus"], opus_only, None) == []
    assert names(offer_formats(["alaw", "opus", "ulaw"])) == ["PCMA", "PCMU"]
    ans = negotiate(PHONE_OFFER, local_addr="127.0.0.1", local_port=10000,
                    formats=answer_formats(["opus", "ulaw", "g722"]))
    assert ans.format.name == "PCMU"  # the peer prefers ulaw to g722; Opus needs a partner
    # A re-INVITE keeps the codec in use (an Opus pass-through stays Opus).
    assert names(answer_formats(["ulaw", "opus"], current=OP)) == ["opus", "PCMU"]


def test_dial_offer_puts_the_callers_codec_first_as_chan_sip() -> None:
    # Caller still open (its answer not sent): its first joint codec leads.
    out = dial_offer_formats(["ulaw", "alaw", "g722"], ["g722", "ulaw"], PHONE_OFFER, None)
    assert names(out) == ["G722", "PCMU", "PCMA"]
    # Caller fixed on PCMU: PCMU leads, then the callee's order.
    out = dial_offer_formats(["g722", "alaw", "ulaw"], ["ulaw"], None, ULAW)
    assert names(out) == ["PCMU", "G722", "PCMA"]
    # The callee does not allow the caller's codec: its own order only.
    assert names(dial_offer_formats(["alaw"], ["ulaw"], None, ULAW)) == ["PCMA"]
    # Nothing known of the caller (late offer): the callee's order.
    assert names(dial_offer_formats(["g722", "ulaw"], ["ulaw"], None, None)) == ["G722", "PCMU"]


def test_opus_is_offered_only_when_the_caller_can_take_it_untouched() -> None:
    both = ["opus", "g722", "ulaw"]
    out = dial_offer_formats(both, both, PHONE_OFFER, None)
    assert names(out) == ["opus", "G722", "PCMU"]
    # ... with the caller's number and parameters for it.
    assert out[0] == Format("opus", 48000, 2, 111, "useinbandfec=1")
    # The caller's peer does not allow Opus, or its phone did not offer it: no Opus.
    assert "opus" not in names(dial_offer_formats(both, ["g722", "ulaw"], PHONE_OFFER, None))
    assert "opus" not in names(dial_offer_formats(both, both, PCMU_ONLY_OFFER, None))
    # The caller's answer is out (codec fixed, not Opus): no Opus.
    assert "opus" not in names(dial_offer_formats(both, both, None, WIDE))
    # The caller already speaks Opus: the callee gets Opus or nothing.
    assert names(dial_offer_formats(both, both, None, OP)) == ["opus"]
    assert dial_offer_formats(["ulaw"], both, None, OP) == []


def test_caller_follows_the_callee_when_it_can() -> None:
    callee = Format("opus", 48000, 2, 96, "maxplaybackrate=16000")
    prefs = caller_formats(callee, ["g722", "opus", "ulaw"])
    assert names(prefs) == ["opus", "G722", "PCMU"]
    assert prefs[0].fmtp == "maxplaybackrate=16000"  # what the callee receives
    ans = negotiate(PHONE_OFFER, local_addr="127.0.0.1", local_port=10000, formats=prefs)
    assert ans.format.name == "opus" and ans.payload_type == 111  # the caller's number
    assert "a=fmtp:111 maxplaybackrate=16000" in str(ans.sdp)
    # The callee picked PCMU: so does the caller (no transcoding) ...
    assert names(caller_formats(ULAW, ["g722", "ulaw"])) == ["PCMU", "G722"]
    # ... unless its peer does not allow it: then its own first, the bridge transcodes.
    assert names(caller_formats(ALAW, ["g722", "ulaw"])) == ["G722", "PCMU"]
    # Opus from the callee but the caller's peer has no Opus: never chosen.
    assert names(caller_formats(callee, ["g722"])) == ["G722"]


def test_reoffer_keeps_our_numbers() -> None:
    offer = make_offer("127.0.0.1", 10000, codecs=[WIDE, ULAW], dtmf_pt=101)
    answer = accept_answer(offer, "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n"
                                  "c=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 5000 RTP/AVP 9 96\r\n"
                                  "a=rtpmap:96 telephone-event/8000\r\n")
    formats, dtmf = reoffer(answer, ["ulaw"])
    assert formats == [WIDE] and dtmf == 101
    assert reoffer(None, ["g722", "opus"]) == ([WIDE], 101)
