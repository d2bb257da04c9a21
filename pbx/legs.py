"""Making call legs: a media session, a SipChannel and its INVITE usage.

Inbound legs answer an INVITE (pbx.calls); outbound legs are what Dial()
rings: :class:`LegMaker` resolves dial targets to contacts (a contact that
qualify found unreachable is skipped, as Asterisk does) and sends the INVITE.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any

from pbx import leg_codecs
from pbx.channel import DialResult, DialTarget, new_channel_name
from pbx.dial import Destination, Dial
from pbx.media.session import MediaSession
from pbx.sip.address import Address
from pbx.sip.invite import InviteSettings
from pbx.sip.invite_usage import InviteUsage
from pbx.sip.requests import host_port, new_call_id, new_request, new_tag
from pbx.sipchannel import DialogIndex, LegServices, SipChannel

if TYPE_CHECKING:
    from pbx.config import Config, Peer
    from pbx.location import Location
    from pbx.media.clock import MediaClock
    from pbx.media.ports import PortAllocator
    from pbx.media.prompts import PromptLibrary
    from pbx.signalling import Signalling
    from pbx.sip.message import Request

log = logging.getLogger("pbx.dial")

SDP = "application/sdp"


class LegMaker:
    """Builds legs for one PBX; also the Dialer legs call for Dial()."""

    def __init__(self, *, signalling: Signalling, config: Callable[[], Config],
                 location: Location, ports: PortAllocator, media_clock: MediaClock,
                 dialogs: DialogIndex, prompts: Callable[[], PromptLibrary],
                 spawn: Callable[[Coroutine[Any, Any, Any]], asyncio.Task],
                 unreachable: Callable[[Peer], bool]) -> None:
        self.signalling = signalling
        self.config = config
        self.location = location
        self.ports = ports
        self.media_clock = media_clock
        self.dialogs = dialogs
        self.prompts = prompts
        self.spawn = spawn
        self.unreachable = unreachable  # qualify's verdict on a static host= peer

    def _services(self) -> LegServices:
        s = self.config().settings
        settings = InviteSettings(t1=s.t1, t2=s.t2, session_expires=s.session_expires,
                                  min_se=s.min_se)
        return LegServices(signalling=self.signalling, dialogs=self.dialogs,
                           prompts=self.prompts, spawn=self.spawn, settings=settings,
                           dialer=self)

    def local_for(self, remote: Address) -> Address:
        """Our transport address toward ``remote`` (same transport and IP family)."""
        family = 6 if ":" in remote.host else 4
        local = self.signalling.local_address(remote.transport, family)
        if local is None:
            raise OSError(f"no {remote.transport} listener for IPv{family}")
        return local

    async def new_leg(self, peer_name: str, *, inbound: bool, peer: Peer | None,
                      local: Address) -> SipChannel:
        """A leg with its media session (ports from rtp.ports); no SIP yet."""
        config = self.config()
        settings = config.settings
        media_ip = local.host if local.host not in ("0.0.0.0", "::") else "127.0.0.1"
        media = await MediaSession.open(asyncio.get_running_loop(), self.ports, media_ip,
                                        self.media_clock, rtp_timeout=settings.rtp_timeout or
                                        float(config.sip.general.rtptimeout))
        return SipChannel(new_channel_name("SIP", peer_name), services=self._services(),
                          inbound=inbound, peer=peer, media=media, local=local,
                          sdp_address=settings.external_ip or media_ip,
                          session_id=secrets.randbelow(2**31),
                          codec_names=leg_codecs.peer_codecs(peer, config.sip.general))

    def answer_invite(self, leg: SipChannel, invite: Request, tx: Any, source: Address) -> None:
        """Give an inbound leg the usage of the INVITE it answers."""
        local_tag = new_tag()
        usage = InviteUsage.uas(invite, tx, reply_to=source, local=leg.local,
                                contact=_contact(invite.uri.user or "pbx", leg.local),
                                local_tag=local_tag, timers=self.signalling.timers,
                                timer_owner=leg, settings=leg.services.settings)
        leg.attach(usage, invite.call_id, local_tag)

    # --- Dialer / LegFactory ----------------------------------------------------------
    async def dial(self, caller: SipChannel, targets: list[DialTarget], timeout: float | None,
                   options: str) -> DialResult:
        return await Dial(caller, self, targets, timeout, options).run()

    def resolve(self, targets: list[DialTarget]) -> list[Destination]:
        """Every reachable contact of every target; unknown, unregistered or
        unreachable targets give none (Dial then ends at once: CHANUNAVAIL)."""
        peers = self.config().sip.peers
        out: list[Destination] = []
        now = time.time()
        for target in targets:
            if target.tech.upper() not in ("SIP", "PJSIP"):
                log.warning("Dial: technology %s is not supported", target.tech)
                continue
            peer = peers.get(target.peer)
            if peer is None or not peer.can_be_called:
                log.info("Dial: no peer named %r", target.peer)
                continue
            if peer.dynamic:
                bindings = self.location.lookup(peer.name, now)
                for b in bindings:
                    if b.reachable is False:
                        log.info("Dial: %s at %s is UNREACHABLE (qualify)", peer.name,
                                 b.contact)
                        continue
                    uri = _with_user(b.contact, target.exten) if target.exten else b.contact
                    out.append(Destination(peer, uri, f"sip:{target.exten or peer.name}@"
                                           f"{_host(b.source_host)}",
                                           Address(b.transport, b.source_host, b.source_port)))
            elif self.unreachable(peer):
                log.info("Dial: %s is UNREACHABLE (qualify)", peer.name)
            else:
                host = _host(peer.host)
                user = target.exten or peer.defaultuser or ""
                at = f"{user}@" if user else ""
                uri = f"sip:{at}{host}:{peer.port}"
                out.append(Destination(peer, uri, uri,
                                       Address(peer.transport, peer.host, peer.port)))
        return out

    async def originate(self, caller: SipChannel, dest: Destination,
                        events: Callable[[SipChannel, Any], None],
                        headers: Sequence[tuple[str, str]] = ()) -> SipChannel:
        """Create the outbound leg and send its INVITE with our SDP offer; `headers`
        are added to the INVITE (Page: Call-Info/Alert-Info for auto-answer)."""
        local = self.local_for(dest.address)
        leg = await self.new_leg(dest.peer.name, inbound=False, peer=dest.peer, local=local)
        leg.context, leg.exten = caller.context, dest.to_uri
        leg.callerid = caller.callerid
        leg.dial_events = events
        cid = caller.callerid
        tag = new_tag()
        invite = new_request("INVITE", dest.uri, local=local, from_user=cid.num or "anonymous",
                             from_display=cid.name or None, to_uri=dest.to_uri,
                             realm_host=host_port(local), call_id=new_call_id(local),
                             from_tag=tag, contact_user=cid.num or "pbx",
                             extra=[("Allow", self.signalling.allow_header()),
                                    ("Supported", "replaces, timer"), *headers],
                             body=leg.sdp.dial_offer(caller.sdp, caller.codec_open),
                             content_type=SDP)
        usage, actions = InviteUsage.uac(invite, dest=dest.address, local=local,
                                         contact=_contact(cid.num or "pbx", local),
                                         timers=self.signalling.timers, timer_owner=leg,
                                         settings=leg.services.settings)
        leg.attach(usage, invite.call_id, tag)
        leg.run(actions)
        return leg


def _contact(user: str, local: Address) -> str:
    transport = "" if local.transport == "udp" else f";transport={local.transport}"
    return f"<sip:{user}@{host_port(local)}{transport}>"


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _with_user(uri: str, user: str) -> str:
    scheme, _, rest = uri.partition(":")
    hostpart = rest.split("@", 1)[1] if "@" in rest else rest
    return f"{scheme}:{user}@{hostpart}"
