"""NAT policy: which address the PBX shows a peer, and where a registered peer is reached.

* The PBX's own address in Via, Contact and SDP is the external one
  (sip.conf externaddr/externip, pjsip external_signaling_address /
  external_media_address) for a peer outside ``localnet`` / ``local_net``
  (:meth:`pbx.sip_model.NatSettings.remaps`), the listening address otherwise.
* A registered phone is reached where its REGISTER came from (its NAT binding)
  when the peer says so (sip.conf nat=force_rport/yes, the default; pjsip
  rewrite_contact=yes), else at the Contact it registered (nat=no, pjsip's
  default), as Asterisk does.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import TYPE_CHECKING

from pbx.sip.address import Address
from pbx.sip.uri import UriError, parse_uri

if TYPE_CHECKING:
    from pbx.config import Peer
    from pbx.location import Binding
    from pbx.sip_model import NatSettings

log = logging.getLogger("pbx.nat")

_DEFAULT_PORT = {"udp": 5060, "tcp": 5060, "tls": 5061, "ws": 80, "wss": 443}


def split_external(text: str) -> tuple[str, int | None]:
    """`host`, `host:port`, `[v6]:port` of an external address setting."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, int(port) if port.isdigit() else None
    return text, None


def signaling_address(local: Address, nat: NatSettings, remote_host: str) -> Address:
    """What goes in Via and Contact toward ``remote_host``: the external signalling
    address (its port, else the listening port) when NAT applies, else ``local``."""
    if not nat.external_signaling or not nat.remaps(remote_host):
        return local
    host, port = split_external(nat.external_signaling)
    return Address(local.transport, host, port or local.port)


def media_address(default: str, nat: NatSettings, remote_host: str) -> str:
    """The c=/o= address of our SDP toward ``remote_host``."""
    external = nat.external_media or nat.external_signaling
    if not external or not nat.remaps(remote_host):
        return default
    return split_external(external)[0]


def binding_destination(peer: Peer | None, binding: Binding) -> Address:
    """Where requests to a registered contact go: its source address (NAT) when the
    peer rewrites contacts, else the Contact URI itself (an IP literal; a name in
    the Contact is not resolved here, so the source is used then)."""
    source = Address(binding.transport, binding.source_host, binding.source_port)
    if peer is None or peer.rewrite_contact:
        return source
    try:
        uri = parse_uri(binding.contact)
        ipaddress.ip_address(uri.host)
    except (UriError, ValueError):
        log.debug("contact %s of %s is not an address: using its source %s",
                  binding.contact, peer.name, source)
        return source
    transport = (uri.params.get("transport") or binding.transport).lower()
    if transport not in _DEFAULT_PORT:
        transport = binding.transport
    if uri.scheme == "sips" and transport == "udp":
        transport = "tls"
    return Address(transport, uri.host, uri.port or _DEFAULT_PORT[transport])
