"""Dialog state (RFC 3261 sec. 12), sans-I/O: identifiers, CSeq, route set,
and building in-dialog requests (BYE, re-INVITE, INFO, ACK for 2xx)."""

from __future__ import annotations

from dataclasses import dataclass, field

from pbx.sip.headers import Headers
from pbx.sip.message import Request, Response
from pbx.sip.transaction import new_branch


@dataclass(slots=True)
class Dialog:
    call_id: str
    local_tag: str
    remote_tag: str | None
    local_uri: str  # From (UAC) / To (UAS) value, without tag
    remote_uri: str
    remote_target: str  # the remote's Contact URI: in-dialog requests go there
    route_set: list[str] = field(default_factory=list)
    local_seq: int = 1
    remote_seq: int | None = None
    invite_seq: int = 1  # CSeq of the INVITE that made it (for ACK and CANCEL)

    @classmethod
    def as_uas(cls, invite: Request, local_tag: str) -> Dialog:
        """The dialog an incoming INVITE creates when we answer it."""
        contacts = invite.contacts
        target = str(contacts[0].uri) if contacts else str(invite.from_addr.uri)
        return cls(
            call_id=invite.call_id, local_tag=local_tag, remote_tag=invite.from_addr.tag,
            local_uri=_without_tag(invite.headers.get("To") or ""),
            remote_uri=_without_tag(invite.headers.get("From") or ""),
            remote_target=target,
            route_set=[str(r) for r in invite.record_routes],
            local_seq=0, remote_seq=invite.cseq[0], invite_seq=invite.cseq[0])

    @classmethod
    def as_uac(cls, invite: Request, response: Response) -> Dialog:
        """The dialog our INVITE makes with the response (1xx with tag or 2xx)."""
        contacts = response.contacts
        target = str(contacts[0].uri) if contacts else str(invite.uri)
        return cls(
            call_id=invite.call_id, local_tag=invite.from_addr.tag or "",
            remote_tag=response.to_addr.tag,
            local_uri=_without_tag(invite.headers.get("From") or ""),
            remote_uri=_without_tag(invite.headers.get("To") or ""),
            remote_target=target,
            route_set=[str(r) for r in reversed(response.record_routes)],
            local_seq=invite.cseq[0], invite_seq=invite.cseq[0])

    def request(self, method: str, via: str, *, contact: str | None = None,
                extra: list[tuple[str, str]] = (), body: bytes = b"",
                content_type: str | None = None, cseq: int | None = None) -> Request:
        """An in-dialog request with the next CSeq number.

        An ACK must be given ``cseq``: the number of the INVITE it acknowledges
        (13.2.2.4), which is not the dialog's first INVITE after a re-INVITE."""
        if cseq is None:
            if method == "ACK":
                raise ValueError("an ACK takes the CSeq number of its INVITE")
            self.local_seq += 1
            cseq = self.local_seq
        remote = self.remote_uri + (f";tag={self.remote_tag}" if self.remote_tag else "")
        headers = Headers([
            ("Via", via),
            ("Max-Forwards", "70"),
            ("From", f"{self.local_uri};tag={self.local_tag}"),
            ("To", remote),
            ("Call-ID", self.call_id),
            ("CSeq", f"{cseq} {method}"),
        ])
        for route in self.route_set:
            headers.add("Route", f"<{route}>" if not route.startswith("<") else route)
        if contact:
            headers.add("Contact", contact)
        for name, value in extra:
            headers.add(name, value)
        if content_type:
            headers.add("Content-Type", content_type)
        return Request(method, self.remote_target, headers, body)

    def accepts(self, req: Request) -> bool:
        """RFC 3261 12.2.2: a lower CSeq than the last one is out of order."""
        seq = req.cseq[0]
        if req.method in ("ACK", "CANCEL"):
            return True
        if self.remote_seq is not None and seq < self.remote_seq:
            return False
        self.remote_seq = seq
        return True


def _without_tag(value: str) -> str:
    """Drop the `;tag=` parameter from a From/To value (outside the <...>)."""
    close = value.rfind(">")
    head, tail = (value[:close + 1], value[close + 1:]) if close >= 0 else ("", value)
    params = [p for p in tail.split(";") if p.strip() and not p.strip().lower().startswith("tag=")]
    if head:
        return head + "".join(f";{p.strip()}" for p in params)
    return ";".join(p.strip() for p in params)


def new_via(local_transport: str, host_port: str) -> str:
    """A Via for a new transaction."""
    return f"SIP/2.0/{local_transport.upper()} {host_port};branch={new_branch()};rport"
