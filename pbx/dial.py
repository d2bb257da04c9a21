"""Dial(): ring every contact of every target at once; bridge the first to answer.

Each outbound leg is a SipChannel whose INVITE client transaction reports
responses into one event queue per Dial; the Dial coroutine is the only task.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pbx import leg_codecs, q850
from pbx.channel import ChannelState, DialResult, DialTarget
from pbx.media.ports import PortsExhausted
from pbx.media.relay import Relay
from pbx.sip.address import Address
from pbx.sip.dialog import Dialog
from pbx.sip.message import Response, parse_message
from pbx.sip.requests import host_port, new_call_id, new_request, new_tag
from pbx.sip.sdp import SdpError, accept_answer, make_offer
from pbx.sip.transaction import build_cancel_bytes

if TYPE_CHECKING:
    from pbx.config import Peer
    from pbx.sipchannel import SipChannel

log = logging.getLogger("pbx.dial")

SDP = "application/sdp"


@dataclass(slots=True)
class Destination:
    peer: Peer
    uri: str  # Request-URI
    to_uri: str
    address: Address  # where the INVITE goes


def resolve(a: SipChannel, targets: list[DialTarget]) -> list[Destination]:
    """Every contact of every target; unregistered or unknown targets give none."""
    manager = a.manager
    out: list[Destination] = []
    now = time.time()
    for target in targets:
        if target.tech.upper() not in ("SIP", "PJSIP"):
            log.warning("Dial: technology %s is not supported", target.tech)
            continue
        peer = manager.config.sip.peers.get(target.peer)
        if peer is None or not peer.can_be_called:
            log.info("Dial: no peer named %r", target.peer)
            continue
        if peer.dynamic:
            for b in manager.pbx.location.lookup(peer.name, now):
                uri = b.contact
                if target.exten:
                    uri = _with_user(uri, target.exten)
                out.append(Destination(peer, uri, f"sip:{target.exten or peer.name}@"
                                       f"{_host(b.source_host)}",
                                       Address(b.transport, b.source_host, b.source_port)))
        else:
            host = _host(peer.host)
            user = target.exten or peer.defaultuser or ""
            at = f"{user}@" if user else ""
            uri = f"sip:{at}{host}:{peer.port}"
            out.append(Destination(peer, uri, uri, Address(peer.transport, peer.host, peer.port)))
    return out


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _with_user(uri: str, user: str) -> str:
    scheme, _, rest = uri.partition(":")
    hostpart = rest.split("@", 1)[1] if "@" in rest else rest
    return f"{scheme}:{user}@{hostpart}"


async def dial(a: SipChannel, targets: list[DialTarget], timeout: float | None,
               options: str) -> DialResult:
    """Ring, bridge, and report how it went (DIALSTATUS and times)."""
    started = time.monotonic()
    destinations = resolve(a, targets)
    if not destinations:
        return DialResult(status="CHANUNAVAIL")
    events: asyncio.Queue = asyncio.Queue()
    legs: list[SipChannel] = []
    for dest in destinations:
        try:
            legs.append(await originate(a, dest, events))
        except PortsExhausted as exc:
            log.error("Dial: %s", exc)
    if not legs:
        return DialResult(status="CONGESTION")
    # The CDR names the dialed channel even when nobody answers (Asterisk does too).
    a.dst_channel = legs[0]
    if "r" in options:
        await a.ringing()
    winner, status = await _wait_answer(a, legs, events, timeout)
    for leg in legs:
        leg.dial_done = True  # later responses go to _late_response
    if winner is None:
        for leg in legs:
            await leg.hangup(q850.NORMAL_CLEARING)
        dialed = int(time.monotonic() - started)
        return DialResult(status=status, dialed_time=dialed)
    for leg in legs:
        if leg is not winner:
            await leg.hangup(q850.NORMAL_CLEARING)  # CANCEL the losers
    a.dst_channel = winner
    if a.state is not ChannelState.UP:
        if winner.negotiated is not None:  # branch wideband: the callee's codec if we can
            a.prefer_codec(winner.negotiated.format)
        await a.answer()
    answered = time.monotonic()
    callee_hungup = await bridge(a, winner)
    end = time.monotonic()
    return DialResult(status="ANSWER", dialed_time=int(end - started),
                      answered_time=int(end - answered),
                      peer_number=winner.peer.name if winner.peer else "",
                      peer_channel=winner.name, callee_hungup=callee_hungup)


async def originate(a: SipChannel, dest: Destination, events: asyncio.Queue) -> SipChannel:
    """Create the outbound leg and send its INVITE with our SDP offer."""
    manager = a.manager
    local = manager._local_for(dest.address)
    leg = await manager.new_channel(dest.peer.name, inbound=False, peer=dest.peer, local=local,
                                    destination=dest.address)
    leg.context, leg.exten = a.context, dest.to_uri
    leg.callerid = a.callerid
    codecs = leg_codecs.dial_offer_formats(  # branch wideband: caller's codec first, Opus
        leg.codec_names, a.codec_names, a.remote_offer if a.codec_open else None,
        a.negotiated.local_format if a.negotiated else None)
    offer = make_offer(leg.sdp_ip, leg.media.local_port, codecs=codecs, dtmf_pt=101,
                       session_id=leg.sdp_session_id, version=0)
    leg.local_sdp_offer = offer
    cid = a.callerid
    req = new_request("INVITE", dest.uri, local=local, from_user=cid.num or "anonymous",
                      from_display=cid.name or None, to_uri=dest.to_uri,
                      realm_host=host_port(local), call_id=new_call_id(local),
                      from_tag=new_tag(), contact_user=cid.num or "pbx",
                      extra=[("Allow", manager.core.allow_header())],
                      body=offer.to_bytes(), content_type=SDP)
    leg.invite = req

    def on_response(resp: Response | None) -> None:
        if resp is not None and 100 < resp.status < 200:
            leg.provisional = True
            if leg.cancel_pending:
                cancel_leg(leg)
        if leg.dial_done:
            _late_response(leg, resp)
        else:
            events.put_nowait((leg, resp))

    leg.client_tx = manager.core.send_request(req, dest.address, on_response)
    return leg


def cancel_leg(leg: SipChannel) -> None:
    """CANCEL an INVITE still pending (RFC 3261 9.1), once."""
    tx = getattr(leg, "client_tx", None)
    if tx is None or getattr(leg, "cancelled", False):
        return
    if not leg.provisional:
        # RFC 3261 9.1: CANCEL only after a provisional response; sent when one comes.
        leg.cancel_pending = True
        return
    leg.cancelled = True
    cancel = parse_message(build_cancel_bytes(tx))
    leg.manager.core.send_request(cancel, leg.destination, lambda resp: None)


async def _wait_answer(a: SipChannel, legs: list[SipChannel], events: asyncio.Queue,
                       timeout: float | None) -> tuple[SipChannel | None, str]:
    """Process leg responses until one answers, all fail, timeout or A hangs up."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout if timeout else None
    pending = set(legs)
    causes: list[int] = []
    early: Relay | None = None
    gone = asyncio.ensure_future(a.hungup.wait())
    try:
        while pending:
            wait_for = None if deadline is None else max(0.0, deadline - loop.time())
            get = asyncio.ensure_future(events.get())
            done, _ = await asyncio.wait({get, gone}, timeout=wait_for,
                                         return_when=asyncio.FIRST_COMPLETED)
            if get not in done:
                get.cancel()
                if gone in done:
                    return None, "CANCEL"
                return None, "NOANSWER"
            leg, resp = get.result()
            if leg not in pending:
                if resp is not None and 200 <= resp.status < 300 and leg.dialog is None:
                    _ack_and_bye(leg, resp)  # a late 2xx on a cancelled leg
                elif resp is not None and 200 <= resp.status < 300 and leg.dialog is not None:
                    leg.manager.core.send_bytes(leg.ack_bytes, leg.destination)
                continue
            if resp is None:  # timeout / transport error
                pending.discard(leg)
                causes.append(q850.NO_USER_RESPONSE)
                leg._gone(q850.NO_USER_RESPONSE)
                continue
            status = resp.status
            if status < 200:
                if status == 100:
                    continue
                if status == 183 and resp.body and a.state is not ChannelState.UP:
                    try:
                        answer = accept_answer(leg.local_sdp_offer, resp.body)
                        leg.negotiated = answer
                        leg._apply(answer)
                        a.prefer_codec(answer.format)  # branch wideband
                        await a.progress()
                        if early is None and a.early:
                            early = Relay(a.media, leg.media)
                            early.start()
                    except SdpError:
                        pass
                elif a.state is ChannelState.RING:
                    await a.ringing()
                continue
            if status < 300:
                if early is not None:
                    early.stop()
                if not _answered(leg, resp):
                    pending.discard(leg)
                    causes.append(q850.BEARER_NOT_AVAIL)
                    continue
                return leg, "ANSWER"
            pending.discard(leg)
            cause = q850.cause_from_sip(status)
            causes.append(cause)
            leg.hangup_cause = cause
            leg._gone(cause)
    finally:
        gone.cancel()
        if early is not None:
            early.stop()
    return None, _dialstatus(causes)


