"""Stateless refusals built from a message's first lines."""

from __future__ import annotations

from pbx.sip.message import parse_message
from pbx.sip.refusal import refusal_bytes

HEAD = (b"INVITE sip:1@pbx SIP/2.0\r\nv: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bKa\r\n"
        b"f: <sip:x@y>;tag=9\r\nt: <sip:1@pbx>\r\ni: call-9\r\nCSeq: 7 INVITE\r\n"
        b"Content-Length: 9999999\r\n\r\n")


def test_compact_headers_copied_and_to_tagged() -> None:
    resp = parse_message(refusal_bytes(HEAD, 513, "Message Too Large", "PBX"))
    assert resp.status == 513 and resp.call_id == "call-9" and resp.cseq == (7, "INVITE")
    assert resp.to_addr.tag and resp.headers.get("Server") == "PBX"
    assert resp.top_via.branch == "z9hG4bKa"


def test_unanswerable_heads() -> None:
    assert refusal_bytes(HEAD.replace(b"INVITE sip", b"ACK sip"), 513, "x") is None
    assert refusal_bytes(b"SIP/2.0 200 OK\r\n\r\n", 513, "x") is None
    assert refusal_bytes(b"\x00\xff garbage", 513, "x") is None
    no_via = b"\r\n".join(line for line in HEAD.split(b"\r\n") if not line.startswith(b"v:"))
    assert refusal_bytes(no_via, 513, "x") is None
    assert refusal_bytes(b"", 513, "x") is None
