"""Answers to requests refused before they are parsed (too large, too many headers).

Such a request is never parsed whole: only its start line and the headers a
response copies (Via, From, To, Call-ID, CSeq) are, each line bounded. A
response, an ACK, or a head without those lines gets no answer (dropped).
Sans-I/O: bytes in, bytes out.
"""

from __future__ import annotations

import zlib

from pbx.sip.message import ParseError, Request, make_response, parse_message

__all__ = ["refusal_bytes"]

# Long and compact (RFC 3261 7.3.3) names of the headers a response copies.
_COPIED = frozenset({b"via", b"v", b"from", b"f", b"to", b"t", b"call-id", b"i", b"cseq"})
_MAX_SCAN = 65536  # bytes of the head looked at
_MAX_LINES = 1000
_MAX_LINE = 8192  # a longer copied line is not copied (so the answer stays small)


def refusal_bytes(data: bytes, status: int, reason: str, server: str | None = None) -> bytes | None:
    """A stateless response (e.g. 513 Message Too Large) to the request in ``data``."""
    end = data.find(b"\r\n\r\n", 0, _MAX_SCAN)
    head = data[:end] if end >= 0 else data[:_MAX_SCAN]
    lines = head.split(b"\r\n", _MAX_LINES)[:_MAX_LINES]
    start = lines[0].lstrip(b"\r\n")
    if not start or start.startswith(b"SIP/") or start.startswith(b"ACK "):
        return None
    keep = [start]
    for line in lines[1:]:
        if len(line) > _MAX_LINE or line[:1] in (b" ", b"\t"):
            continue
        name = line.split(b":", 1)[0].strip().lower()
        if name in _COPIED:
            keep.append(line)
    mini = b"\r\n".join(keep) + b"\r\n\r\n"
    try:
        request = parse_message(mini)
    except ParseError:
        return None
    if not isinstance(request, Request) or request.method == "ACK":
        return None
    tag = format(zlib.crc32(mini), "08x")
    headers = [("Server", server)] if server else []
    try:
        return make_response(request, status, reason, to_tag=tag, headers=headers).to_bytes()
    except Exception:  # anything odd in the copied lines: drop rather than answer
        return None
