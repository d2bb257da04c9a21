"""Write the seed corpus of tests/fuzz/corpus/ (run once; the fuzzers add to it).

    .venv/bin/python -m tests.fuzz.seed_corpus
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from pbx.media.dtmf import encode_event
from pbx.media.rtcp import ReportBlock, SenderInfo, build_bye, build_compound, build_rr
from pbx.media.rtp import RtpPacket, build_rtp
from pbx.sip.auth import build_challenge

HERE = Path(__file__).resolve().parent
TORTURE = HERE.parent / "torture"

SDP = (b"v=0\r\no=alice 2890844526 2890844526 IN IP4 192.0.2.1\r\ns=-\r\n"
       b"c=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0 8 101\r\n"
       b"a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
       b"a=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n")
SDP6 = (b"v=0\r\no=- 1 2 IN IP6 2001:db8::1\r\ns=call\r\nc=IN IP6 2001:db8::1\r\nt=0 0\r\n"
        b"a=recvonly\r\nm=audio 0 RTP/AVP 0\r\nm=audio 5004 RTP/SAVP 18 0\r\n"
        b"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n"
        b"m=video 5006 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n")


def sip(method: str, extra: str = "", body: bytes = b"", user: str = "6001") -> bytes:
    head = (f"{method} sip:{user}@127.0.0.1:5060 SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 192.0.2.7:5062;branch=z9hG4bK776asdhds;rport\r\n"
            "Max-Forwards: 70\r\n"
            f'From: "Alice" <sip:{user}@127.0.0.1>;tag=1928301774\r\n'
            f"To: <sip:{user}@127.0.0.1>\r\nCall-ID: a84b4c76e66710@pc33.example.com\r\n"
            f"CSeq: 314159 {method}\r\nContact: <sip:{user}@192.0.2.7:5062;transport=udp>\r\n"
            f"{extra}Content-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


def sip_seeds() -> list[bytes]:
    auth = ('Authorization: Digest username="6001", realm="pbx", '
            'nonce="AAAAAAA4jL8kvQTyjB2-bAeUBcVvHg0jj5kVOmSvfsc", uri="sip:127.0.0.1:5060", '
            'response="0123456789abcdef0123456789abcdef", algorithm=MD5, cnonce="abc", '
            'qop=auth, nc=00000001\r\n')
    seeds = [p.read_bytes() for p in sorted(TORTURE.rglob("*.dat"))]
    seeds += [
        sip("REGISTER", "Expires: 3600\r\n"),
        sip("REGISTER", "Expires: 3600\r\n" + auth),
        sip("REGISTER", "Expires: 0\r\n", user="open").replace(b"Contact: <sip:open@192.0.2.7"
                                                               b":5062;transport=udp>",
                                                               b"Contact: *"),
        sip("INVITE", "Content-Type: application/sdp\r\n" + auth.replace("Authorization",
                                                                          "Proxy-Authorization"),
            SDP),
        sip("OPTIONS", "Accept: application/sdp\r\nSupported: replaces, timer\r\n"),
        sip("SUBSCRIBE", "Event: message-summary\r\nExpires: 3600\r\n"),
        sip("INFO", "Content-Type: application/dtmf-relay\r\n", b"Signal=5\r\nDuration=160\r\n"),
        sip("BYE", "").replace(b"To: <sip:6001@127.0.0.1>", b"To: <sip:6001@127.0.0.1>;tag=x"),
        sip("OPTIONS", "").replace(b"Call-ID: a84b4c76e66710@pc33.example.com",
                                   b"Call-ID: \xff\xfe\xc3abc"),
        ("SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx\r\n"
         "From: <sip:pbx@127.0.0.1>;tag=1\r\nTo: <sip:6001@192.0.2.7>;tag=2\r\nCall-ID: q1\r\n"
         f"CSeq: 1 OPTIONS\r\nWWW-Authenticate: {build_challenge('pbx', 'nonce1')}\r\n"
         "Content-Length: 0\r\n\r\n").encode(),
        b"SIP/2.0 200 OK\r\nv: SIP/2.0/TCP h;branch=z9hG4bKy\r\nf: <sip:a@b>;tag=1\r\n"
        b"t: <sip:c@d>;tag=2\r\ni: c2\r\nCSeq: 2 INVITE\r\nc: application/sdp\r\nl: "
        + str(len(SDP)).encode() + b"\r\n\r\n" + SDP,
    ]
    return seeds


def rtp_seeds() -> list[bytes]:
    pcmu = build_rtp(RtpPacket(payload_type=0, seq=1, timestamp=160, ssrc=0x1234,
                               payload=b"\xff" * 160, marker=True))
    event = build_rtp(RtpPacket(payload_type=101, seq=2, timestamp=320, ssrc=0x1234,
                                payload=encode_event("5", end=True, duration=800)))
    ext = build_rtp(RtpPacket(payload_type=8, seq=3, timestamp=480, ssrc=7, payload=b"\xd5" * 20,
                              csrc=(1, 2), ext_profile=0xBEDE, ext_data=b"\x10\xff\x00\x00"))
    sr = build_compound(0x1234, "pbx@127.0.0.1", SenderInfo(1 << 40, 1000, 10, 1600),
                        [ReportBlock(7, 0, 0, 100, 5, 0, 0)])
    rr = build_rr(0x99, [ReportBlock(7, 10, 3, 200, 9, 1, 2)]) + build_bye(0x99)
    return [pcmu, event, ext, sr, rr, b"\x80" * 12, b""]


def framer_seeds() -> list[bytes]:
    two = sip("OPTIONS") + b"\r\n\r\n" + sip("INFO", "", b"Signal=1\r\n")
    return [b"\x20" + two, b"\x05" + b"\r\n\r\n\r\n" + sip("BYE"),
            b"\x30" + sip("MESSAGE", "", b"x" * 100).replace(b"Content-Length: 100",
                                                            b"Content-Length: 99999")]


def write(target: str, items: list[bytes]) -> None:
    folder = HERE / "corpus" / target
    folder.mkdir(parents=True, exist_ok=True)
    for data in items:
        (folder / hashlib.sha1(data).hexdigest()).write_bytes(data)


if __name__ == "__main__":
    write("sip", sip_seeds())
    write("sdp", [SDP, SDP6, SDP.replace(b"RTP/AVP 0 8 101", b"RTP/AVP 18")])
    write("rtp", rtp_seeds())
    write("framer", framer_seeds())
    for target in ("sip", "sdp", "rtp", "framer"):
        print(target, len(list((HERE / "corpus" / target).iterdir())))
