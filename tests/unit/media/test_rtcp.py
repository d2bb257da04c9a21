"""RTCP SR/RR + SDES compound build and parse."""

from __future__ import annotations

import pytest

from pbx.media import rtcp


def test_sr_with_block_and_cname_round_trip() -> None:
    sender = rtcp.SenderInfo(rtcp.ntp_now(1_700_000_000.5), 123456, 250, 40000)
    block = rtcp.ReportBlock(0xCAFE, 25, -3, 70000, 80, 0x12345678, 65536)
    data = rtcp.build_compound(0xABCD, "pbx@127.0.0.1", sender, [block])
    assert len(data) % 4 == 0
    rep = rtcp.parse_compound(data)
    assert rep.ssrc == 0xABCD
    assert rep.sender == sender
    assert rep.blocks == [block]
    assert rep.cname == "pbx@127.0.0.1"
    assert not rep.bye
    assert (sender.ntp >> 32) - 2208988800 == 1_700_000_000


def test_rr_and_bye() -> None:
    block = rtcp.ReportBlock(1, 0, 12, 5, 3)
    data = rtcp.build_compound(9, "x", None, [block], bye=True)
    rep = rtcp.parse_compound(data)
    assert rep.sender is None and rep.blocks == [block] and rep.bye and rep.cname == "x"


def test_rr_without_blocks() -> None:
    rep = rtcp.parse_compound(rtcp.build_rr(5) + rtcp.build_sdes(5, "abcd"))
    assert rep.ssrc == 5 and rep.blocks == [] and rep.cname == "abcd"


@pytest.mark.parametrize("bad", [b"", b"\x80\xc9", b"\x40\xc9\x00\x01" + bytes(4),
                                 b"\x80\xc9\x00\x05" + bytes(4)])
def test_malformed(bad: bytes) -> None:
    with pytest.raises(rtcp.RtcpError):
        rtcp.parse_compound(bad)
