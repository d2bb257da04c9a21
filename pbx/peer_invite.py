"""What an INVITE to a peer (a phone or a provider's trunk) says about the caller,
and where requests to a static peer go.

* From: the peer's fromuser / from_user (else the caller ID number) at its
  fromdomain / from_domain (else our address), with the caller ID name;
* the caller ID (``Set(CALLERID(num)=...)``) as P-Asserted-Identity when the
  peer is trusted with it (sendrpid=pai, send_pai=yes) or as Remote-Party-ID
  (sendrpid=yes|rpid, send_rpid=yes), as chan_sip and chan_pjsip send them;
* outboundproxy / outbound_proxy: the request goes to the proxy, with a
  loose-routing Route header naming it (RFC 3261 8.1.2, 16.12).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pbx.sip.address import Address

if TYPE_CHECKING:
    from pbx.channel import CallerId
    from pbx.config import Peer


@dataclass(frozen=True, slots=True)
class CallerHeaders:
    from_user: str
    from_display: str | None
    from_domain: str
    contact_user: str
    extra: tuple[tuple[str, str], ...]  # P-Asserted-Identity / Remote-Party-ID


def caller_headers(peer: Peer | None, callerid: CallerId, our_host: str) -> CallerHeaders:
    """The identity headers of an INVITE to ``peer`` from a caller ``callerid``;
    ``our_host`` (host:port we show the peer) is the domain without fromdomain."""
    num = callerid.num
    name = callerid.name or None
    fromuser = peer.fromuser if peer is not None else None
    domain = (peer.fromdomain if peer is not None else None) or our_host
    extra: list[tuple[str, str]] = []
    if peer is not None and num:
        identity = f"{_display(name)}<sip:{num}@{domain}>"
        if peer.send_pai:
            extra.append(("P-Asserted-Identity", identity))
        if peer.send_rpid:
            extra.append(("Remote-Party-ID",
                          f"{identity};party=calling;privacy=off;screen=no"))
    return CallerHeaders(from_user=fromuser or num or "anonymous", from_display=name,
                         from_domain=domain, contact_user=fromuser or num or "pbx",
                         extra=tuple(extra))


def _display(name: str | None) -> str:
    if not name:
        return ""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '" '


@dataclass(frozen=True, slots=True)
class Hop:
    """Where a request to a peer is sent, and the Route header that says so."""

    address: Address  # may hold a host name: see resolve()
    route: str | None  # `<sip:proxy;lr>` when an outbound proxy is used


def proxy_hop(peer: Peer) -> Hop | None:
    """The peer's outbound proxy (sip:host[:port][;transport=x]) as a Hop; None if none."""
    proxy = peer.outbound_proxy
    if not proxy:
        return None
    rest = proxy.split(":", 1)[1]
    rest, *params = rest.split(";")
    transport = peer.transport
    for param in params:
        if param.lower().startswith("transport="):
            transport = param.split("=", 1)[1].lower()
    if rest.startswith("["):
        host, _, port_text = rest[1:].partition("]")
        port_text = port_text.lstrip(":")
    else:
        host, _, port_text = rest.partition(":")
    port = int(port_text) if port_text else (5061 if transport == "tls" else 5060)
    hostpart = f"[{host}]" if ":" in host else host
    tparam = f";transport={transport}" if transport != "udp" else ""
    return Hop(Address(transport, host, port), f"<sip:{hostpart}:{port}{tparam};lr>")


def static_hop(peer: Peer) -> Hop:
    """Where requests to a host= peer (a static pjsip contact) go."""
    return proxy_hop(peer) or Hop(Address(peer.transport, peer.host, peer.port), None)


def is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def resolve(address: Address) -> Address:
    """``address`` with its host name looked up (an IP address is returned as is);
    OSError when the name does not resolve."""
    if is_address(address.host):
        return address
    loop = asyncio.get_running_loop()
    kind = socket.SOCK_DGRAM if address.transport == "udp" else socket.SOCK_STREAM
    infos = await loop.getaddrinfo(address.host, address.port, type=kind)
    if not infos:
        raise OSError(f"{address.host} does not resolve")
    return Address(address.transport, infos[0][4][0], address.port)
