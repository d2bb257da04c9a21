"""DTMF across a bridge whose legs speak it differently (dtmfmode per peer): RFC 4733
packets to a SIP INFO leg, SIP INFO to an RFC 4733 leg (generated), RFC 4733 to an
in-band leg (tones in its audio, the relayed audio paused meanwhile), and tones from
an in-band leg found by the detector."""

from __future__ import annotations

import asyncio

from pbx import dtmf_mode
from pbx.media.clock import MediaClock
from pbx.media.codecs import PCMU, ulaw_decode, ulaw_encode
from pbx.media.dtmf import DtmfSender, decode_event
from pbx.media.inband import DtmfDetector, InbandSender, tone_frames
from pbx.media.relay import Relay
from pbx.media.session import MediaSession
from tests.unit.media.loops import event_loop_policy  # noqa: F401 - both loops
from tests.unit.media.test_session import Peer, allocator, open_peer, rtp, wait_for


async def _pair(b_dtmf_pt: int | None) -> tuple[MediaClock, MediaSession, MediaSession,
                                                Peer, Peer]:
    loop = asyncio.get_running_loop()
    clock = MediaClock(loop)
    alloc = allocator()
    a = await MediaSession.open(loop, alloc, "127.0.0.1", clock)
    b = await MediaSession.open(loop, alloc, "127.0.0.1", clock)
    pa, pb = await open_peer(), await open_peer()
    a.set_remote(pa.addr, PCMU, dtmf_pt=101)
    b.set_remote(pb.addr, PCMU, dtmf_pt=b_dtmf_pt)
    return clock, a, b, pa, pb


def _send_event(peer: Peer, port: int, digit: str, seq: int, ts: int) -> int:
    pkts = DtmfSender().packets(digit, 60)
    for k, p in enumerate(pkts):
        peer.send(rtp(seq + k, ts, p.payload, pt=101, marker=p.marker), port)
    return len(pkts)


async def test_rfc4733_to_an_info_leg_goes_as_digits_not_packets() -> None:
    clock, a, b, pa, pb = await _pair(96)
    sent: list[str] = []
    relay = Relay(a, b, digits_to=(None, sent.append))
    relay.start()
    _send_event(pa, a.local_port, "4", 10, 1000)
    _send_event(pa, a.local_port, "#", 20, 3000)
    await wait_for(lambda: sent == ["4", "#"])
    await asyncio.sleep(0.05)
    assert [p for p in pb.packets() if p.payload_type == 96] == []  # no packets went on
    relay.stop()
    for s in (a, b):
        s.close()
    clock.stop()


async def test_info_digit_to_an_rfc4733_leg_is_generated() -> None:
    clock, a, b, _pa, pb = await _pair(96)
    relay = Relay(a, b)
    relay.start()
    a.digit_detected("9")  # what SipChannel does with an INFO from leg A
    await wait_for(lambda: any(p.payload_type == 96 for p in pb.packets()))
    await asyncio.sleep(0.3)
    events = [p for p in pb.packets() if p.payload_type == 96]
    assert {decode_event(p.payload)[0] for p in events} == {"9"}
    assert decode_event(events[-1].payload)[1]  # it ends
    # An RFC 4733 leg without telephone-event cannot take it: counted as dropped.
    relay.stop()
    b.set_remote(pb.addr, PCMU, dtmf_pt=None)
    relay = Relay(a, b)
    relay.start()
    a.digit_detected("1")
    assert relay.dtmf_dropped == 1
    relay.stop()
    for s in (a, b):
        s.close()
    clock.stop()


async def test_tones_to_an_inband_leg_pause_the_relayed_audio() -> None:
    clock, a, b, pa, pb = await _pair(None)
    relay: Relay | None = None

    def pause(on: bool) -> None:
        assert relay is not None
        relay.pause_into(b, on)

    tones = InbandSender(b, on_busy=lambda: pause(True), on_idle=lambda: pause(False))
    relay = Relay(a, b, digits_to=(None, tones.send))
    relay.start()
    speech = ulaw_encode(b"\x10\x05" * 160)  # a steady non-tone sound from A
    _send_event(pa, a.local_port, "5", 10, 1000)
    for i in range(20):  # 400 ms of A's audio while the tones play
        pa.send(rtp(100 + i, 5000 + 160 * i, speech, ssrc=1), a.local_port)
        await asyncio.sleep(0.02)
    await wait_for(lambda: tones.sent == 8)  # 100 ms of tone + 60 ms of silence
    await asyncio.sleep(0.1)
    audio = [p.payload for p in pb.packets() if p.payload_type == 0]
    pcm = b"".join(ulaw_decode(x) for x in audio if x != speech)
    assert DtmfDetector().feed(pcm) == "5"  # B hears the tones...
    assert any(x == speech for x in audio)  # ...and A's audio before and after them
    assert relay.held > 0  # A's audio held while the tones went out
    relay.stop()
    for s in (a, b):
        s.close()
    clock.stop()


async def test_tones_from_an_inband_leg_are_detected() -> None:
    clock, a, b, pa, _pb = await _pair(96)
    a.set_remote(pa.addr, PCMU, dtmf_pt=None)
    detector = DtmfDetector()
    a.set_tap(lambda payload: [a.digit_detected(d) for d in detector.feed(
        ulaw_decode(payload))])
    got: list[str] = []
    a.on_dtmf = got.append
    pcm = b"".join(tone_frames("8") + tone_frames("0"))
    data = ulaw_encode(pcm)
    for i in range(0, len(data), 160):
        pa.send(rtp(i // 160, i, data[i:i + 160]), a.local_port)
        await asyncio.sleep(0.002)
    await wait_for(lambda: got == ["8", "0"])
    a.set_tap(None)
    for s in (a, b):
        s.close()
    clock.stop()


def test_the_policy_table() -> None:
    assert dtmf_mode.send_method("rfc2833", 101) == dtmf_mode.RFC4733
    assert dtmf_mode.send_method("auto", 101) == dtmf_mode.RFC4733
    assert dtmf_mode.send_method("auto", -1) == dtmf_mode.INBAND
    assert dtmf_mode.send_method("auto_info", -1) == dtmf_mode.INFO
    assert dtmf_mode.send_method("shortinfo", 101) == dtmf_mode.SHORTINFO
    assert dtmf_mode.detects_inband("inband", 101) and dtmf_mode.detects_inband("auto", -1)
    assert not dtmf_mode.detects_inband("auto", 101)
    assert not dtmf_mode.offers_telephone_event("info")
    assert dtmf_mode.info_body("info", "5") == ("application/dtmf-relay",
                                                b"Signal=5\r\nDuration=250\r\n")
    assert dtmf_mode.info_body("shortinfo", "#") == ("application/dtmf", b"#")
