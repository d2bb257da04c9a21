"""dtmfmode per peer in a real bridge (fake SIP core, real media on loopback): 6001
sends RFC 4733; 6002 is configured info (gets SIP INFO), inband (gets tones, offered
no telephone-event) or rfc2833 (gets the packets). SIP INFO from 6002 reaches 6001
as RFC 4733."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import AsyncIterator
from pathlib import Path

from pbx.calls import CallManager
from pbx.config import load_config
from pbx.location import Location
from pbx.media.codecs import ulaw_decode
from pbx.media.dtmf import DtmfSender, decode_event
from pbx.media.inband import DtmfDetector
from pbx.sip.auth import DigestAuthenticator
from pbx.sip.message import Request, parse_message
from pbx.sip.sdp import parse_sdp
from tests.unit.core.test_b2bua import (
    B1,
    SDP,
    A,
    FakeCore,
    Pbx,
    callee_request,
    caller_request,
    reply,
    until,
)

SIP_CONF = """\
[general]
context=default

[6001]
type=friend
host=dynamic
context=internal

[6002]
type=friend
host=dynamic
secret=x
context=internal
dtmfmode={mode}
"""

DIALPLAN = """\
[internal]
exten => 6002,1,Dial(SIP/6002,5)
 same => n,Hangup()
"""


class Media:
    """A phone's RTP socket: what the PBX sends it, and sending to the PBX."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.seq = 0

    def sdp(self, telephone_event: bool = True) -> bytes:
        te = b" 101" if telephone_event else b""
        body = SDP.replace(b"41000", str(self.port).encode()).replace(b" 0 101", b" 0" + te)
        if not telephone_event:
            body = body.replace(b"a=rtpmap:101 telephone-event/8000\r\n", b"")
        return body

    def received(self) -> list[tuple[int, bytes]]:
        out = []
        while True:
            try:
                data = self.sock.recv(2048)
            except BlockingIOError:
                return out
            out.append((data[1] & 0x7F, data[12:]))

    def send_event(self, dest: tuple[str, int], digit: str, ts: int) -> None:
        for p in DtmfSender().packets(digit, 60):
            self.seq += 1
            head = struct.pack("!BBHII", 0x80, (0x80 if p.marker else 0) | 101, self.seq, ts,
                               0xABCD)
            self.sock.sendto(head + p.payload, dest)

    def close(self) -> None:
        self.sock.close()


@contextlib.asynccontextmanager
async def start(tmp: Path, mode: str) -> AsyncIterator[tuple[Pbx, Media, Media]]:
    (tmp / "sip.conf").write_text(SIP_CONF.format(mode=mode))
    (tmp / "extensions.conf").write_text(DIALPLAN)
    (tmp / "pbx.yaml").write_text("rtp: {ports: [44000, 44999]}\nsip: {session_expires: 0}\n")
    config = load_config(tmp)
    core = FakeCore()
    location = Location()
    calls = CallManager(core=core, config=config, location=location,
                        auth=DigestAuthenticator("pbx", b"k" * 32, lambda u: None),
                        store=None)  # type: ignore[arg-type]
    await calls.start()
    ma, mb = Media(), Media()
    try:
        yield Pbx(core, calls, location), ma, mb
    finally:
        ma.close()
        mb.close()
        await calls.stop()


def invite_with(media: Media) -> Request:
    req = caller_request("INVITE", 1, body=media.sdp())
    return req


