"""SDES (RFC 4568) crypto lines and SRTP offer/answer in SDP."""

from __future__ import annotations

import base64

import pytest

from pbx.sip import sdes
from pbx.sip.sdp import NoCommonCodec, SdpError, accept_answer, make_offer, negotiate, parse_sdp

KEY = bytes(range(30))
INLINE = base64.b64encode(KEY).decode()


def savp_offer(*crypto: str, proto: str = "RTP/SAVP") -> bytes:
    lines = [f"a=crypto:{c}" for c in crypto]
    return ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio 4000 {proto} 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n"
            + "".join(x + "\r\n" for x in lines)).encode()


def test_parse_crypto_line() -> None:
    c = sdes.parse_crypto(f"1 AES_CM_128_HMAC_SHA1_80 inline:{INLINE}|2^20")
    assert (c.tag, c.suite, c.key) == (1, "AES_CM_128_HMAC_SHA1_80", KEY)
    assert sdes.parse_crypto(c.value()) == c
    # Unpadded base64 (some phones) is accepted too.
    assert sdes.parse_crypto(f"2 AES_CM_128_HMAC_SHA1_32 inline:{INLINE.rstrip('=')}").key == KEY


@pytest.mark.parametrize("value, why", [
    ("1 AEAD_AES_256_GCM inline:" + INLINE, "not supported"),
    ("1 AES_CM_128_HMAC_SHA1_80 inline:" + INLINE + "|2^20|1:4", "MKI"),
    ("1 AES_CM_128_HMAC_SHA1_80 inline:" + INLINE + " UNENCRYPTED_SRTP", "session parameters"),
    ("1 AES_CM_128_HMAC_SHA1_80 inline:c2hvcnQ=", "bytes"),
    ("1 AES_CM_128_HMAC_SHA1_80 inline:!!!!", "base64"),
    ("x AES_CM_128_HMAC_SHA1_80", "malformed"),
])
def test_unusable_crypto_lines(value: str, why: str) -> None:
    with pytest.raises(sdes.CryptoError, match=why):
        sdes.parse_crypto(value)


def test_answer_takes_a_supported_suite_with_our_own_key() -> None:
    offer = parse_sdp(savp_offer(f"1 AEAD_AES_256_GCM inline:{INLINE}",
                                 f"2 AES_CM_128_HMAC_SHA1_32 inline:{INLINE}",
                                 f"3 AES_CM_128_HMAC_SHA1_80 inline:{INLINE}"))
    ans = negotiate(offer, local_addr="127.0.0.1", local_port=5000)
    assert ans.srtp is not None
    assert ans.srtp.suite == "AES_CM_128_HMAC_SHA1_80" and ans.srtp.remote_key == KEY
    assert ans.srtp.local_key != KEY and len(ans.srtp.local_key) == 30
    m = ans.sdp.media[0]
    assert m.proto == "RTP/SAVP"
    lines = [v for k, v in m.attributes if k == "crypto"]
    assert len(lines) == 1 and lines[0].startswith("3 AES_CM_128_HMAC_SHA1_80 inline:")
    assert sdes.parse_crypto(lines[0]).key == ans.srtp.local_key
    # A re-INVITE keeps our key when asked to (the SRTP context then stays).
    again = negotiate(offer, local_addr="127.0.0.1", local_port=5000,
                      srtp_key=ans.srtp.local_key)
    assert again.srtp == ans.srtp


def test_savp_without_usable_crypto_and_required_encryption_are_488() -> None:
    with pytest.raises(NoCommonCodec, match="without a crypto suite we support"):
        negotiate(parse_sdp(savp_offer(f"1 AEAD_AES_256_GCM inline:{INLINE}")),
                  local_addr="127.0.0.1", local_port=5000)
    plain = parse_sdp(savp_offer(proto="RTP/AVP"))
    assert negotiate(plain, local_addr="127.0.0.1", local_port=5000).srtp is None
    with pytest.raises(NoCommonCodec, match="encryption is required"):
        negotiate(plain, local_addr="127.0.0.1", local_port=5000, require_srtp=True)


def test_offer_and_answer_round_trip() -> None:
    ours = sdes.new_key()
    offer = make_offer("127.0.0.1", 6000, srtp_key=ours)
    m = offer.media[0]
    assert m.proto == "RTP/SAVP"
    assert [sdes.parse_crypto(v).suite for k, v in m.attributes if k == "crypto"] == \
        list(sdes.SUITES)
    # The far end answers (as negotiate does): it picks a line and sends its key.
    answer = negotiate(parse_sdp(offer.to_bytes()), local_addr="127.0.0.1", local_port=7000)
    assert answer.srtp is not None
    result = accept_answer(offer, answer.sdp.to_bytes())
    assert result.srtp is not None
    assert result.srtp.local_key == ours and result.srtp.remote_key == answer.srtp.local_key
    assert result.srtp.suite == answer.srtp.suite


def test_answer_that_drops_encryption_or_invents_a_tag_is_refused() -> None:
    offer = make_offer("127.0.0.1", 6000, srtp_key=sdes.new_key())
    plain = negotiate(parse_sdp(make_offer("127.0.0.1", 7000).to_bytes()),
                      local_addr="127.0.0.1", local_port=7000)
    with pytest.raises(NoCommonCodec, match="the answer is RTP/AVP"):
        accept_answer(offer, plain.sdp.to_bytes())
    text = negotiate(parse_sdp(offer.to_bytes()), local_addr="127.0.0.1",
                     local_port=7000).sdp.to_bytes().replace(b"crypto:1 ", b"crypto:9 ")
    with pytest.raises(NoCommonCodec, match="no crypto line matching"):
        accept_answer(offer, text)
    # And a SAVP answer to a plain offer is not RTP/AVP: refused too.
    plain_offer = make_offer("127.0.0.1", 6000)
    with pytest.raises(SdpError, match="our offer was RTP/AVP"):
        accept_answer(plain_offer, negotiate(parse_sdp(savp_offer(f"1 AES_CM_128_HMAC_SHA1_80 "
                                                                  f"inline:{INLINE}")),
                                             local_addr="127.0.0.1",
                                             local_port=1).sdp.to_bytes())
