"""Management endpoint on `http.listen`: what `pbx peers|channels|registry|reload|queue` ask.

A few JSON routes over HTTP/1.0, on loopback by default. Hand-written on
asyncio streams: three routes do not justify a web framework dependency.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from pbx.qualify import qualify_status

log = logging.getLogger("pbx.management")


class ManagementServer:
    def __init__(self, pbx: Any) -> None:
        self.pbx = pbx
        self.server: asyncio.base_events.Server | None = None
        self.port: int | None = None

    async def start(self, listen: str) -> None:
        """Listen on host:port; a port already in use is logged, not fatal."""
        host, _, port = listen.rpartition(":")
        host = host.strip("[]") or "127.0.0.1"
        try:
            self.server = await asyncio.start_server(self._serve, host, int(port))
        except OSError as exc:
            log.warning("management endpoint on %s not started: %s", listen, exc)
            return
        self.port = self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 5)
            while (await asyncio.wait_for(reader.readline(), 5)) not in (b"\r\n", b"\n", b""):
                pass
            parts = line.decode("latin-1").split()
            method, path = (parts[0], parts[1]) if len(parts) >= 2 else ("GET", "/")
            status, body = await self.route(method, path)
        except Exception as exc:
            log.exception("management request failed")
            status, body = 500, {"error": str(exc)}
        data = json.dumps(body).encode()
        writer.write(f"HTTP/1.0 {status} OK\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
        try:
            await writer.drain()
        finally:
            writer.close()

    async def route(self, method: str, path: str) -> tuple[int, dict]:
        """Answer one request: (status, JSON body)."""
        if path == "/peers":
            return 200, {"peers": self.peers()}
        if path == "/registry":
            regs = self.pbx.registrations
            return 200, {"registrations": regs.rows() if regs is not None else []}
        if path == "/channels":
            calls = self.pbx.calls
            return 200, {"channels": calls.channel_rows() if calls is not None else []}
        if path.startswith("/queues"):
            from pbx.queue.mgmt import queue_route

            return await queue_route(self.pbx.queues, method, path)
        if path == "/reload" and method == "POST":
            ok, messages, summary = await self.pbx.reload()
            if ok:
                return 200, {"ok": True, "summary": summary, "warnings": messages}
            return 400, {"ok": False, "errors": messages}
        return 404, {"error": f"no route {method} {path}"}

    def peers(self) -> list[dict]:
        now = time.time()
        rows = []
        for peer in self.pbx.config.sip.peers.values():
            contacts = []
            if peer.dynamic:
                for b in self.pbx.location.lookup(peer.name, now):
                    contacts.append({
                        "contact": b.contact, "source": f"{b.source_host}:{b.source_port}",
                        "transport": b.transport, "expires": b.remaining(now),
                        "user_agent": b.user_agent,
                        "status": qualify_status(b, peer.qualify_ms) if peer.qualify else "OK"})
            elif peer.qualify:
                state = self.pbx.qualifier.state_of(peer)
                contacts.append({"contact": f"sip:{peer.host}:{peer.port}",
                                 "source": f"{peer.host}:{peer.port}",
                                 "transport": peer.transport, "expires": None,
                                 "user_agent": "",
                                 "status": qualify_status(state, peer.qualify_ms)
                                 if state is not None else "UNKNOWN"})
            rows.append({"name": peer.name, "type": peer.type, "dynamic": peer.dynamic,
                         "host": peer.host if not peer.dynamic else "(Unspecified)",
                         "context": peer.context, "qualify": peer.qualify,
                         "contacts": contacts})
        return rows

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