async def bridged(pbx: Pbx, ma: Media, mb: Media, b_telephone_event: bool
                  ) -> tuple[tuple[str, int], tuple[str, int], object]:
    """6001 calls 6002, which answers; returns the PBX's media address for each leg."""
    core = pbx.core
    pbx.register_b(B1)
    pbx.calls.on_invite(invite_with(ma), "tx-a", A)
    b_invite = (await until(lambda: core.sent("INVITE", B1)))[0]
    b_invite.callback(reply(b_invite, 200, body=mb.sdp(b_telephone_event)))
    ok = (await until(lambda: [r for r in core.answers("tx-a") if r.status == 200]))[0]
    pbx.calls.on_ack(caller_request("ACK", 1, to_tag=ok.to_addr.tag), None, A)
    to_a, to_b = parse_sdp(ok.body), parse_sdp(b_invite.request.body)
    a_dest = ("127.0.0.1", to_a.media[0].port)
    b_dest = ("127.0.0.1", to_b.media[0].port)
    await until(lambda: pbx.leg("SIP/6001").relay is not None)
    return a_dest, b_dest, b_invite


async def test_rfc4733_from_the_caller_goes_as_sip_info(tmp_path: Path) -> None:
    async with start(tmp_path, "info") as (pbx, ma, mb):
        core = pbx.core
        a_dest, _, b_invite = await bridged(pbx, ma, mb, True)
        # dtmfmode=info: no telephone-event offered to 6002.
        assert b"telephone-event" not in b_invite.request.body
        ma.send_event(a_dest, "5", 1000)
        await asyncio.sleep(0.05)
        ma.send_event(a_dest, "#", 3000)
        infos = await until(lambda: len(core.sent("INFO", B1)) == 2 and core.sent("INFO", B1))
        bodies = [(s.request.content_type, s.request.body) for s in infos]
        assert bodies == [("application/dtmf-relay", b"Signal=5\r\nDuration=250\r\n"),
                          ("application/dtmf-relay", b"Signal=#\r\nDuration=250\r\n")]
        cseqs = [s.request.cseq for s in infos]
        assert cseqs[1][0] == cseqs[0][0] + 1 and cseqs[0][1] == "INFO"
        assert all(s.request.to_addr.tag == "b-tag" for s in infos)
        await asyncio.sleep(0.1)
        assert [pt for pt, _ in mb.received() if pt == 101] == []


async def test_info_from_the_callee_reaches_the_caller_as_rfc4733(tmp_path: Path) -> None:
    async with start(tmp_path, "info") as (pbx, ma, mb):
        core = pbx.core
        _, _, b_invite = await bridged(pbx, ma, mb, True)
        body = b"Signal=7\r\nDuration=160\r\n"
        info = callee_request("INFO", b_invite.request, 2, body=body)
        info = parse_message(info.to_bytes().replace(b"application/sdp",
                                                      b"application/dtmf-relay"))
        pbx.calls.on_in_dialog(info, "tx-info", B1)
        assert [r.status for r in core.answers("tx-info")] == [200]
        await asyncio.sleep(0.3)
        events = [decode_event(p) for pt, p in ma.received() if pt == 101]
        assert events and {e[0] for e in events} == {"7"} and events[-1][1]


async def test_rfc4733_from_the_caller_becomes_tones_for_an_inband_callee(
        tmp_path: Path) -> None:
    async with start(tmp_path, "inband") as (pbx, ma, mb):
        a_dest, _, b_invite = await bridged(pbx, ma, mb, False)
        assert b"telephone-event" not in b_invite.request.body
        ma.send_event(a_dest, "3", 1000)
        await asyncio.sleep(0.4)
        audio = b"".join(ulaw_decode(p) for pt, p in mb.received() if pt == 0)
        assert DtmfDetector().feed(audio) == "3"


async def test_rfc2833_callee_gets_the_packets(tmp_path: Path) -> None:
    async with start(tmp_path, "rfc2833") as (pbx, ma, mb):
        core = pbx.core
        a_dest, _, b_invite = await bridged(pbx, ma, mb, True)
        assert b"telephone-event" in b_invite.request.body
        ma.send_event(a_dest, "2", 1000)
        await asyncio.sleep(0.2)
        events = [decode_event(p)[0] for pt, p in mb.received() if pt == 101]
        assert events and set(events) == {"2"}
        assert core.sent("INFO") == []
