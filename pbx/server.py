"""The running PBX: wires config, store, SIP core, registrar, calls, management."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import signal
import time
from pathlib import Path
from typing import Any

from pbx.config import Config, load_config
from pbx.diagnostics import ConfigError
from pbx.location import Location
from pbx.peer_auth import peer_authenticator
from pbx.qualify import Qualifier
from pbx.registrar import Registrar, Source
from pbx.security.service import SecurityService
from pbx.security.token import TokenError, ensure_token
from pbx.sip.address import Address
from pbx.sip.message import Request, Response, make_response
from pbx.sip.transaction import ServerTransaction
from pbx.sipcore import ACCEPT_HEADER, SipCore
from pbx.store import Store, StoreError
from pbx.transport.tcp import TcpTransport
from pbx.transport.tls import TlsTransport
from pbx.transport.udp import UdpTransport

log = logging.getLogger("pbx.server")

SWEEP_INTERVAL = 5.0
SHUTDOWN_GRACE = 1.5


class Pbx:
    """One PBX instance (the tests start several on free ports)."""

    def __init__(self, config: Config, *, sip_trace: bool = False) -> None:
        self.config = config
        self.sip_trace = sip_trace
        self.store: Store | None = None
        self.core = SipCore(user_agent=config.settings.user_agent, sip_trace=sip_trace,
                            t1=config.settings.t1, t2=config.settings.t2)
        # Bans, ACLs, input limits: transports talk to its guard, not to the core.
        self.security = SecurityService(config, self.core)
        self.location = Location()
        self.auth = peer_authenticator(config, lambda: self.config)
        self.registrar = Registrar(config, self.location, self.auth,
                                   on_change=self._bindings_changed)
        self.qualifier = Qualifier(self.core, self.location, lambda: self.config,
                                   spawn=self.spawn)
        self._make_device_states()
        self.calls: Any = None  # pbx.calls.CallManager
        self.voicemail: Any = None  # voicemail.service.VoicemailService
        self.mwi: Any = None  # pbx.mwi_sip.MwiSip
        self.mgmt: Any = None
        self.conferences: Any = None  # pbx.conference.service.ConferenceService
        self.registrations: Any = None  # pbx.outbound_registrations.OutboundRegistrations
        self.queues: Any = None  # pbx.queue.service.QueueService
        # What this PBX's calls run with (apps, functions, globals, clock, AstDB,
        # voicemail): dialplan.services.DialplanServices, built in start().
        self.dialplan_services: Any = None
        self._tasks: list[asyncio.Task] = []
        self._spawned: set[asyncio.Task] = set()
        self._stopped = asyncio.Event()
        self.binding_listeners: list[Any] = []  # e.g. MWI: called with the AOR
        self.binding_listeners.append(self.sip_devices.peer_changed)
        self.subscriptions: Any = None  # pbx.subscriptions.SubscriptionServer
        self.pickups: Any = None  # pbx.pickup.Pickups
        self.messaging: Any = None  # pbx.messaging.Messaging

    def _make_device_states(self) -> None:
        """Device state, hints and busy lamps (pbx.devstate, pbx.hints)."""
        from pbx.devstate import DeviceStates
        from pbx.hints import HintStates
        from pbx.sip_devstate import SipDevices

        self.devstates = DeviceStates()
        self.sip_devices = SipDevices(self.devstates, lambda: self.config, self.location,
                                      self.qualifier.unreachable)
        self.sip_devices.install()
        self.qualifier.on_change = self.sip_devices.peer_changed
        self.hints = HintStates(self.devstates, lambda: self.config.dialplan, clock=time.time)

    # --- life cycle ----------------------------------------------------------
    async def start(self) -> None:
        """Open the store, restore registrations, listen."""
        settings = self.config.settings
        loop = asyncio.get_running_loop()
        self.core.use_loop(loop)
        self.store = await Store.open(settings.db_path)
        self.location.store = self.store
        restored = await self.location.load(time.time())
        if restored:
            log.info("restored %d registrations from %s", restored, settings.db_path)
        self.core.handlers["REGISTER"] = self._on_register
        self.core.handlers["OPTIONS"] = self._on_options
        # Every handler is in place before the first datagram can arrive.
        self._start_dialplan_services()
        await self._start_calls()
        self._start_local_devices()
        self._start_availability()
        await self._start_voicemail()
        self.dialplan_services.voicemail = self.voicemail
        self._start_subscriptions()
        self._start_conferences()
        await self._start_queues()
        # The management endpoint listens before SIP does: whoever sees the PBX
        # answer SIP (a test's OPTIONS, an operator) can also ask it at once.
        from pbx.management import ManagementServer

        self.mgmt = ManagementServer(self, ensure_token(settings.storage_dir))
        await self.mgmt.start(settings.http_listen)
        # Transports talk to the security guard (bans, ACLs, rate limits), not to the core.
        guard = self.security.guard
        limits = settings.security.limits
        for spec in settings.listen:
            try:
                if spec.transport == "udp":
                    t = await UdpTransport.listen(guard, spec.host, spec.port)
                elif spec.transport == "tcp":
                    t = await TcpTransport.listen(guard, spec.host, spec.port,
                                                  limits=limits, gate=guard)
                    self.security.stream_transports.append(t)
                elif spec.transport == "tls" and settings.tls is not None:
                    t = await TlsTransport.listen_tls(guard, spec.host, spec.port, settings.tls,
                                                      limits=limits, gate=guard)
                    self.security.stream_transports.append(t)
                else:
                    log.warning("transport %s is not supported yet; %s ignored",
                                spec.transport, spec)
                    continue
            except OSError as exc:  # say which sip.listen entry: "address in use" alone is a puzzle
                raise OSError(exc.errno, f"sip.listen {spec}: {exc.strerror or exc}"
                              " (another program, or another PBX, uses it?)") from exc
            self.core.add_transport(spec.transport, t)
            log.info("listening on %s", t.local)
        self.security.start()
        self._start_registrations()
        self._tasks.append(loop.create_task(self._sweep()))
        self._tasks.append(loop.create_task(self.qualifier.run()))

    async def _start_calls(self) -> None:
        from pbx.calls import CallManager
        from pbx.pickup import Pickups

        # Call pickup looks among the calls' legs (Pickup(), PickupChan(), *8).
        self.pickups = Pickups(lambda: self.calls.channels.values())
        self.dialplan_services.pickup = self.pickups

        self.calls = CallManager(core=self.core, config=self.config, location=self.location,
                                 auth=self.auth, store=self.store,
                                 unreachable=self.qualifier.unreachable,
                                 dialplan_services=self.dialplan_services,
                                 line_endpoint=self._line_endpoint,
                                 devices=self.sip_devices, pickups=self.pickups)
        # park:701@parkedcalls devices for the lots' hints (BLF keys on parking spaces).
        self.calls.parking.install(self.devstates)
        await self.calls.start()
        self._start_messaging()

    def _start_messaging(self) -> None:
        """MESSAGE between extensions, through the dialplan (pbx.messaging)."""
        from pbx.messaging import Messaging

        calls = self.calls
        self.messaging = Messaging(signalling=self.core, config=lambda: self.config,
                                   location=self.location, identify=calls.identify,
                                   spawn=calls.spawn, dialplan_services=self.dialplan_services,
                                   in_dialog=calls.on_in_dialog)
        self.dialplan_services.messages = self.messaging
        self.core.handlers["MESSAGE"] = self.messaging.on_message

    async def _start_voicemail(self) -> None:
        from pbx.mwi_sip import MwiSip
        from voicemail.mwi import MwiNotifier
        from voicemail.service import VoicemailService

        assert self.store is not None
        notifier = MwiNotifier(realm=self.config.realm)
        self.mwi = MwiSip(signalling=self.core, config=lambda: self.config,
                          location=self.location, mwi=notifier, spawn=self.spawn)
        notifier.send_notify = self.mwi.send_notify
        notifier.set_peers({n: p.mailbox for n, p in self.config.sip.peers.items()})
        self.voicemail = VoicemailService(self.store, self.config.settings,
                                          self.config.voicemail, notifier)
        await self.voicemail.start()
        self.binding_listeners.append(self.mwi.on_registered)

    def _start_subscriptions(self) -> None:
        """SUBSCRIBE: dialog and presence (busy lamps), message-summary (MWI)."""
        from pbx.presence import PresencePackage
        from pbx.subscriptions import SubscriptionServer

        server = SubscriptionServer(self.core, lambda: self.config, lambda: self.auth)
        presence = PresencePackage(self.hints)
        server.add_package("dialog", presence)
        server.add_package("presence", presence)
        if self.mwi is not None:
            server.add_package("message-summary", self.mwi)
        self.subscriptions = server
        self.core.handlers["SUBSCRIBE"] = server.on_subscribe
    def _start_availability(self) -> None:
        """ChanIsAvail's answers: Dial's own resolution of targets and the live legs."""
        from pbx.chan_avail import ChannelAvailability

        legs = self.calls.legs
        self.dialplan_services.availability = ChannelAvailability(
            resolve=legs.resolve, channels=lambda: self.calls.channels.values(),
            peers=lambda: self.config.sip.peers,
            devices=self.devstates)
    def _start_conferences(self) -> None:
        """ConfBridge() and Page() (pbx/conference): rooms, and paging through the legs."""
        from pbx.conference.config import ConfBridgeConfig
        from pbx.conference.moh import SilenceHold
        from pbx.conference.paging import Pager
        from pbx.conference.service import ConferenceService

        calls = self.calls
        def music(session: Any, klass: str) -> Any:
            # A member alone hears the class's shared stream (music_on_hold_when_empty).
            listener = calls.moh.start(session, klass) if calls.moh is not None else None
            return listener if listener is not None else SilenceHold(session, klass)

        self.conferences = ConferenceService(
            config=lambda: self.config.confbridge or ConfBridgeConfig(),
            prompts=lambda: calls.prompts, storage_dir=self.config.settings.storage_dir,
            moh=music)
        self.conferences.pager = Pager(self.conferences, calls.legs, in_use=lambda peer: any(
            c.peer is not None and c.peer.name == peer for c in calls.channels.values()))
        self.dialplan_services.conferences = self.conferences
        from pbx.conference.recording import recover

        recover(self.config.settings.storage_dir / "monitor")  # what a crash cut short

    def _start_local_devices(self) -> None:
        """Local/exten@context devices (queue members, hints, ChanIsAvail), as core_local."""
        from pbx.local_devstate import LocalDevices

        LocalDevices(self.devstates, lambda: self.config.dialplan,
                     lambda: self.calls.channels.values(),
                     asyncio.get_running_loop().call_soon).install()

    async def _start_queues(self) -> None:
        """Call queues (queues.conf): the engine's timers on the SIP core's heap, members
        rung through the calls' LegMaker, their states from the device-state registry
        (a change rechecks the queues watching that device at once), waiting callers on
        music on hold, queue_log in the store, dynamic members in the AstDB."""
        from pbx.queue.config import QueuesConfig
        from pbx.queue.music import ChannelMusic
        from pbx.queue.service import QueueService

        self.queues = QueueService(legs=self.calls.legs, timers=self.core.timers,
                                   now=self.core.now, devstate=self.devstates,
                                   music=ChannelMusic(), astdb=self.dialplan_services.astdb,
                                   store=self.store, spawn=self.spawn,
                                   canonical=self.devstates.canonical,
                                   call_soon=asyncio.get_running_loop().call_soon)
        self.devstates.listen(self.queues.device_changed)
        await self.queues.start(self.config.queues or QueuesConfig())
        self.dialplan_services.queues = self.queues

    def _start_registrations(self) -> None:
        """Register to providers (sip.conf register =>, pjsip.conf type=registration)."""
        from pbx.outbound_registrations import OutboundRegistrations

        sip = self.config.sip
        self.registrations = OutboundRegistrations(
            self.core, user_agent=self.config.settings.user_agent, nat=sip.nat)
        self.registrations.start(sip.registrations)
    def _start_dialplan_services(self) -> None:
        from dialplan.services import DialplanServices
        from pbx.astdb import AstDb
        from pbx.devstate import CustomDevices

        assert self.store is not None
        astdb = AstDb.open(self.store)
        custom = CustomDevices(self.devstates, astdb)
        self.devstates.add_provider("Custom", custom)
        self.dialplan_services = DialplanServices(astdb=astdb, clock=_PbxClock(self.core),
                                                  devices=self.devstates,
                                                  custom_devices=custom, hints=self.hints,
                                                  indications=self.config.indications)

    def _line_endpoint(self, token: str) -> str | None:
        """pjsip line=yes: the endpoint of the registration whose Contact had ``token``."""
        regs = self.registrations
        return regs.endpoint_for_line(token) if regs is not None else None

    def spawn(self, coro: Any) -> asyncio.Task:
        """A background task the PBX keeps a reference to until it ends."""
        task = asyncio.get_running_loop().create_task(coro)
        self._spawned.add(task)
        task.add_done_callback(self._spawned.discard)
        return task

    async def stop(self) -> None:
        """Close sockets, flush the store: well within 2 s."""
        for task in self._tasks:
            task.cancel()
        unregister = None
        if self.registrations is not None:  # Expires: 0 to providers, alongside the calls
            unregister = asyncio.ensure_future(self.registrations.stop(SHUTDOWN_GRACE / 2))
        if self.calls is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.calls.stop(), SHUTDOWN_GRACE)
        if self.queues is not None:
            await self.queues.stop()
        if self.voicemail is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.voicemail.stop(), SHUTDOWN_GRACE / 2)
        if unregister is not None:
            with contextlib.suppress(Exception):
                await unregister
        for task in self._spawned:
            task.cancel()
        if self.mgmt is not None:
            self.mgmt.close()
        self.security.stop()
        self.core.close()
        if self.dialplan_services is not None and self.dialplan_services.astdb is not None:
            await self.dialplan_services.astdb.settle()
            self.dialplan_services.astdb.close()
        if self.store is not None:
            await self.store.close()
        self._stopped.set()

    # --- handlers ------------------------------------------------------------
    def _on_register(self, req: Request, tx: ServerTransaction, source: Address) -> None:
        response = self.registrar.handle(req, Source(source.transport, source.host, source.port),
                                         self.core.now(), time.time())
        if response.status >= 300 or self.store is None:
            self.core.respond(tx, response)
            return
        # Nothing lost: the 200 OK goes out once the bindings are committed.
        self.store.when_committed(lambda ok: self._answer_register(req, tx, response, ok))

    def _answer_register(self, req: Request, tx: ServerTransaction, response: Response,
                         committed: bool) -> None:
        if not committed:
            response = make_response(req, 500, "Server Internal Error",
                                     headers=[("Retry-After", "5")])
        self.core.respond(tx, response)

    def _on_options(self, req: Request, tx: ServerTransaction, source: Address) -> None:
        self.core.respond(tx, make_response(req, 200, "OK", headers=[
            ("Allow", self.core.allow_header()), ("Accept", ACCEPT_HEADER),
            ("Supported", "replaces, timer"), ("Accept-Language", "en")]))

    def _bindings_changed(self, aor: str) -> None:
        # Called from inside the registrar: let the 200 OK go out first (it waits
        # for the commit; this waiter is answered just before it, so defer once more).
        loop = asyncio.get_running_loop()
        if self.store is None:
            loop.call_soon(self._after_registration, aor)
        else:
            self.store.when_committed(lambda ok: loop.call_soon(self._after_registration, aor))

    def _after_registration(self, aor: str) -> None:
        peer = self.config.sip.peers.get(aor)
        if peer is not None and peer.qualify:
            self.qualifier.qualify_peer(peer)  # like Asterisk: qualify as soon as it registers
        for listener in self.binding_listeners:
            try:
                listener(aor)
            except Exception:
                log.exception("binding listener failed")

    # --- periodic work -------------------------------------------------------
    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            gone = self.location.expire(time.time())
            if gone:
                log.info("%d registrations expired", gone)
            # Busy lamps: what no event announces (an expired registration, an AstDB
            # value changed from the shell) shows within one sweep.
            self.hints.refresh()

    # --- reload --------------------------------------------------------------
    async def reload(self) -> tuple[bool, list[str], str]:
        """Load the config dir again; on any error nothing changes."""
        loop = asyncio.get_running_loop()
        try:
            config = await loop.run_in_executor(
                None, functools.partial(load_config, self.config.settings.config_dir,
                                        strict=self.config.strict))
        except ConfigError as exc:
            return False, [str(d) for d in exc.diagnostics], ""
        old = self.config
        if [str(s) for s in config.settings.listen] != [str(s) for s in old.settings.listen]:
            log.warning("sip.listen changed: takes effect at the next restart")
        self.config = config
        self.security.configure(config)
        self.registrar.reload(config)
        if config.realm != old.realm:
            self.auth = self.registrar.auth = peer_authenticator(config, lambda: self.config)
        if self.calls is not None:
            self.calls.reload(config, self.auth)
        if self.dialplan_services is not None:
            self.dialplan_services.indications = config.indications
        if self.registrations is not None:
            self.registrations.nat = config.sip.nat
            self.registrations.reload(config.sip.registrations)
        if self.queues is not None:
            from pbx.queue.config import QueuesConfig

            self.queues.reload(config.queues or QueuesConfig())
        self.hints.refresh()  # hints added, changed or removed by the new dialplan
        if self.voicemail is not None and config.voicemail is not None:
            self.voicemail.reload(config.voicemail)
            self.mwi.mwi.set_peers({n: p.mailbox for n, p in config.sip.peers.items()})
        summary = f"{len(config.sip.peers)} peers, {len(config.dialplan.contexts)} contexts"
        log.info("configuration reloaded: %s", summary)
        return True, [str(w) for w in config.warnings], summary


class _PbxClock:
    """The dialplan's clock: wall time for time-of-day rules (GotoIfTime, timed
    includes), the SIP core's clock (the event loop's) for durations."""

    def __init__(self, core: SipCore) -> None:
        self._core = core

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return self._core.now()


def run_server(config: Config, *, sip_trace: bool = False) -> int:
    """`pbx run`: serve until SIGINT/SIGTERM."""
    try:
        import uvloop  # libuv loop: measured faster for UDP relaying (DESIGN.md)

        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run
    return runner(_serve(config, sip_trace))


async def _serve(config: Config, sip_trace: bool) -> int:
    pbx = Pbx(config, sip_trace=sip_trace)
    try:
        await pbx.start()
    except (OSError, StoreError, TokenError) as exc:
        log.error("cannot start: %s", exc)
        await pbx.stop()
        return 1
    # Everything loaded so far lives as long as the process: keep it out of the
    # collector's way, so collections stay short and do not delay the media clock.
    gc.collect()
    gc.freeze()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    listen = ", ".join(str(s) for s in config.settings.listen)
    log.info("PBX ready on %s (config %s)", listen, Path(config.settings.config_dir).resolve())
    await stop.wait()
    log.info("shutting down")
    await pbx.stop()
    return 0
