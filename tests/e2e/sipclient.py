"""A tiny SIP client over a real socket, for registrar tests that need exact
control (expiry values, contact lists, algorithms); SIPp and baresip cover the rest."""

from __future__ import annotations

import socket
import time
import uuid
from dataclasses import dataclass, field

from pbx.sip.auth import build_authorization, parse_challenge
from pbx.sip.message import Response, parse_message


@dataclass
class SipClient:
    host: str
    port: int
    user: str
    password: str = ""
    transport: str = "udp"
    call_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    cseq: int = 0
    sock: socket.socket | None = None
    received: list = field(default_factory=list)  # requests the PBX sent us

    def __post_init__(self) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        if self.transport == "udp":
            self.sock = socket.socket(family, socket.SOCK_DGRAM)
            self.sock.bind((self.host, 0))
        else:
            self.sock = socket.create_connection((self.host, self.port), timeout=5)
        self.sock.settimeout(5)
        self.local_port = self.sock.getsockname()[1]
        self.tag = uuid.uuid4().hex[:8]

    @property
    def hostport(self) -> str:
        h = f"[{self.host}]" if ":" in self.host else self.host
        return f"{h}:{self.port}"

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()

    def request(self, method: str, *, to_user: str | None = None, to_tag: str | None = None,
                headers: list[tuple[str, str]] = (), body: bytes = b"") -> bytes:
        self.cseq += 1
        h = f"[{self.host}]" if ":" in self.host else self.host
        self.branch = f"z9hG4bK{uuid.uuid4().hex}"
        tag = f";tag={to_tag}" if to_tag else ""
        target = f"{to_user}@" if to_user and method != "REGISTER" else ""
        lines = [f"{method} sip:{target}{self.hostport} SIP/2.0",
                 f"Via: SIP/2.0/{self.transport.upper()} {h}:{self.local_port};"
                 f"branch={self.branch};rport",
                 f"From: <sip:{self.user}@{self.hostport}>;tag={self.tag}",
                 f"To: <sip:{to_user or self.user}@{self.hostport}>{tag}",
                 f"Call-ID: {self.call_id}", f"CSeq: {self.cseq} {method}", "Max-Forwards: 70"]
        lines += [f"{k}: {v}" for k, v in headers]
        lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    def send(self, data: bytes) -> Response:
        assert self.sock is not None
        if self.transport == "udp":
            self.sock.sendto(data, (self.host, self.port))
        else:
            self.sock.sendall(data)
        while True:
            raw = self.sock.recv(65535)
            msg = parse_message(raw)
            if not isinstance(msg, Response):
                self.received.append(msg)  # the PBX's OPTIONS ping, NOTIFY...
                continue
            if msg.status >= 200:
                return msg

    def register(self, *, expires: int | None = 3600, contacts: list[str] | None = None,
                 algorithm: str | None = None, password: str | None = None,
                 extra: list[tuple[str, str]] = ()) -> tuple[Response, Response | None]:
        """REGISTER, answer the 401, REGISTER again: (first answer, final answer)."""
        h = f"[{self.host}]" if ":" in self.host else self.host
        contacts = contacts if contacts is not None else [
            f"<sip:{self.user}@{h}:{self.local_port}>"]
        headers = [("Contact", c) for c in contacts] + list(extra)
        if expires is not None:
            headers.append(("Expires", str(expires)))
        first = self.send(self.request("REGISTER", headers=headers))
        if first.status != 401:
            return first, None
        challenges = [parse_challenge(v) for v in first.headers.get_all("WWW-Authenticate")]
        chosen = next(c for c in challenges if c and (algorithm is None or
                                                      c.get("algorithm", "MD5") == algorithm))
        auth = build_authorization(chosen, self.user, self.password if password is None
                                   else password, "REGISTER", f"sip:{self.hostport}")
        assert auth is not None
        final = self.send(self.request("REGISTER", headers=[*headers, ("Authorization", auth)]))
        return first, final

    def invite(self, to_user: str, sdp: bytes) -> tuple[Response, float]:
        """INVITE (answering the 407), ACK the final answer: (it, seconds from the
        authenticated INVITE to it). The dialog's To tag is kept for bye()."""
        headers = [("Contact", f"<sip:{self.user}@{self.host}:{self.local_port}>"),
                   ("Content-Type", "application/sdp")]
        first = self.send(self.request("INVITE", to_user=to_user, headers=headers, body=sdp))
        self._ack(first, to_user)
        if first.status != 407:
            return first, 0.0
        chosen = parse_challenge(first.headers.get_all("Proxy-Authenticate")[0])
        auth = build_authorization(chosen, self.user, self.password, "INVITE",
                                   f"sip:{self.hostport}")
        assert auth is not None
        t0 = time.monotonic()
        final = self.send(self.request("INVITE", to_user=to_user, body=sdp,
                                       headers=[*headers, ("Proxy-Authorization", auth)]))
        elapsed = time.monotonic() - t0
        self._ack(final, to_user)
        self.to_tag = final.to_addr.tag
        self.to_user = to_user
        return final, elapsed

    def _ack(self, resp: Response, to_user: str) -> None:
        assert self.sock is not None
        h = f"[{self.host}]" if ":" in self.host else self.host
        # A non-2xx is ACKed in its INVITE's transaction (same branch); a 2xx in a new one.
        branch = f"z9hG4bK{uuid.uuid4().hex}" if resp.status < 300 else self.branch
        lines = [f"ACK sip:{to_user}@{self.hostport} SIP/2.0",
                 f"Via: SIP/2.0/UDP {h}:{self.local_port};branch={branch}",
                 f"From: <sip:{self.user}@{self.hostport}>;tag={self.tag}",
                 f"To: {resp.headers.get('To')}", f"Call-ID: {self.call_id}",
                 f"CSeq: {resp.cseq[0]} ACK", "Max-Forwards: 70", "Content-Length: 0"]
        self.sock.sendto(("\r\n".join(lines) + "\r\n\r\n").encode(), (self.host, self.port))

    def bye(self) -> Response:
        return self.send(self.request("BYE", to_user=self.to_user, to_tag=self.to_tag))
