"""The I/O edge of outbound registration: pbx/sip/registration.py through the SIP core.

Sends each client's REGISTER in a client transaction of the core, feeds the
answers (or the timeout) back, resolves provider host names, and drives the
clients' shared timer heap with one ``loop.call_at`` (like SipCore does for
the transaction layer). `pbx registry` and the management endpoint read
:meth:`OutboundRegistrations.rows`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import logging
import socket
from collections.abc import Callable
from typing import Any, Protocol

from pbx.sip.address import Address
from pbx.sip.message import Request, Response
from pbx.sip.registration import (
    Action,
    RegistrationClient,
    RegistrationSet,
    SendRegister,
    StateChanged,
    Stopped,
)
from pbx.sip.timers import TimerHeap
from pbx.sip_model import NatSettings, Registration

log = logging.getLogger("pbx.registry")


class SipSender(Protocol):
    """What this edge needs of the SIP core (its clock and its one timer heap too)."""

    timers: TimerHeap

    def now(self) -> float: ...

    def send_request(self, req: Request, dest: Address,
                     callback: Callable[[Response | None], None]) -> Any: ...

    def local_address(self, kind: str = "udp", family: int = 4,
                      toward: str | None = None) -> Address | None: ...


def _same(a: Registration, b: Registration) -> bool:
    """Equal but for where they were written (a moved line re-registers nothing)."""
    return dataclasses.replace(a, file="", lineno=0, col=0) == \
        dataclasses.replace(b, file="", lineno=0, col=0)


class OutboundRegistrations:
    """Every `register =>` / `type=registration` of the running PBX."""

    def __init__(self, core: SipSender, *, user_agent: str | None = None,
                 nat: NatSettings | None = None) -> None:
        self.core = core
        self.user_agent = user_agent
        self.nat = nat or NatSettings()
        self.clock = core.now
        # On the SIP core's one heap: each client's entries come back through a
        # _ClientTimer (the core calls owner.on_timer(kind, now)).
        self.set = RegistrationSet(core.timers, lambda client: _ClientTimer(self, client))
        self._leaving: dict[int, RegistrationClient] = {}  # unregistering after a reload
        self._dests: dict[str, Address] = {}
        self._all_stopped: asyncio.Event | None = None
        self._tasks: set[asyncio.Task] = set()

    # --- life cycle ----------------------------------------------------------
    def start(self, registrations: dict[str, Registration]) -> None:
        now = self.clock()
        actions: list[Action] = []
        for spec in registrations.values():
            actions.extend(self._add(spec, now))
        self._run(actions)

    def reload(self, registrations: dict[str, Registration]) -> None:
        """Unregister what went away or changed, register what is new or changed."""
        now = self.clock()
        actions: list[Action] = []
        current = self.set.clients
        for name in list(current):
            new = registrations.get(name)
            if new is not None and _same(new, current[name].spec):
                continue
            client = self.set.remove(name)
            if client is not None:
                self._leaving[id(client)] = client
                actions.extend(client.stop(now))
        for name, spec in registrations.items():
            if name not in self.set.clients:
                actions.extend(self._add(spec, now))
        self._run(actions)

    async def stop(self, timeout: float) -> None:
        """Unregister everything (Expires: 0), waiting at most ``timeout`` seconds."""
        self._all_stopped = asyncio.Event()
        self._run(self.set.stop_all(self.clock()))
        if self._busy():
            try:
                await asyncio.wait_for(self._all_stopped.wait(), timeout)
            except TimeoutError:
                log.warning("unregistering did not finish within %.1f s: %s", timeout,
                            ", ".join(c.spec.name for c in self._pending_clients()))
        for task in self._tasks:
            task.cancel()

    def _add(self, spec: Registration, now: float) -> list[Action]:
        target = self._target(spec)
        family = 6 if ":" in target[1] else 4
        local = self.core.local_address(target[0], family, toward=target[1])
        if local is None:
            client = self.set.add(spec, Address(target[0], "0.0.0.0", 0))
            return client.disable(f"no {target[0]} listener in pbx.yaml sip.listen to send "
                                  "from")
        client = self.set.add(spec, local, user_agent=self.user_agent,
                              contact_host=self._contact_host(target[1], local))
        return client.start(now)

    def endpoint_for_line(self, token: str) -> str | None:
        """The peer whose calls arrive with ``;line=token`` (pjsip line=yes + endpoint=)."""
        for client in self.set.clients.values():
            if client.line_token == token:
                return client.spec.endpoint
        return None

    # --- state for `pbx registry` ----------------------------------------------
    def rows(self) -> list[dict[str, Any]]:
        now = self.clock()
        out = []
        for client in self.set.clients.values():
            spec = client.spec
            expires = client.expires_at
            out.append({
                "name": spec.name, "tech": spec.tech, "server": spec.server_uri,
                "username": spec.client_uri, "state": str(client.state),
                "expires_in": max(0, round(expires - now)) if expires is not None else None,
                "granted": client.granted,
                "next_attempt_in": (max(0, round(client.next_attempt - now))
                                    if client.next_attempt is not None else None),
                "retries": client.retries, "last_error": client.last_error,
                "contact": client.contact_uri(), "permanent": client.permanent,
            })
        return out

    # --- actions ---------------------------------------------------------------
    def client_timer(self, client: RegistrationClient, now: float) -> None:
        """A registration's timer fired (refresh, retry)."""
        self._run(client.on_timer(now))

    def _run(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, SendRegister):
                self._send(action.client, action.request)
            elif isinstance(action, StateChanged):
                spec = action.client.spec
                level = logging.WARNING if action.reason else logging.INFO
                log.log(level, "registration %s (%s to %s): %s%s", spec.name, spec.client_uri,
                        spec.server_uri, action.state,
                        f" ({action.reason})" if action.reason else "")
            elif isinstance(action, Stopped):
                self._leaving.pop(id(action.client), None)
                if self._all_stopped is not None and not self._busy():
                    self._all_stopped.set()

    def _busy(self) -> bool:
        return bool(self._pending_clients())

    def _pending_clients(self) -> list[RegistrationClient]:
        clients = [*self.set.clients.values(), *self._leaving.values()]
        return [c for c in clients if c.stop_pending]

    def _send(self, client: RegistrationClient, request: Request) -> None:
        cseq = client.cseq
        dest = self._dests.get(client.spec.name)
        if dest is not None:
            self._send_to(client, request, dest, cseq)
            return
        transport, host, port = self._target(client.spec)
        try:
            ipaddress.ip_address(host)
        except ValueError:
            task = asyncio.get_running_loop().create_task(
                self._resolve_and_send(client, request, transport, host, port, cseq))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        dest = self._dests[client.spec.name] = Address(transport, host, port)
        self._send_to(client, request, dest, cseq)

    async def _resolve_and_send(self, client: RegistrationClient, request: Request,
                                transport: str, host: str, port: int, cseq: int) -> None:
        loop = asyncio.get_running_loop()
        kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
        try:
            infos = await loop.getaddrinfo(host, port, type=kind)
        except OSError as exc:
            self._run(client.on_failure(self.clock(), f"cannot resolve {host}: {exc}",
                                        cseq=cseq))
            return
        address = infos[0][4][0]
        dest = self._dests[client.spec.name] = Address(transport, address, port)
        self._send_to(client, request, dest, cseq)

    def _send_to(self, client: RegistrationClient, request: Request, dest: Address,
                 cseq: int) -> None:
        def answered(response: Response | None) -> None:
            now = self.clock()
            if response is None:
                self._run(client.on_failure(now, "no response (timeout)", cseq=cseq))
            else:
                self._run(client.on_response(response, now))

        self.core.send_request(request, dest, answered)

    def _target(self, spec: Registration) -> tuple[str, str, int]:
        """(transport, host, port) REGISTERs go to: the outbound proxy, else the server."""
        if spec.outbound_proxy:
            rest = spec.outbound_proxy.split(":", 1)[1]
            rest, *params = rest.split(";")
            transport = spec.transport
            for param in params:
                if param.startswith("transport="):
                    transport = param.split("=", 1)[1]
            if rest.startswith("["):
                host, _, port = rest[1:].partition("]")
                port = port.lstrip(":")
            else:
                host, _, port = rest.partition(":")
            return transport, host, int(port) if port else 5060
        return spec.transport, spec.server_host, spec.server_port

    def _contact_host(self, dest_host: str, local: Address) -> str | None:
        """externaddr in our Contact when the provider is outside localnet."""
        external = self.nat.external_signaling
        if not external or not self.nat.remaps(dest_host):
            return None
        has_port = external.rsplit("]", 1)[-1].count(":") == 1
        return external if has_port else f"{external}:{local.port}"


class _ClientTimer:
    """The heap entry owner of one registration: the SIP core fires its timers here."""

    __slots__ = ("client", "edge")

    def __init__(self, edge: OutboundRegistrations, client: RegistrationClient) -> None:
        self.edge = edge
        self.client = client

    def on_timer(self, kind: str, now: float) -> None:
        self.edge.client_timer(self.client, now)