def _late_response(leg: SipChannel, resp: Response | None) -> None:
    """A response after Dial finished with this leg (a loser, or a race with CANCEL):
    a 2xx still needs its ACK, and then a BYE when the leg is not in the call."""
    if resp is None or not 200 <= resp.status < 300:
        return
    if leg.dialog is None:
        _ack_and_bye(leg, resp)
    elif leg.ack_bytes:
        leg.manager.core.send_bytes(leg.ack_bytes, leg.destination)  # 2xx retransmission


def _dialstatus(causes: list[int]) -> str:
    """Asterisk reports BUSY if any callee was busy, else the last failure."""
    statuses = [q850.dialstatus_from_cause(c) for c in causes]
    for preferred in ("BUSY", "NOANSWER", "CONGESTION"):
        if preferred in statuses:
            return preferred
    return statuses[-1] if statuses else "CHANUNAVAIL"


def _answered(leg: SipChannel, resp: Response) -> bool:
    """A 2xx for our INVITE: make the dialog, ACK, take the SDP answer."""
    leg.dialog = Dialog.as_uac(leg.invite, resp)  # type: ignore[arg-type]
    leg.manager.add_dialog(leg)
    leg.manager.send_ack(leg, resp)
    try:
        answer = accept_answer(leg.local_sdp_offer, resp.body)
    except SdpError as exc:
        log.warning("%s: unusable SDP answer: %s", leg.name, exc)
        leg.send_bye()
        leg._gone(q850.BEARER_NOT_AVAIL)
        return False
    leg.negotiated = answer
    leg._apply(answer)
    leg.state = ChannelState.UP
    leg.answered_at = time.time()
    leg.client_tx = None
    return True


def _ack_and_bye(leg: SipChannel, resp: Response) -> None:
    leg.dialog = Dialog.as_uac(leg.invite, resp)  # type: ignore[arg-type]
    leg.manager.send_ack(leg, resp)
    leg.send_bye()


async def bridge(a: SipChannel, b: SipChannel) -> bool:
    """Relay media until either side hangs up; True when the callee hung up first."""
    relay = Relay(a.media, b.media)
    a.relay = b.relay = relay
    a.bridged_to, b.bridged_to = b, a
    relay.start()
    ga = asyncio.ensure_future(a.hungup.wait())
    gb = asyncio.ensure_future(b.hungup.wait())
    try:
        done, _ = await asyncio.wait({ga, gb}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        ga.cancel()
        gb.cancel()
        relay.stop()
        a.relay = b.relay = None
        a.bridged_to = b.bridged_to = None
    if gb in done and a.state is not ChannelState.HUNGUP:
        return True
    await b.hangup(q850.NORMAL_CLEARING)
    return False
