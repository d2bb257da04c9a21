"""Building requests the PBX originates (OPTIONS pings, INVITE, BYE, NOTIFY)."""

from __future__ import annotations

import secrets

from pbx.sip.address import Address
from pbx.sip.headers import Headers
from pbx.sip.message import Request
from pbx.sip.transaction import new_branch


def host_port(address: Address) -> str:
    """`host:port` with IPv6 brackets, for Via, Contact and URIs."""
    host = f"[{address.host}]" if ":" in address.host else address.host
    return f"{host}:{address.port}"


def new_tag() -> str:
    return secrets.token_hex(5)


def new_call_id(local: Address) -> str:
    return f"{secrets.token_hex(10)}@{local.host}"


def via_value(local: Address) -> str:
    """A top Via for a new client transaction (fresh branch, rport asked)."""
    return f"SIP/2.0/{local.transport.upper()} {host_port(local)};branch={new_branch()};rport"


def new_request(method: str, uri: str, *, local: Address, from_user: str, to_uri: str,
                realm_host: str | None = None, from_display: str | None = None,
                call_id: str | None = None, cseq: int = 1, from_tag: str | None = None,
                to_tag: str | None = None, contact_user: str | None = None,
                extra: list[tuple[str, str]] = (), body: bytes = b"",
                content_type: str | None = None) -> Request:
    """An out-of-dialog (or first) request from the PBX to `uri`."""
    domain = realm_host or host_port(local)
    display = f'"{from_display}" ' if from_display else ""
    headers = Headers([
        ("Via", via_value(local)),
        ("Max-Forwards", "70"),
        ("From", f"{display}<sip:{from_user}@{domain}>;tag={from_tag or new_tag()}"),
        ("To", f"<{to_uri}>" + (f";tag={to_tag}" if to_tag else "")),
        ("Call-ID", call_id or new_call_id(local)),
        ("CSeq", f"{cseq} {method}"),
    ])
    if method in ("INVITE", "SUBSCRIBE", "REFER", "NOTIFY", "OPTIONS"):
        transport = "" if local.transport == "udp" else f";transport={local.transport}"
        headers.add("Contact", f"<sip:{contact_user or from_user}@{host_port(local)}{transport}>")
    for name, value in extra:
        headers.add(name, value)
    if content_type:
        headers.add("Content-Type", content_type)
    return Request(method, uri, headers, body)
