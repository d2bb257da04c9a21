"""The technology-neutral parts of the SIP configuration model.

Both loaders fill these: sip.conf (`register =>`, `remotesecret`, `externip`, ...)
and pjsip.conf (`type=registration`, `type=auth`, `type=transport`, ...). The
peer/endpoint itself is :class:`pbx.config.Peer`; what it gains from trunks
(outbound credentials, identify matches, static contacts) lives in the types here.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class OutboundAuth:
    """Credentials the PBX answers a 401/407 with, as a client (UAC).

    ``realm`` None answers any realm (sip.conf, pjsip without realm=); set, only
    a challenge from that realm is answered (pjsip's outbound auth realm).
    """

    username: str
    password: str
    realm: str | None = None

    def answers(self, realm: str) -> bool:
        return self.realm is None or self.realm == realm


@dataclass(slots=True)
class NatSettings:
    """The PBX's own public address for peers outside ``local_nets``.

    sip.conf: externip/externaddr + localnet ([general]); pjsip.conf:
    external_signaling_address / external_media_address + local_net of a transport.
    """

    external_signaling: str | None = None  # host or host:port
    external_media: str | None = None
    local_nets: list[IpNetwork] = field(default_factory=list)

    def is_local(self, host: str) -> bool:
        """True when ``host`` is inside a local_net (or no address is external)."""
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(ip in net for net in self.local_nets)

    def remaps(self, host: str) -> bool:
        """True when the PBX shows ``host`` its external address: one is set and
        ``host`` is outside every local_net (none set: every host is outside, as
        in Asterisk). Loopback is always local: a proxy or SBC on this machine."""
        if not (self.external_signaling or self.external_media):
            return False
        try:
            if ipaddress.ip_address(host).is_loopback:
                return False
        except ValueError:
            pass  # a host name: outside unless a local_net says otherwise (it cannot)
        return not self.is_local(host)


@dataclass(slots=True)
class TransportSpec:
    """A pjsip.conf `type=transport` section (sip.conf has none: its [general] NAT
    keys go to :attr:`pbx.config.SipConfig.nat`)."""

    name: str
    protocol: str = "udp"  # udp, tcp, tls, ws, wss
    bind: str = "0.0.0.0:5060"
    nat: NatSettings = field(default_factory=NatSettings)
    file: str = ""
    line: int = 0


@dataclass(slots=True)
class Registration:
    """One outbound registration of the PBX to a provider (RFC 3261 10.2).

    sip.conf `register => ...` and pjsip.conf `type=registration` both give one.
    ``server_host``/``server_port``/``transport`` say where REGISTERs go (the
    Request-URI is ``server_uri``); ``client_uri`` is the address of record
    (From and To); ``contact_user`` is the user of the PBX's Contact, which is
    where the provider sends inbound calls (sip.conf's ``/extension``).
    """

    name: str
    server_uri: str  # sip:host[:port]
    client_uri: str  # sip:user@domain
    server_host: str
    server_port: int = 5060
    transport: str = "udp"
    contact_user: str = "s"
    auth: OutboundAuth | None = None
    expiration: int = 3600
    retry_interval: int = 60
    forbidden_retry_interval: int = 0  # 0: a 403 stops the registration
    fatal_retry_interval: int = 0  # 0: another fatal answer stops it
    max_retries: int | None = 10  # None: retry forever (sip.conf registerattempts=0)
    auth_rejection_permanent: bool = True
    outbound_proxy: str | None = None  # sip:host[:port]: where REGISTERs are sent instead
    endpoint: str | None = None  # the peer/endpoint inbound calls of this line belong to
    line: bool = False  # pjsip line=yes: a ;line= parameter in Contact identifies the trunk
    tech: str = "SIP"  # SIP (sip.conf) or PJSIP (pjsip.conf), for `pbx registry`
    file: str = ""
    lineno: int = 0
    col: int = 0

    @property
    def username(self) -> str:
        """User part of the address of record."""
        rest = self.client_uri.split(":", 1)[1] if ":" in self.client_uri else self.client_uri
        return rest.split("@", 1)[0] if "@" in rest else ""

    @property
    def domain(self) -> str:
        rest = self.client_uri.split(":", 1)[1] if ":" in self.client_uri else self.client_uri
        return rest.split("@", 1)[1] if "@" in rest else rest
