"""Which SDES keys a leg offers and answers with (pbx/srtp_policy.py)."""

from __future__ import annotations

from pbx import srtp_policy
from pbx.config import Peer
from pbx.sip.sdp import make_offer, negotiate, parse_sdp


def test_offer_key_follows_the_peer_and_keeps_a_running_key() -> None:
    plain, secure = Peer("6001"), Peer("6002", media_encryption="sdes")
    assert srtp_policy.offer_key(plain) is None
    assert srtp_policy.offer_key(None) is None
    key = srtp_policy.offer_key(secure)
    assert key is not None and len(key) == 30 and key != srtp_policy.offer_key(secure)
    offer = parse_sdp(make_offer("127.0.0.1", 4000, srtp_key=key).to_bytes())
    answer = negotiate(offer, local_addr="127.0.0.1", local_port=5000,
                       **srtp_policy.answer_options(plain))
    # A leg on SRTP keeps its key in later offers and answers, whatever the peer says.
    assert srtp_policy.offer_key(plain, answer) == answer.srtp.local_key
    again = negotiate(offer, local_addr="127.0.0.1", local_port=5000,
                      **srtp_policy.answer_options(plain, answer))
    assert again.srtp == answer.srtp
    assert again.sdp.media[0].attributes == answer.sdp.media[0].attributes  # same a=crypto


def test_answer_options() -> None:
    opts = srtp_policy.answer_options(Peer("x", media_encryption="sdes"))
    assert opts["require_srtp"] is True and len(opts["srtp_key"]) == 30
    assert srtp_policy.answer_options(Peer("y"))["require_srtp"] is False
