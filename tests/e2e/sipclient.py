"""A tiny SIP client over a real socket, for registrar tests that need exact
control (expiry values, contact lists, algorithms); SIPp and baresip cover the rest."""

from __future__ import annotations

import socket
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

    def request(self, method: str, *, to_user: str | None = None,
                headers: list[tuple[str, str]] = (), body: bytes = b"") -> bytes:
        self.cseq += 1
        h = f"[{self.host}]" if ":" in self.host else self.host
        lines = [f"{method} sip:{self.hostport} SIP/2.0",
                 f"Via: SIP/2.0/{self.transport.upper()} {h}:{self.local_port};"
                 f"branch=z9hG4bK{uuid.uuid4().hex};rport",
                 f"From: <sip:{self.user}@{self.hostport}>;tag={self.tag}",
                 f"To: <sip:{to_user or self.user}@{self.hostport}>",
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
