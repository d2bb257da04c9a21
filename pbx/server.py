"""The running PBX: wires config, store, SIP core, registrar, calls, management."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import secrets
import signal
import time
from pathlib import Path
from typing import Any

from pbx.config import Config, load_config
from pbx.diagnostics import ConfigError
from pbx.location import Location
from pbx.registrar import Registrar, Source
from pbx.security.service import SecurityService
from pbx.security.token import TokenError, ensure_token
from pbx.sip.address import Address
from pbx.sip.auth import DigestAuthenticator
from pbx.sip.message import Request, Response, make_response
from pbx.sip.requests import new_request
from pbx.sip.transaction import ServerTransaction
from pbx.sipcore import ACCEPT_HEADER, SipCore
from pbx.store import Store, StoreError
from pbx.transport.tcp import TcpTransport
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
        self.core = SipCore(user_agent=config.settings.user_agent, sip_trace=sip_trace)
        # Bans, ACLs, input limits: transports talk to its guard, not to the core.
        self.security = SecurityService(config, self.core)
        self.location = Location()
        self.auth = self._make_auth(config)
        self.registrar = Registrar(config, self.location, self.auth,
                                   on_change=self._bindings_changed)
        self.calls: Any = None  # pbx.calls.CallManager
        self.voicemail: Any = None  # voicemail.service.VoicemailService
        self.mwi: Any = None  # pbx.mwi_sip.MwiSip
        self.mgmt: Any = None
        self._tasks: list[asyncio.Task] = []
        self._spawned: set[asyncio.Task] = set()
        self._stopped = asyncio.Event()
        self.binding_listeners: list[Any] = []  # e.g. MWI: called with the AOR

    def _make_auth(self, config: Config) -> DigestAuthenticator:
        def password(user: str) -> str | None:
            # Reads the current config, so a reload changes passwords at once.
            peer = self.config.sip.peers.get(user)
            return peer.secret if peer is not None and peer.dynamic else None

        # A fresh secret per start: nonces from a previous run are stale, which
        # phones handle by re-authenticating (stale=true).
        return DigestAuthenticator(config.realm, secrets.token_bytes(32), password,
                                   algorithms=config.settings.digest_algorithms)

    # --- life cycle ----------------------------------------------------------
    async def start(self) -> None:
        """Open the store, restore registrations, listen."""
        settings = self.config.settings
        loop = asyncio.get_running_loop()
        self.core.loop = loop
        self.store = await Store.open(settings.db_path)
        self.location.store = self.store
        restored = await self.location.load(time.time())
        if restored:
            log.info("restored %d registrations from %s", restored, settings.db_path)
        self.core.handlers["REGISTER"] = self._on_register
        self.core.handlers["OPTIONS"] = self._on_options
        # Every handler is in place before the first datagram can arrive.
        await self._start_calls()
        await self._start_voicemail()
        guard = self.security.guard
        for spec in settings.listen:
            if spec.transport == "udp":
                t = await UdpTransport.listen(guard, spec.host, spec.port)
            elif spec.transport == "tcp":
                t = await TcpTransport.listen(guard, spec.host, spec.port,
                                              limits=settings.security.limits, gate=guard)
                self.security.stream_transports.append(t)
            else:
                log.warning("transport %s is not supported yet; %s ignored", spec.transport, spec)
                continue
            self.core.add_transport(spec.transport, t)
            log.info("listening on %s", t.local)
        self.security.start()
        from pbx.management import ManagementServer

        self.mgmt = ManagementServer(self, ensure_token(settings.storage_dir))
        await self.mgmt.start(settings.http_listen)
        self._tasks.append(loop.create_task(self._sweep()))
        self._tasks.append(loop.create_task(self._qualify_loop()))

    async def _start_calls(self) -> None:
        from pbx.calls import CallManager

        self.calls = CallManager(self)
        await self.calls.start()

    async def _start_voicemail(self) -> None:
        from pbx.mwi_sip import MwiSip
        from voicemail.mwi import MwiNotifier
        from voicemail.service import VoicemailService

        assert self.store is not None
        notifier = MwiNotifier(realm=self.config.realm)
        self.mwi = MwiSip(self, notifier)
        notifier.send_notify = self.mwi.send_notify
        notifier.set_peers({n: p.mailbox for n, p in self.config.sip.peers.items()})
        self.voicemail = VoicemailService(self.store, self.config.settings,
                                          self.config.voicemail, notifier)
        await self.voicemail.start()
        self.core.handlers["SUBSCRIBE"] = self.mwi.on_subscribe
        self.binding_listeners.append(self.mwi.on_registered)

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
        if self.calls is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.calls.stop(), SHUTDOWN_GRACE)
        if self.voicemail is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.voicemail.stop(), SHUTDOWN_GRACE / 2)
        for task in self._spawned:
            task.cancel()
        if self.mgmt is not None:
            self.mgmt.close()
        self.security.stop()
        self.core.close()
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
            self.qualify_peer(peer)  # like Asterisk: qualify as soon as it registers
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

    async def _qualify_loop(self) -> None:
        while True:
            freq = max(5, self.config.sip.general.qualifyfreq)
            self.qualify_all()
            await asyncio.sleep(freq)

    def qualify_all(self) -> None:
        """Send OPTIONS to every contact of every qualify=yes peer."""
        for peer in self.config.sip.peers.values():
            if peer.qualify:
                self.qualify_peer(peer)

    def qualify_peer(self, peer: Any) -> None:
        """OPTIONS to each contact of one peer; results kept for `pbx peers`."""
        if peer.dynamic:
            for binding in self.location.lookup(peer.name, time.time()):
                dest = Address(binding.transport, binding.source_host, binding.source_port)
                self._qualify(binding, binding.contact, dest)
        else:
            self._qualify(peer, f"sip:{peer.host}:{peer.port}",
                          Address(peer.transport, peer.host, peer.port))

    def _qualify(self, target: Any, uri: str, dest: Address) -> None:
        local = self.core.local_address(dest.transport, 6 if ":" in dest.host else 4)
        if local is None:
            return
        req = new_request("OPTIONS", uri, local=local, from_user="pbx",
                          to_uri=uri, realm_host=local.host)
        sent = time.monotonic()

        def done(resp: Any) -> None:
            target.reachable = resp is not None
            target.rtt_ms = (time.monotonic() - sent) * 1000 if resp is not None else None
            target.last_qualify = time.time()

        self.core.send_request(req, dest, done)

    # --- reload --------------------------------------------------------------
    async def reload(self) -> tuple[bool, list[str], str]:
        """Load the config dir again; on any error nothing changes."""
        loop = asyncio.get_running_loop()
        try:
            config = await loop.run_in_executor(None, load_config,
                                                self.config.settings.config_dir)
        except ConfigError as exc:
            return False, [str(d) for d in exc.diagnostics], ""
        old = self.config
        if [str(s) for s in config.settings.listen] != [str(s) for s in old.settings.listen]:
            log.warning("sip.listen changed: takes effect at the next restart")
        self.config = config
        self.security.configure(config)
        self.registrar.reload(config)
        if config.realm != old.realm:
            self.auth = self.registrar.auth = self._make_auth(config)
        if self.calls is not None:
            self.calls.reload(config)
        if self.voicemail is not None and config.voicemail is not None:
            self.voicemail.reload(config.voicemail)
            self.mwi.mwi.set_peers({n: p.mailbox for n, p in config.sip.peers.items()})
        summary = f"{len(config.sip.peers)} peers, {len(config.dialplan.contexts)} contexts"
        log.info("configuration reloaded: %s", summary)
        return True, [str(w) for w in config.warnings], summary


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
