"""Calls: the B2BUA. Every INVITE becomes an inbound SipChannel running the
dialplan; Dial makes outbound SipChannels (pbx.dial). One task per call (the
dialplan), none per message or packet.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import TYPE_CHECKING, Any

from pbx import q850
from pbx.cdr import cdr_row
from pbx.channel import CallerId, ChannelState, new_channel_name
from pbx.config import Config, Peer
from pbx.media.clock import MediaClock
from pbx.media.dtmf import parse_dtmf_info
from pbx.media.ports import PortAllocator, PortsExhausted
from pbx.media.prompts import PromptLibrary, default_path
from pbx.media.session import MediaSession
from pbx.sip.address import Address
from pbx.sip.message import Request, Response, make_response
from pbx.sip.sdp import NoCommonCodec, SdpError
from pbx.sip.transaction import CancelReceived, ServerTransaction
from pbx.sipchannel import SipChannel

if TYPE_CHECKING:
    from pbx.server import Pbx

log = logging.getLogger("pbx.calls")


class CallManager:
    """Owns every channel and dialog; the SIP core hands it call requests."""

    def __init__(self, pbx: Pbx) -> None:
        self.pbx = pbx
        self.core = pbx.core
        self.t1 = self.core.layer.t1
        self.channels: dict[str, SipChannel] = {}
        self.dialogs: dict[tuple[str, str], SipChannel] = {}
        self.by_invite_tx: dict[int, SipChannel] = {}
        self.tasks: set[asyncio.Task] = set()
        self.ports: PortAllocator | None = None
        self.clock: MediaClock | None = None
        self.prompts = self._prompt_library(pbx.config)
        from dialplan.apps import load_all

        load_all()

    @staticmethod
    def _prompt_library(config: Config) -> PromptLibrary:
        from pbx.dialplan_loader import _repo_root

        settings = config.settings
        return PromptLibrary(settings.sounds_path or default_path(_repo_root()), settings.language)

    @property
    def config(self) -> Config:
        return self.pbx.config

    async def start(self) -> None:
        lo, hi = self.config.settings.rtp_ports
        self.ports = PortAllocator(lo, hi)
        self.clock = MediaClock(asyncio.get_running_loop())
        core = self.core
        core.handlers["INVITE"] = self.on_invite
        core.handlers["BYE"] = self.on_bye
        core.handlers["INFO"] = self.on_info
        core.handlers["UPDATE"] = self.on_update
        core.ack_handler = self.on_ack
        core.cancel_handler = self.on_cancel

    async def stop(self) -> None:
        """Hang up every call (BYE/final answers go out), then stop."""
        for ch in list(self.channels.values()):
            await ch.hangup(q850.NORMAL_CLEARING)
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=1.0)

    def reload(self, config: Config) -> None:
        """New calls use the new config and dialplan; calls in progress keep theirs."""
        self.prompts = self._prompt_library(config)

    def session_id(self) -> int:
        return secrets.randbelow(2**31)

    # --- registry ------------------------------------------------------------
    def add_dialog(self, ch: SipChannel) -> None:
        assert ch.dialog is not None
        self.dialogs[(ch.dialog.call_id, ch.dialog.local_tag)] = ch

    def remove(self, ch: SipChannel) -> None:
        self.channels.pop(ch.name, None)
        if ch.dialog is not None:
            self.dialogs.pop((ch.dialog.call_id, ch.dialog.local_tag), None)
        if ch.server_tx is not None:
            self.by_invite_tx.pop(id(ch.server_tx), None)

    def channel_rows(self) -> list[dict]:
        return [{"name": c.name, "context": c.context, "exten": c.exten,
                 "priority": c.priority, "state": c.state.value, "lastapp": c.lastapp,
                 "lastdata": c.lastdata, "bridged": c.bridged_to.name if c.bridged_to else ""}
                for c in self.channels.values()]

    def _find(self, req: Request) -> SipChannel | None:
        tag = req.to_addr.tag
        return self.dialogs.get((req.call_id, tag)) if tag else None

    # --- requests --------------------------------------------------------------
    def on_invite(self, req: Request, tx: ServerTransaction, source: Address) -> None:
        if req.to_addr.tag:
            ch = self._find(req)
            if ch is None:
                self.core.respond(tx, make_response(req, 481, "Call/Transaction Does Not Exist"))
            elif ch.dialog is not None and not ch.dialog.accepts(req):
                self.core.respond(tx, make_response(req, 500, "Server Internal Error",
                                                    headers=[("Retry-After", "1")]))
            else:
                ch.on_reinvite(req, tx)
            return
        self.core.send_trying(tx)
        peer, refusal = self.identify(req, source)
        if refusal is not None:
            self.core.respond(tx, refusal)
            return
        self.spawn(self._inbound_call(req, tx, source, peer))

    def spawn(self, coro: Any) -> asyncio.Task:
        """Run a coroutine as a task the manager keeps (and cancels at stop)."""
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def identify(self, req: Request, source: Address) -> tuple[Peer | None, Response | None]:
        """Who is calling: (peer, None) to go on, or (None, response) to refuse.

        A static `host=` peer matches by source address; a registered peer
        must pass digest authentication (407); anyone else is a guest, who
        only gets in with allowguest=yes. Unknown names get the same 407 and
        the same 403 as a wrong password (alwaysauthreject)."""
        sip = self.config.sip
        # chan_sip's order: the From user names a peer; else a host= peer by address.
        user = req.from_addr.uri.user or ""
        named = sip.peers.get(user)
        if named is not None and named.can_call and not named.secret:
            return named, None
        if named is None:
            by_address = sip.peer_by_address(source.host, source.port)
            if by_address is not None and not by_address.secret:
                return by_address, None
            if by_address is None and sip.general.allowguest:
                return None, None
        header = req.headers.get("Proxy-Authorization")
        auth = self.pbx.auth
        now = self.core.now()
        if header is None:
            return None, self._challenge(req, now, stale=False)
        result = auth.check(header, "INVITE", now)
        if result.challenge_again:
            return None, self._challenge(req, now, stale=result.stale)
        caller = sip.peers.get(result.username or "") if result.ok else None
        if caller is None or not caller.can_call:
            return None, make_response(req, 403, "Forbidden")
        return caller, None

    def _challenge(self, req: Request, now: float, *, stale: bool) -> Response:
        return make_response(req, 407, "Proxy Authentication Required", headers=[
            ("Proxy-Authenticate", v) for v in self.pbx.auth.challenge(now, stale=stale)])

    async def _inbound_call(self, req: Request, tx: ServerTransaction, source: Address,
                            peer: Peer | None) -> None:
        config = self.config  # the snapshot this call keeps
        dialplan = config.dialplan
        context = peer.context if peer else config.sip.general.context
        exten = req.uri.user or "s"
        callerid = self._caller_id(req, peer)
        from dialplan.interpreter import Interpreter, exists

        if not exists(dialplan, context, exten, callerid.num):
            log.info("call from %s to %s@%s: no such extension", source, exten, context)
            self.core.respond(tx, make_response(req, 404, "Not Found"))
            return
        try:
            ch = await self.new_channel(peer.name if peer else source.host, inbound=True,
                                        peer=peer, local=self._local_for(source),
                                        destination=source)
        except PortsExhausted as exc:
            log.error("call to %s refused: %s", exten, exc)
            self.core.respond(tx, make_response(req, 503, "Service Unavailable"))
            return
        ch.invite, ch.server_tx = req, tx
        ch.context, ch.exten, ch.priority = context, exten, 1
        ch.callerid = callerid
        ch.language = (peer.language if peer and peer.language else config.settings.language)
        self.by_invite_tx[id(tx)] = ch
        if req.body:
            try:
                ch.take_offer(req.body)
            except NoCommonCodec:
                ch._respond(488, "Not Acceptable Here")
                ch._gone(q850.BEARER_NOT_AVAIL)
                return
            except SdpError as exc:
                ch._respond(400, f"Bad Request - Bad SDP: {exc}")
                ch._gone(q850.INTERWORKING)
                return
        log.info("%s: call from %s to %s@%s", ch.name, callerid.num or "?", exten, context)
        try:
            result = await Interpreter(dialplan, self.pbx.dialplan_services).run(ch)
            cause = getattr(result, "cause", None) or q850.NORMAL_CLEARING
        except Exception:
            log.exception("%s: dialplan failed", ch.name)
            cause = q850.TEMPORARY_FAILURE
        await ch.hangup(cause)
        await self.write_cdr(ch)

    def _caller_id(self, req: Request, peer: Peer | None) -> CallerId:
        if peer is not None and (peer.callerid.num or peer.callerid.name):
            return CallerId(num=peer.callerid.num or peer.name, name=peer.callerid.name)
        frm = req.from_addr
        return CallerId(num=frm.uri.user or "", name=frm.display or "")

    def _local_for(self, remote: Address) -> Address:
        family = 6 if ":" in remote.host else 4
        local = self.core.local_address(remote.transport, family)
        assert local is not None
        return local

    async def new_channel(self, peer_name: str, *, inbound: bool, peer: Peer | None,
                          local: Address, destination: Address) -> SipChannel:
        """A channel with its media session (ports from rtp.ports)."""
        assert self.ports is not None and self.clock is not None
        settings = self.config.settings
        media_ip = local.host if local.host not in ("0.0.0.0", "::") else "127.0.0.1"
        media = await MediaSession.open(asyncio.get_running_loop(), self.ports, media_ip,
                                        self.clock, rtp_timeout=settings.rtp_timeout or
                                        float(self.config.sip.general.rtptimeout))
        ch = SipChannel(self, new_channel_name("SIP", peer_name), inbound=inbound, peer=peer,
                        media=media, local=local, destination=destination)
        if settings.external_ip:
            ch.sdp_ip = settings.external_ip
        self.channels[ch.name] = ch
        return ch

    def on_bye(self, req: Request, tx: ServerTransaction, source: Address) -> None:
        ch = self._find(req)
        if ch is None:
            self.core.respond(tx, make_response(req, 481, "Call/Transaction Does Not Exist"))
            return
        ch.on_bye(req, tx)

    def on_info(self, req: Request, tx: ServerTransaction, source: Address) -> None:
        ch = self._find(req)
        if ch is None:
            self.core.respond(tx, make_response(req, 481, "Call/Transaction Does Not Exist"))
            return
        digit = parse_dtmf_info(req.content_type or "", req.body)
        if digit is None and req.body:
            self.core.respond(tx, make_response(req, 415, "Unsupported Media Type", headers=[
                ("Accept", "application/dtmf-relay, application/dtmf")]))
            return
        self.core.respond(tx, make_response(req, 200, "OK"))
        if digit:
            ch.media.digit_received(digit)

    def on_update(self, req: Request, tx: ServerTransaction, source: Address) -> None:
        ch = self._find(req)
        if ch is None:
            self.core.respond(tx, make_response(req, 481, "Call/Transaction Does Not Exist"))
            return
        ch.on_reinvite(req, tx)

    def on_ack(self, ack: Request, invite_tx: ServerTransaction | None, source: Address) -> None:
        ch = self._find(ack)
        if ch is not None:
            ch.on_ack(ack)

    def on_cancel(self, action: CancelReceived) -> None:
        ch = self.by_invite_tx.get(id(action.invite_tx))
        if ch is not None:
            ch.on_cancel()

    # --- outbound legs (used by pbx.dial) ------------------------------------
    def send_ack(self, ch: SipChannel, response: Response) -> None:
        """ACK a 2xx (end to end, outside the transaction)."""
        assert ch.dialog is not None
        ack = ch.dialog.request("ACK", ch.via())
        ch.ack_bytes = ack.to_bytes()
        self.core.send_bytes(ch.ack_bytes, ch.destination)

    def end_outbound(self, ch: SipChannel) -> None:
        """BYE an answered outbound leg, CANCEL one still ringing."""
        if ch.state is ChannelState.UP:
            ch.send_bye()
        elif getattr(ch, "client_tx", None) is not None:
            from pbx.dial import cancel_leg

            cancel_leg(ch)

    # --- CDR -------------------------------------------------------------------
    async def write_cdr(self, ch: SipChannel) -> None:
        """One record per call, written when the calling leg ends (pbx.cdr builds it)."""
        store = self.pbx.store
        if store is None:
            return
        row = cdr_row(ch, time.time())
        if row is None:
            return  # CDR_PROP(disable)=1 / NoCDR()
        try:
            await store.add_cdr(row)
        except Exception:
            log.exception("could not write the CDR of %s", ch.name)
