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

from pbx import leg_codecs, nat
from pbx.added_headers import outbound_headers
from pbx.call_limits import CallLimitReached, CallLimits
from pbx.channel import DialResult, DialTarget, new_channel_name
from pbx.dial import Destination, Dial
from pbx.local_channel import LocalDestination, LocalServices, make_pair
from pbx.media.session import MediaSession
from pbx.peer_invite import caller_headers, proxy_hop, resolve, static_hop
from pbx.sip.address import Address
from pbx.sip.invite import InviteSettings
from pbx.sip.invite_usage import InviteUsage
from pbx.sip.requests import host_port, new_call_id, new_request, new_tag
from pbx.sipchannel import CallControl, DialogIndex, LegServices, LegWatcher, SipChannel

if TYPE_CHECKING:
    from pbx.channel_media import FeatureServices
    from pbx.config import Config, Peer
    from pbx.indications import ToneList
    from pbx.local_channel import LocalChannel
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
                 unreachable: Callable[[Peer], bool],
                 limits: CallLimits | None = None,
                 devices: LegWatcher | None = None,
                 features: FeatureServices | None = None,
                 run_local: Callable[[LocalChannel], Coroutine[Any, Any, Any]] | None = None,
                 calls: CallControl | None = None,
                 ) -> None:
        self.signalling = signalling
        self.config = config
        self.location = location
        self.ports = ports
        self.media_clock = media_clock
        self.dialogs = dialogs
        self.prompts = prompts
        self.spawn = spawn
        self.unreachable = unreachable  # qualify's verdict on a static host= peer
        self.limits = limits or CallLimits()  # call-limit per peer
        self.devices = devices  # device state: every leg reports its changes (busy lamps)
        self.features = features  # music on hold, MixMonitor (pbx.channel_media)
        self.run_local = run_local  # runs a Local channel's `;2` through the dialplan
        self.calls = calls  # transfers and bridges (pbx.calls.CallManager)

    def _services(self) -> LegServices:
        s = self.config().settings
        settings = InviteSettings(t1=s.t1, t2=s.t2, session_expires=s.session_expires,
                                  min_se=s.min_se)
        return LegServices(signalling=self.signalling, dialogs=self.dialogs,
                           prompts=self.prompts, spawn=self.spawn, settings=settings,
                           dialer=self, devices=self.devices, features=self.features,
                           calls=self.calls)

    def local_for(self, remote: Address) -> Address:
        """Our transport address toward ``remote`` (same transport and IP family)."""
        family = 6 if ":" in remote.host else 4
        local = self.signalling.local_address(remote.transport, family, toward=remote.host)
        if local is None:
            raise OSError(f"no {remote.transport} listener for IPv{family}")
        return local

    async def new_leg(self, peer_name: str, *, inbound: bool, peer: Peer | None,
                      local: Address, remote_host: str) -> SipChannel:
        """A leg with its media session (ports from rtp.ports); no SIP yet.

        Toward a ``remote_host`` outside localnet our SDP shows the external
        media address (NAT); RTP is latched to where it comes from only for a
        peer with nat=comedia / rtp_symmetric=yes, else sent where its SDP says."""
        config = self.config()
        settings = config.settings
        media_ip = local.host if local.host not in ("0.0.0.0", "::") else "127.0.0.1"
        media = await MediaSession.open(asyncio.get_running_loop(), self.ports, media_ip,
                                        self.media_clock, rtp_timeout=settings.rtp_timeout or
                                        float(config.sip.general.rtptimeout))
        media.symmetric = peer.rtp_symmetric if peer is not None else False
        sdp_address = nat.media_address(settings.external_ip or media_ip, config.sip.nat,
                                        remote_host)
        tech = peer.tech if peer is not None else "SIP"
        return SipChannel(new_channel_name(tech, peer_name), services=self._services(),
                          inbound=inbound, peer=peer, media=media, local=local,
                          sdp_address=sdp_address, session_id=secrets.randbelow(2**31),
                          codec_names=leg_codecs.peer_codecs(peer, config.sip.general))

    def shown_address(self, local: Address, remote_host: str) -> Address:
        """Our address in Via and Contact toward ``remote_host`` (NAT: externaddr)."""
        return nat.signaling_address(local, self.config().sip.nat, remote_host)

    def answer_invite(self, leg: SipChannel, invite: Request, tx: Any, source: Address) -> None:
        """Give an inbound leg the usage of the INVITE it answers."""
        local_tag = new_tag()
        shown = self.shown_address(leg.local, source.host)
        usage = InviteUsage.uas(invite, tx, reply_to=source, local=shown,
                                contact=_contact(invite.uri.user or "pbx", shown),
                                local_tag=local_tag, timers=self.signalling.timers,
                                timer_owner=leg, settings=leg.services.settings)
        leg.attach(usage, invite.call_id, local_tag)
        leg.keep_invite_headers(invite.headers)  # PJSIP_HEADER(read)

    # --- Dialer / LegFactory ----------------------------------------------------------
    async def dial(self, caller: SipChannel, targets: list[DialTarget], timeout: float | None,
                   options: str, consult: Any = None) -> DialResult:
        dial = Dial(caller, self, targets, timeout, options, consult=consult)
        if consult is not None:
            consult.dial = dial  # it may abort or hand over the ringing call
        return await dial.run()

    def ring_tone(self, zone: str) -> ToneList | None:
        """The `ring` tone of indications.conf in ``zone`` ("" : the default country),
        for a caller already answered that must hear its callee ring (a transferee)."""
        from pbx.indications import BUILTIN

        return (self.config().indications or BUILTIN).tone("ring", zone or None)

    def resolve(self, targets: list[DialTarget]) -> list[Destination | LocalDestination]:
        """Every reachable contact of every target; unknown, unregistered or
        unreachable targets give none (Dial then ends at once: CHANUNAVAIL).
        `Local/exten@context` is there when the dialplan has that extension."""
        peers = self.config().sip.peers
        out: list[Destination | LocalDestination] = []
        now = time.time()
        for target in targets:
            if target.tech.upper() == "LOCAL":
                local = self._local(target)
                if local is not None:
                    out.append(local)
                continue
            if target.tech.upper() not in ("SIP", "PJSIP"):
                log.warning("Dial: technology %s is not supported", target.tech)
                continue
            peer = peers.get(target.peer)
            if peer is None or not peer.can_be_called:
                log.info("Dial: no peer named %r", target.peer)
                continue
            if peer.dynamic:
                proxy = proxy_hop(peer)
                for b in self.location.lookup(peer.name, now):
                    if b.reachable is False:
                        log.info("Dial: %s at %s is UNREACHABLE (qualify)", peer.name,
                                 b.contact)
                        continue
                    uri = _with_user(b.contact, target.exten) if target.exten else b.contact
                    address = proxy.address if proxy else nat.binding_destination(peer, b)
                    out.append(Destination(peer, uri, f"sip:{target.exten or peer.name}@"
                                           f"{_host(address.host)}", address,
                                           route=proxy.route if proxy else None))
            elif self.unreachable(peer):
                log.info("Dial: %s is UNREACHABLE (qualify)", peer.name)
            else:
                user = target.exten or peer.defaultuser or ""
                at = f"{user}@" if user else ""
                tparam = f";transport={peer.transport}" if peer.transport != "udp" else ""
                uri = f"sip:{at}{_host(peer.host)}:{peer.port}{tparam}"
                hop = static_hop(peer)
                out.append(Destination(peer, uri, f"sip:{at}{_host(peer.host)}", hop.address,
                                       route=hop.route))
        return out

    def _local(self, target: DialTarget) -> LocalDestination | None:
        from dialplan.interpreter import exists

        dest = LocalDestination(target.exten or "", target.peer or "default", target.options)
        dialplan = self.config().dialplan
        if self.run_local is None or dialplan is None or not dest.exten or \
                not exists(dialplan, dest.context, dest.exten):
            log.info("Dial: no extension %s for Local", dest.name)
            return None
        return dest

    async def originate(self, caller: SipChannel, dest: Destination | LocalDestination,
                        events: Callable[[SipChannel, Any], None],
                        headers: Sequence[tuple[str, str]] = ()) -> SipChannel:
        """Create the outbound leg and send its INVITE with our SDP offer (a Local
        destination: the `;1` half, its `;2` running the dialplan); `headers` are
        added to the INVITE (Page: Call-Info/Alert-Info for auto-answer).

        Raises CallLimitReached when the peer has its call-limit of calls, OSError
        when its host name does not resolve or no listener can reach it."""
        if isinstance(dest, LocalDestination):
            return self._originate_local(caller, dest, events)  # type: ignore[return-value]
        address = await resolve(dest.address)
        local = self.local_for(address)
        peer = dest.peer
        if not self.limits.take_peer(peer):
            raise CallLimitReached(f"{peer.name} has its call-limit of {peer.call_limit} calls")
        try:
            leg = await self.new_leg(peer.name, inbound=False, peer=peer, local=local,
                                     remote_host=address.host)
        except BaseException:
            self.limits.end_peer(peer)
            raise
        leg.on_gone(lambda _leg: self.limits.end_peer(peer))
        # As Asterisk's Dial: the callee leg has the caller's context and extension
        # (Pickup(exten@context) finds a ringing leg by them).
        leg.context, leg.exten = caller.context, caller.exten
        leg.callerid = caller.callerid
        leg.musicclass = caller.musicclass  # app_dial: the callee inherits it
        leg.dial_events = events
        shown = self.shown_address(local, address.host)
        who = caller_headers(peer, caller.callerid, host_port(shown))
        tag = new_tag()
        extra = [("Allow", self.signalling.allow_header()), ("Supported", "replaces, timer"),
                 *who.extra,
                 # SIPAddHeader / PJSIP_HEADER(add) of the caller
                 *outbound_headers(caller.variables, caller.added_headers), *headers]
        if dest.route:
            extra.insert(0, ("Route", dest.route))
        invite = new_request("INVITE", dest.uri, local=shown, from_user=who.from_user,
                             from_display=who.from_display, to_uri=dest.to_uri,
                             realm_host=who.from_domain, call_id=new_call_id(shown),
                             from_tag=tag, contact_user=who.contact_user, extra=extra,
                             body=leg.sdp.dial_offer(caller.sdp, caller.codec_open),
                             content_type=SDP)
        usage, actions = InviteUsage.uac(invite, dest=address, local=shown,
                                         contact=_contact(who.contact_user, shown),
                                         timers=self.signalling.timers, timer_owner=leg,
                                         settings=leg.services.settings,
                                         credentials=peer.outbound_auth)
        leg.attach(usage, invite.call_id, tag)
        leg.run(actions)
        return leg


    def _originate_local(self, caller: Any, dest: LocalDestination,
                         events: Callable[[Any, Any], None]) -> LocalChannel:
        assert self.run_local is not None
        services = LocalServices(prompts=self.prompts, spawn=self.spawn, dialer=self,
                                 features=self.features, calls=self.calls)
        outer, inner = make_pair(caller, dest, services, asyncio.get_running_loop(),
                                 self.media_clock)
        outer.dial_events = events
        log.info("%s: %s dials %s (%s runs %s@%s)", outer.name, caller.name, dest.name,
                 inner.name, dest.exten, dest.context)
        self.spawn(self.run_local(inner))
        return outer


def _contact(user: str, local: Address) -> str:
    transport = "" if local.transport == "udp" else f";transport={local.transport}"
    return f"<sip:{user}@{host_port(local)}{transport}>"


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _with_user(uri: str, user: str) -> str:
    scheme, _, rest = uri.partition(":")
    hostpart = rest.split("@", 1)[1] if "@" in rest else rest
    return f"{scheme}:{user}@{hostpart}"
