"""Management endpoint on `http.listen`: what `pbx peers|channels|registry|reload|bans|queue`
ask.

A few JSON routes over HTTP/1.0, on loopback by default. Hand-written on
asyncio streams: a handful of routes do not justify a web framework dependency.
Every request must carry the token of pbx/security/token.py
(`Authorization: Bearer ...`); a port already taken stops the start, so `pbx
reload` can never reach some other PBX listening there.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import urllib.parse
from typing import Any

from pbx.qualify import qualify_status
from pbx.security.token import check_token

log = logging.getLogger("pbx.management")

MAX_HEADER_LINES = 50


class ManagementPortTaken(OSError):
    """http.listen is in use (another PBX?): the PBX must not start."""


class ManagementServer:
    def __init__(self, pbx: Any, token: str) -> None:
        self.pbx = pbx
        self.token = token
        self.server: asyncio.base_events.Server | None = None
        self.port: int | None = None

    async def start(self, listen: str) -> None:
        """Listen on host:port; a port already in use raises ManagementPortTaken."""
        host, _, port = listen.rpartition(":")
        host = host.strip("[]") or "127.0.0.1"
        try:
            self.server = await asyncio.start_server(self._serve, host, int(port))
        except OSError as exc:
            raise ManagementPortTaken(
                exc.errno, f"management endpoint http.listen {listen}: {exc.strerror or exc} "
                "(another PBX there? give each PBX its own http.listen in pbx.yaml)") from exc
        self.port = self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 5)
            authorization = None
            for _ in range(MAX_HEADER_LINES):
                header = await asyncio.wait_for(reader.readline(), 5)
                if header in (b"\r\n", b"\n", b""):
                    break
                name, _, value = header.decode("latin-1").partition(":")
                if name.strip().lower() == "authorization":
                    authorization = value.strip()
            parts = line.decode("latin-1").split()
            method, path = (parts[0], parts[1]) if len(parts) >= 2 else ("GET", "/")
            if not check_token(self.token, authorization):
                status, body = 401, {"error": "missing or wrong token"}
            else:
                status, body = await self.route(method, path)
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError, ValueError):
            writer.close()
            return
        except Exception as exc:
            log.exception("management request failed")
            status, body = 500, {"error": str(exc)}
        data = json.dumps(body).encode()
        writer.write(f"HTTP/1.0 {status} {_REASONS.get(status, 'OK')}\r\n"
                     "Content-Type: application/json\r\n"
                     f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
        try:
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def route(self, method: str, path: str) -> tuple[int, dict]:
        """Answer one request: (status, JSON body)."""
        security = self.pbx.security
        if path == "/bans" and method == "GET":
            return 200, {"bans": security.ban_rows()}
        if path.startswith("/bans/lift/") and method == "POST":
            source = urllib.parse.unquote(path[len("/bans/lift/"):])
            return 200, {"lifted": security.lift(source)}
        if path == "/peers":
            return 200, {"peers": self.peers()}
        if path == "/registry":
            regs = self.pbx.registrations
            return 200, {"registrations": regs.rows() if regs is not None else []}
        if path == "/channels":
            calls = self.pbx.calls
            return 200, {"channels": calls.channel_rows() if calls is not None else []}
        if path == "/hints":
            hints = getattr(self.pbx, "hints", None)
            return 200, {"hints": hints.rows() if hints is not None else []}
        if path == "/confbridge" or path.startswith("/confbridge/"):
            return self.confbridge(method, path)
        if path.startswith("/queues"):
            from pbx.queue.mgmt import queue_route

            return await queue_route(self.pbx.queues, method, path)
        if path == "/reload" and method == "POST":
            ok, messages, summary = await self.pbx.reload()
            if ok:
                return 200, {"ok": True, "summary": summary, "warnings": messages}
            return 400, {"ok": False, "errors": messages}
        return 404, {"error": f"no route {method} {path}"}

    def confbridge(self, method: str, path: str) -> tuple[int, dict]:
        """GET /confbridge[/ROOM]; POST /confbridge/ROOM/(kick|mute|unmute)/CHANNEL,
        /confbridge/ROOM/(lock|unlock) (parts URL-quoted: channel names hold '/')."""
        svc = self.pbx.conferences
        if svc is None:
            return 503, {"error": "conferences are not running"}
        parts = [urllib.parse.unquote(p) for p in path.split("/")[2:]]
        if method == "GET" and not parts:
            return 200, {"rooms": svc.list_rooms()}
        if method == "GET" and len(parts) == 1:
            members = svc.list_members(parts[0])
            if members is None:
                return 404, {"error": f"No conference bridge named '{parts[0]}' found!"}
            return 200, {"room": parts[0], "members": members}
        if method == "POST" and len(parts) == 2 and parts[1] in ("lock", "unlock"):
            if not svc.lock(parts[0], parts[1] == "lock"):
                return 404, {"error": f"No conference bridge named '{parts[0]}' found!"}
            return 200, {"ok": True}
        if method == "POST" and len(parts) == 3 and parts[1] in ("kick", "mute", "unmute"):
            room, action, who = parts
            done = (svc.kick(room, who) if action == "kick"
                    else svc.mute(room, who, action == "mute"))
            if done is None:
                return 404, {"error": f"No conference bridge named '{room}' found!"}
            if not done:
                return 404, {"error": f"No participant named '{who}' found!"}
            return 200, {"ok": True}
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



_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
            409: "Conflict", 500: "Internal Server Error", 503: "Service Unavailable"}
