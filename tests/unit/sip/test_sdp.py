"""SDP parsing (RFC 4566) and offer/answer (RFC 3264)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pbx.sip.sdp import (
    PCMA,
    PCMU,
    Answer,
    Format,
    NoCommonCodec,
    SdpError,
    SessionDescription,
    accept_answer,
    make_offer,
    negotiate,
    parse_sdp,
)

TORTURE = Path(__file__).resolve().parents[2] / "torture" / "rfc5118"
G722 = Format("G722", 8000, 1, 9)
OPUS = Format("opus", 48000, 2, 107)

# A typical softphone offer (Linphone/baresip style).
OFFER = (
    "v=0\r\n"
    "o=alice 2890844526 2890844526 IN IP4 192.0.2.10\r\n"
    "s=Talk\r\n"
    "c=IN IP4 192.0.2.10\r\n"
    "t=0 0\r\n"
    "m=audio 49170 RTP/AVP 8 0 18 101\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:18 G729/8000\r\n"
    "a=fmtp:18 annexb=no\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-15\r\n"
    "a=ptime:20\r\n"
    "a=rtcp-mux\r\n"
    "a=sendrecv\r\n"
)


def offer_with(media: str, session_extra: str = "", conn: str = "IN IP4 192.0.2.10") -> str:
    return f"v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc={conn}\r\nt=0 0\r\n{session_extra}{media}"


def answer_for(offer: str | bytes, **kw: object) -> Answer:
    params: dict[str, object] = {"local_addr": "198.51.100.1", "local_port": 10000}
    params.update(kw)
    return negotiate(parse_sdp(offer), session_id=42, version=1, **params)  # type: ignore[arg-type]


def torture_body(name: str) -> bytes:
    raw = (TORTURE / name).read_bytes()
    return re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[1]


# ------------------------------------------------------------------ parsing


def test_parse_typical_offer() -> None:
    sdp = parse_sdp(OFFER.encode())
    assert sdp.origin.username == "alice" and sdp.origin.session_id == 2890844526
    assert sdp.session_name == "Talk"
    assert sdp.connection is not None
    assert (sdp.connection.address, sdp.connection.addrtype) == ("192.0.2.10", "IP4")
    (m,) = sdp.media
    assert (m.media, m.port, m.proto) == ("audio", 49170, "RTP/AVP")
    assert m.formats == [8, 0, 18, 101]
    assert m.rtpmap[101] == ("telephone-event", 8000, 1)
    assert m.fmtp == {18: "annexb=no", 101: "0-15"}
    assert m.ptime == 20 and m.direction == "sendrecv"
    assert m.attributes == [("rtcp-mux", None)]


def test_serialize_round_trip() -> None:
    sdp = parse_sdp(OFFER)
    text = str(sdp)
    assert text.endswith("\r\n") and "\n\n" not in text
    again = parse_sdp(sdp.to_bytes())
    assert again == sdp
    assert "a=rtpmap:18 G729/8000\r\na=fmtp:18 annexb=no" in text


def test_parse_ipv6_torture_file() -> None:
    sdp = parse_sdp(torture_body("ipv6-in-sdp.dat"))
    assert sdp.origin.addrtype == "IP6" and sdp.origin.address == "2001:db8::20"
    assert sdp.connection is not None and sdp.connection.addrtype == "IP6"
    assert sdp.connection.address == "2001:db8::20"
    assert [(m.media, m.port, m.formats) for m in sdp.media] == [
        ("audio", 6000, [2]),
        ("video", 6024, [107]),
    ]
    assert sdp.media[1].rtpmap[107] == ("H263-1998", 90000, 1)
    # Only G726-32 is offered: nothing we can speak.
    with pytest.raises(NoCommonCodec):
        negotiate(sdp, local_addr="2001:db8::10", local_port=4000)


def test_parse_mult_ip_torture_file_and_answer_per_media_connection() -> None:
    sdp = parse_sdp(torture_body("mult-ip-in-sdp.dat"))
    assert sdp.connection is None
    audio, video = sdp.media
    assert audio.connection is not None and audio.connection.address == "192.0.2.1"
    assert video.connection is not None and video.connection.addrtype == "IP6"
    assert video.connection.address == "2001:db8::1"
    ans = negotiate(sdp, local_addr="192.0.2.5", local_port=4000)
    assert ans.format.same_codec(PCMU) and ans.remote_addr == ("192.0.2.1", 22334)
    assert [m.port for m in ans.sdp.media] == [4000, 0]
    assert ans.sdp.media[1].formats == [107]


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "hello",
        "o=- 1 1 IN IP4 1.2.3.4\r\nv=0\r\n",
        "v=0\r\nthis is not sdp\r\n",
        "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4\r\nt=0 0\r\n",
        "v=0\r\ns=-\r\nt=0 0\r\nm=audio port RTP/AVP 0\r\n",
        "v=0\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP x\r\n",
        "v=0\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:zero PCMU\r\n",
        "v=1\r\ns=-\r\n",
    ],
)
def test_malformed_raises_sdp_error(bad: str) -> None:
    with pytest.raises(SdpError):
        parse_sdp(bad)


@given(st.binary(max_size=300))
def test_garbage_never_crashes(data: bytes) -> None:
    try:
        sdp = parse_sdp(b"v=0\r\n" + data)
    except SdpError:
        return
    # What parses serializes to SDP that parses to the same media lines.
    again = parse_sdp(sdp.to_bytes())
    assert [(m.media, m.port, m.formats) for m in again.media] == [
        (m.media, m.port, m.formats) for m in sdp.media
    ]


def test_lf_only_line_ends_and_session_level_direction() -> None:
    text = offer_with("m=audio 4000 RTP/AVP 0\n", session_extra="a=sendonly\n").replace(
        "\r\n", "\n"
    )
    sdp = parse_sdp(text)
    assert sdp.direction == "sendonly" and sdp.media[0].direction == "sendonly"


# ------------------------------------------------------------------ answering


def test_common_codec_by_our_preference_with_telephone_event() -> None:
    ans = answer_for(OFFER)
    # The offer prefers PCMA; the PBX's own order (PCMU first) decides.
    assert ans.format.same_codec(PCMU) and ans.payload_type == 0
    assert ans.dtmf_pt == 101 and ans.ptime == 20
    assert ans.remote_addr == ("192.0.2.10", 49170)
    assert ans.remote_direction == "sendrecv" and ans.local_direction == "sendrecv"
    (m,) = ans.sdp.media
    assert m.port == 10000 and m.formats == [0, 101]
    assert m.rtpmap == {0: ("PCMU", 8000, 1), 101: ("telephone-event", 8000, 1)}
    assert m.fmtp == {101: "0-16"}
    text = str(ans.sdp)
    assert "o=pbx 42 1 IN IP4 198.51.100.1\r\n" in text
    assert "c=IN IP4 198.51.100.1\r\n" in text
    assert "m=audio 10000 RTP/AVP 0 101\r\n" in text
    assert "a=ptime:20\r\n" in text and "a=sendrecv\r\n" in text
    assert "G729" not in text


def test_preference_list_is_honoured() -> None:
    ans = answer_for(OFFER, formats=[PCMA, PCMU])
    assert ans.format.same_codec(PCMA) and ans.sdp.media[0].formats == [8, 101]


def test_pcma_chosen_when_offered_alone() -> None:
    ans = answer_for(offer_with("m=audio 4000 RTP/AVP 8\r\n"))
    assert ans.format.same_codec(PCMA) and ans.dtmf_pt is None
    assert ans.sdp.media[0].formats == [8] and ans.ptime is None
    assert "a=ptime" not in str(ans.sdp)


def test_static_payload_types_without_rtpmap() -> None:
    ans = answer_for(offer_with("m=audio 4000 RTP/AVP 0\r\n"))
    assert ans.format.same_codec(PCMU) and ans.sdp.media[0].rtpmap[0] == ("PCMU", 8000, 1)


def test_dynamic_payload_type_for_pcmu_is_kept() -> None:
    ans = answer_for(offer_with("m=audio 4000 RTP/AVP 96\r\na=rtpmap:96 pcmu/8000\r\n"))
    assert ans.format.same_codec(PCMU) and ans.payload_type == 96
    assert ans.sdp.media[0].formats == [96]


def test_no_common_codec() -> None:
    offer = offer_with("m=audio 4000 RTP/AVP 18 9\r\na=rtpmap:18 G729/8000\r\n")
    with pytest.raises(NoCommonCodec, match="no common audio codec"):
        answer_for(offer)
    with pytest.raises(NoCommonCodec):
        answer_for(OFFER, formats=[G722])


def test_srtp_only_offer_is_not_acceptable() -> None:
    with pytest.raises(NoCommonCodec):
        answer_for(offer_with("m=audio 4000 RTP/SAVP 0\r\n"))


def test_telephone_event_keeps_offered_payload_type() -> None:
    offer = offer_with(
        "m=audio 4000 RTP/AVP 0 96\r\na=rtpmap:96 telephone-event/8000\r\na=fmtp:96 0-15\r\n"
    )
    ans = answer_for(offer)
    assert ans.dtmf_pt == 96 and ans.sdp.media[0].formats == [0, 96]
    assert "a=rtpmap:96 telephone-event/8000\r\na=fmtp:96 0-16\r\n" in str(ans.sdp)


def test_telephone_event_at_another_rate_is_ignored() -> None:
    offer = offer_with("m=audio 4000 RTP/AVP 0 97\r\na=rtpmap:97 telephone-event/48000\r\n")
    assert answer_for(offer).dtmf_pt is None


@pytest.mark.parametrize(
    ("offered", "answered"),
    [
        ("sendrecv", "sendrecv"),
        ("sendonly", "recvonly"),
        ("recvonly", "sendonly"),
        ("inactive", "inactive"),
    ],
)
def test_direction_is_mirrored(offered: str, answered: str) -> None:
    ans = answer_for(offer_with(f"m=audio 4000 RTP/AVP 0\r\na={offered}\r\n"))
    assert ans.remote_direction == offered
    assert ans.local_direction == answered and ans.sdp.media[0].direction == answered
    assert f"a={answered}\r\n" in str(ans.sdp)
    assert ans.on_hold == (offered in ("sendonly", "inactive"))


def test_our_own_direction_is_intersected() -> None:
    ans = answer_for(offer_with("m=audio 4000 RTP/AVP 0\r\n"), direction="sendonly")
    assert ans.local_direction == "sendonly"
    ans = answer_for(offer_with("m=audio 4000 RTP/AVP 0\r\na=sendonly\r\n"), direction="sendonly")
    assert ans.local_direction == "inactive"


def test_old_style_hold_with_zero_address() -> None:
    ans = answer_for(offer_with("m=audio 4000 RTP/AVP 0\r\n", conn="IN IP4 0.0.0.0"))
    assert ans.remote_addr == ("0.0.0.0", 4000)
    assert ans.remote_direction == "sendonly" and ans.on_hold and not ans.can_send
    assert ans.local_direction == "recvonly"


def test_video_rejected_with_port_zero_keeping_formats() -> None:
    offer = offer_with(
        "m=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n"
        "m=video 4002 RTP/AVP 96 97\r\na=rtpmap:96 H264/90000\r\na=rtpmap:97 VP8/90000\r\n"
    )
    ans = answer_for(offer)
    audio, video = ans.sdp.media
    assert audio.port == 10000 and audio.formats == [0, 101]
    assert (video.media, video.port, video.proto, video.formats) == (
        "video",
        0,
        "RTP/AVP",
        [96, 97],
    )
    assert "m=video 0 RTP/AVP 96 97\r\n" in str(ans.sdp)
    assert "H264" not in str(ans.sdp)


def test_second_audio_stream_and_rejected_first_stream() -> None:
    offer = offer_with(
        "m=audio 0 RTP/AVP 0\r\nm=audio 4000 RTP/AVP 8\r\nm=audio 4002 RTP/AVP 0\r\n"
    )
    ans = answer_for(offer)
    assert [m.port for m in ans.sdp.media] == [0, 10000, 0]
    assert ans.format.same_codec(PCMA) and ans.remote_addr == ("192.0.2.10", 4000)


def test_ipv6_connection() -> None:
    ans = negotiate(
        parse_sdp(offer_with("m=audio 4000 RTP/AVP 0\r\n", conn="IN IP6 2001:db8::1")),
        local_addr="2001:db8::2",
        local_port=5004,
    )
    assert ans.remote_addr == ("2001:db8::1", 4000)
    text = str(ans.sdp)
    assert "c=IN IP6 2001:db8::2\r\n" in text and " IN IP6 2001:db8::2\r\n" in text


def test_media_level_connection_overrides_session() -> None:
    offer = offer_with("m=audio 4000 RTP/AVP 0\r\nc=IN IP4 203.0.113.9\r\n")
    assert answer_for(offer).remote_addr == ("203.0.113.9", 4000)


def test_missing_connection_is_an_error() -> None:
    text = "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
    with pytest.raises(SdpError, match="connection"):
        answer_for(text)


# ------------------------------------------------------------------ offering


def test_make_offer() -> None:
    offer = make_offer("198.51.100.1", 10000, session_id=7, version=3)
    text = str(offer)
    assert text.startswith("v=0\r\no=pbx 7 3 IN IP4 198.51.100.1\r\ns=")
    assert "m=audio 10000 RTP/AVP 0 8 101\r\n" in text
    for line in (
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-16",
        "a=ptime:20",
        "a=sendrecv",
    ):
        assert line + "\r\n" in text
    assert parse_sdp(text) == offer
    only = make_offer("::1", 10000, codecs=[PCMA], dtmf_pt=None, direction="sendonly")
    assert only.media[0].formats == [8] and only.media[0].direction == "sendonly"
    assert only.connection is not None and only.connection.addrtype == "IP6"


def test_late_offer_round_trip() -> None:
    """INVITE without SDP: our offer goes in the 200, the answer comes in the ACK."""
    offer = make_offer("198.51.100.1", 10000, session_id=1)
    # The phone answers what it likes among our offer: here PCMA.
    phone = negotiate(
        parse_sdp(offer.to_bytes()), local_addr="192.0.2.10", local_port=4000, formats=[PCMA]
    )
    got = accept_answer(offer, phone.sdp.to_bytes())
    assert got.format.same_codec(PCMA) and got.payload_type == 8 and got.dtmf_pt == 101
    assert got.remote_addr == ("192.0.2.10", 4000)
    assert got.remote_direction == "sendrecv" and got.ptime == 20


def test_accept_answer_hold_and_direction() -> None:
    offer = make_offer("198.51.100.1", 10000, session_id=1)
    answer = offer_with("m=audio 4000 RTP/AVP 0\r\na=recvonly\r\n")
    got = accept_answer(offer, answer)
    assert got.format.same_codec(PCMU) and got.remote_direction == "recvonly"
    assert got.local_direction == "sendonly" and got.can_send and got.dtmf_pt is None


def test_accept_answer_rejections() -> None:
    offer = make_offer("198.51.100.1", 10000, session_id=1)
    with pytest.raises(NoCommonCodec):
        accept_answer(offer, offer_with("m=audio 0 RTP/AVP 0\r\n"))
    with pytest.raises(NoCommonCodec):
        accept_answer(offer, offer_with("m=audio 4000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n"))
    with pytest.raises(SdpError):
        accept_answer(offer, offer_with("m=audio 4000 RTP/AVP 0\r\nm=video 0 RTP/AVP 96\r\n"))


def test_session_description_defaults_serialize() -> None:
    text = str(SessionDescription())
    assert text == "v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
    assert parse_sdp(text).media == []


# ------------------------------------------------------------------ codec lists


WIDEBAND_OFFER = offer_with(
    "m=audio 4000 RTP/AVP 111 0 9 8 110 101\r\n"
    "a=rtpmap:111 opus/48000/2\r\n"
    "a=fmtp:111 useinbandfec=1;maxplaybackrate=24000\r\n"
    "a=rtpmap:110 telephone-event/48000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-15\r\n"
)


@pytest.mark.parametrize(
    ("ours", "chosen"),
    [
        ([G722, PCMU], "G722"),
        ([PCMA, G722, PCMU], "PCMA"),
        ([PCMU, G722], "PCMU"),
        ([OPUS, G722], "opus"),
        ([Format("GSM", 8000, 1, 3), G722], "G722"),
    ],
)
def test_our_order_decides_not_the_offers(ours: list[Format], chosen: str) -> None:
    ans = answer_for(WIDEBAND_OFFER, formats=ours)
    assert ans.format.name.upper() == chosen.upper()
    (m,) = ans.sdp.media
    assert m.formats[0] == ans.payload_type == ans.rx_payload_type
    # Every codec both sides can use is reported, in the offer's order.
    names = [f.name.upper() for f in ans.remote_formats]
    assert names == [n for n in ("OPUS", "PCMU", "G722", "PCMA")
                     if any(n == f.name.upper() for f in ours)]


def test_g722_static_payload_type_needs_no_rtpmap_and_keeps_8000_clock() -> None:
    ans = answer_for(offer_with("m=audio 4000 RTP/AVP 9 101\r\n"
                                "a=rtpmap:101 telephone-event/8000\r\n"), formats=[G722, PCMU])
    assert ans.format == Format("G722", 8000, 1, 9)
    # RFC 3551 4.5.2: G.722's RTP clock is 8000, so DTMF is telephone-event/8000.
    assert ans.dtmf_pt == 101
    assert "a=rtpmap:9 G722/8000\r\n" in str(ans.sdp)
    assert "m=audio 10000 RTP/AVP 9 101\r\n" in str(ans.sdp)


def test_opus_answer_keeps_the_dynamic_number_and_carries_our_fmtp() -> None:
    ours = Format("opus", 48000, 2, 107, "useinbandfec=1")
    ans = answer_for(WIDEBAND_OFFER, formats=[ours])
    assert ans.payload_type == ans.rx_payload_type == 111
    assert ans.format.fmtp == "useinbandfec=1;maxplaybackrate=24000"  # the remote's
    assert ans.local_format == Format("opus", 48000, 2, 111, "useinbandfec=1")
    text = str(ans.sdp)
    assert "a=rtpmap:111 opus/48000/2\r\na=fmtp:111 useinbandfec=1\r\n" in text
    # telephone-event at Opus' clock is preferred (RFC 4733 2.1).
    assert ans.dtmf_pt == ans.rx_dtmf_pt == 110
    assert "a=rtpmap:110 telephone-event/48000\r\n" in text


def test_opus_channels_must_match() -> None:
    with pytest.raises(NoCommonCodec, match="opus/48000/2"):
        answer_for(offer_with("m=audio 4000 RTP/AVP 96\r\na=rtpmap:96 OPUS/48000\r\n"),
                   formats=[OPUS])


def test_make_offer_numbers_codecs_and_adds_telephone_event_per_clock() -> None:
    offer = make_offer("198.51.100.1", 10000, codecs=[G722, PCMU, Format("opus", 48000, 2)],
                       session_id=1)
    (m,) = offer.media
    assert m.formats == [9, 0, 96, 101, 97]
    assert m.rtpmap == {9: ("G722", 8000, 1), 0: ("PCMU", 8000, 1), 96: ("opus", 48000, 2),
                        101: ("telephone-event", 8000, 1), 97: ("telephone-event", 48000, 1)}
    assert m.fmtp == {101: "0-16", 97: "0-16"}


def test_make_offer_never_misuses_a_static_number() -> None:
    offer = make_offer("198.51.100.1", 10000, session_id=1,
                       codecs=[Format("G722", 8000, 1, 0), Format("opus", 48000, 2, 101, "x=1")])
    (m,) = offer.media
    assert m.formats == [96, 97, 101, 98]
    assert m.rtpmap[96] == ("G722", 8000, 1) and m.fmtp[97] == "x=1"


def test_answer_that_renumbers_maps_send_and_receive_payload_types() -> None:
    """RFC 3264 5.1: each side receives on the numbers of its own description."""
    offer = make_offer("198.51.100.1", 10000, session_id=1,
                       codecs=[Format("opus", 48000, 2, 107, "stereo=0"), PCMU])
    answer = offer_with("m=audio 4000 RTP/AVP 96 0 100\r\na=rtpmap:96 opus/48000/2\r\n"
                        "a=fmtp:96 maxplaybackrate=16000\r\n"
                        "a=rtpmap:100 telephone-event/8000\r\n")
    got = accept_answer(offer, answer)
    assert got.format == Format("opus", 48000, 2, 96, "maxplaybackrate=16000")
    assert got.payload_type == 96 and got.rx_payload_type == 107
    assert got.local_format.fmtp == "stereo=0"
    assert [f.name for f in got.remote_formats] == ["opus", "PCMU"]
    # Only telephone-event/8000 in the answer: it serves the Opus stream too.
    assert got.dtmf_pt == 100 and got.rx_dtmf_pt == 101


def test_answer_order_decides_in_accept_answer() -> None:
    offer = make_offer("198.51.100.1", 10000, codecs=[PCMU, G722], session_id=1)
    got = accept_answer(offer, offer_with("m=audio 4000 RTP/AVP 9 0\r\n"))
    assert got.format.same_codec(G722) and got.payload_type == 9
    assert [f.name for f in got.remote_formats] == ["G722", "PCMU"]


def test_no_common_codec_names_both_lists() -> None:
    with pytest.raises(NoCommonCodec) as err:
        answer_for(offer_with("m=audio 4000 RTP/AVP 9\r\n"), formats=[PCMU, PCMA])
    assert "G722/8000" in str(err.value) and "PCMU/8000" in str(err.value)


@given(
    ours=st.permutations([PCMU, PCMA, G722, OPUS]).flatmap(
        lambda p: st.integers(1, 4).map(lambda n: p[:n])),
    theirs=st.permutations(["0", "8", "9", "111"]).flatmap(
        lambda p: st.integers(1, 4).map(lambda n: p[:n])),
)
def test_first_of_our_list_that_is_offered_wins(ours: list[Format], theirs: list[str]) -> None:
    media = "m=audio 4000 RTP/AVP " + " ".join(theirs) + "\r\na=rtpmap:111 opus/48000/2\r\n"
    by_pt = {"0": PCMU, "8": PCMA, "9": G722, "111": OPUS}
    offered = [by_pt[pt] for pt in theirs]
    expected = next((f for f in ours if any(f.same_codec(o) for o in offered)), None)
    if expected is None:
        with pytest.raises(NoCommonCodec):
            answer_for(offer_with(media), formats=ours)
        return
    ans = answer_for(offer_with(media), formats=ours)
    assert ans.format.same_codec(expected)
    assert ans.sdp.media[0].formats[0] == int(theirs[[by_pt[p] for p in theirs].index(
        next(o for o in offered if o.same_codec(expected)))])


def test_sip_layer_imports_nothing_from_the_media_engine() -> None:
    """Issue 10's layering: pbx/sip speaks in codec names and payload types only."""
    import ast

    sip_dir = Path(__file__).resolve().parents[3] / "pbx" / "sip"
    for path in sip_dir.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.startswith("pbx.media") for n in names), (path.name, names)
