"""SIP MESSAGE (RFC 3428) between extensions, routed through the dialplan.

As Asterisk (res_pjsip_messaging, message.c): a MESSAGE outside a dialog is
authenticated like an INVITE (407; the From user must be the peer that
authenticates), must be `text/plain` (415 otherwise), and runs the dialplan
of the sender's message context (pjsip `message_context`, sip.conf
`outofcall_message_context`; by default the peer's `context`) at the
Request-URI's user, on a message channel where `MESSAGE(to)`,
`MESSAGE(from)`, `MESSAGE(body)` and `MESSAGE_DATA(header)` read it and
`MessageSend(to[,from])` sends it on: to a peer (`pjsip:6002`, `sip:6002`,
`SIP/6002`, `sip:6002@host`), at every registered contact.

Unlike Asterisk, which answers 202 before the dialplan runs, the sender's
answer waits for the dialplan (at most DIALPLAN_WAIT seconds) so it can say
what happened: 404 when the message context has no such extension or
MessageSend named a peer nobody knows, 480 when that peer has no reachable
contact, the phone's own error (486, 488, ...) when it refused the message,
408 when it did not answer, 202 when it was taken (or the dialplan took the
message without sending it on, or is still busy with it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pbx.channel import CallerId, Channel
from pbx.sip.address import Address
from pbx.sip.message import Request, Response, make_response
from pbx.sip.requests import host_port, new_request

if TYPE_CHECKING:
    from pbx.config import Config, Peer
    from pbx.location import Location
    from pbx.signalling import Signalling

log = logging.getLogger("pbx.messaging")

CONTENT_TYPE = "text/plain"
MAX_BODY = 4096  # bytes; RFC 3428 asks 1300 on UDP, phones send far less
MAX_IN_FLIGHT = 64  # message dialplans running at once; more get 503
DIALPLAN_WAIT = 10.0  # the sender's answer waits this long for the dialplan
SEND_WAIT = 8.0  # MessageSend waits this long for the phone's answer
# Headers of a received MESSAGE that are not MESSAGE_DATA().
_CORE_HEADERS = frozenset({
    "via", "from", "to", "call-id", "cseq", "contact", "max-forwards", "content-type",
    "content-length", "authorization", "proxy-authorization", "route", "record-route",
    "user-agent", "allow", "supported", "expires", "date"})

# MESSAGE_SEND_STATUS values (Asterisk's) and the status the sender gets for each.
SUCCESS, FAILURE = "SUCCESS", "FAILURE"
INVALID_PROTOCOL, INVALID_URI = "INVALID_PROTOCOL", "INVALID_URI"


@dataclass(slots=True)
class TextMessage:
    """What MESSAGE()/MESSAGE_DATA() read and write, and MessageSend() sends."""

    to: str = ""
    from_: str = ""
    body: str = ""
    content_type: str = CONTENT_TYPE
    data: dict[str, str] = field(default_factory=dict)  # MESSAGE_DATA(name), names lowered
    outcome: SendOutcome | None = None  # the last MessageSend()


@dataclass(slots=True)
class SendOutcome:
    status: str  # MESSAGE_SEND_STATUS
    sip_status: int  # what the sender is told


class MessageChannel(Channel):
    """The channel a message runs the dialplan on (Asterisk's Message/ast_msg_queue):
    no media; Answer() and the like do nothing."""

    __eq__ = object.__eq__
    __hash__ = object.__hash__


def _parse_from(text: str) -> tuple[str, str]:
    """`"Alice" <sip:6001@host>` / `sip:6001@host` / `6001` -> (display, user)."""
    text = text.strip()
    display = ""
    if "<" in text:
        display = text[:text.index("<")].strip().strip('"')
        text = text[text.index("<") + 1:text.rindex(">")] if ">" in text else text
    if ":" in text:
        text = text.split(":", 1)[1]
    user = text.split("@", 1)[0].split(";", 1)[0]
    return display, user


def destination_peer(to: str) -> tuple[str | None, str]:
    """MessageSend's destination -> (peer name, '') or (None, MESSAGE_SEND_STATUS)."""
    text = to.strip().strip("<>")
    if "/" in text.split(":", 1)[0]:  # SIP/6002, PJSIP/6002
        tech, _, rest = text.partition("/")
        if tech.upper() not in ("SIP", "PJSIP"):
            return None, INVALID_PROTOCOL
        text = rest
    elif ":" in text:
        scheme, _, rest = text.partition(":")
        if scheme.lower() not in ("sip", "pjsip", "sips"):
            return None, INVALID_PROTOCOL
        text = rest.split("/", 1)[0]  # pjsip:6002/sip:6002@host -> 6002
        if text.lower().startswith(("sip:", "sips:")):
            text = text.split(":", 1)[1]
    name = text.split("@", 1)[0].split(";", 1)[0].strip()
    return (name, "") if name else (None, INVALID_URI)


class Messaging:
    """MESSAGE in (the handler) and MessageSend() out, for one PBX."""

    def __init__(self, *, signalling: Signalling, config: Callable[[], Config],
                 location: Location, identify: Callable[[Request, Address], tuple[Any, Any]],
                 spawn: Callable[[Coroutine[Any, Any, Any]], asyncio.Task],
                 dialplan_services: Any = None,
                 in_dialog: Callable[[Request, Any, Address], None] | None = None) -> None:
        self.signalling = signalling
        self.config = config
        self.location = location
        self.identify = identify  # the calls' INVITE identification (407 digest)
        self.spawn = spawn
        self.dialplan_services = dialplan_services
        self.in_dialog = in_dialog  # a MESSAGE inside a call goes to the call
        self.in_flight = 0
        self.stats = {"received": 0, "sent": 0, "delivered": 0}

    # --- MESSAGE in --------------------------------------------------------------------
    def on_message(self, req: Request, tx: Any, source: Address) -> None:
        sig = self.signalling
        if req.to_addr.tag:
            if self.in_dialog is not None:
                self.in_dialog(req, tx, source)
            else:
                sig.respond(tx, make_response(req, 481, "Call/Transaction Does Not Exist"))
            return
        config = self.config()
        if not config.sip.general.accept_outofcall_message:
            sig.respond(tx, make_response(req, 405, "Method Not Allowed",
                                          headers=[("Allow", sig.allow_header())]))
            return
        if (req.content_type or "") != CONTENT_TYPE:
            sig.respond(tx, make_response(req, 415, "Unsupported Media Type",
                                          headers=[("Accept", CONTENT_TYPE)]))
            return
        if len(req.body) > MAX_BODY:
            sig.respond(tx, make_response(req, 513, "Message Too Large"))
            return
        peer, refusal = self.identify(req, source)
        if refusal is not None:
            sig.respond(tx, refusal)
            return
        context = (peer.message_context or peer.context) if peer is not None \
            else config.sip.general.context
        exten = req.uri.user or "s"
        from dialplan.interpreter import exists

        clock = getattr(self.dialplan_services, "clock", None)
        if not exists(config.dialplan, context, exten, None,
                      now=clock.time() if clock is not None else None):
            log.info("MESSAGE from %s to %s: no such extension in %s", source, exten, context)
            sig.respond(tx, make_response(req, 404, "Not Found"))
            return
        if self.in_flight >= MAX_IN_FLIGHT:
            sig.respond(tx, make_response(req, 503, "Service Unavailable",
                                          headers=[("Retry-After", "5")]))
            return
        self.stats["received"] += 1
        message = TextMessage(to=str(req.uri), from_=self._from_text(req),
                              body=req.body.decode("utf-8", "replace"),
                              data={k: v for k, v in self._headers(req)})
        self.in_flight += 1
        self.spawn(self._route(req, tx, peer, context, exten, message, config))

    @staticmethod
    def _from_text(req: Request) -> str:
        frm = req.from_addr
        uri = frm.uri
        # As Asterisk: "display" <scheme:user@host>, the port left out.
        display = "".join(c if c >= " " else " " for c in (frm.display or ""))
        head = f'"{display}" ' if display else ""
        host = f"[{uri.host}]" if ":" in uri.host else uri.host
        return f"{head}<{uri.scheme}:{uri.user or ''}@{host}>"

    @staticmethod
    def _headers(req: Request) -> list[tuple[str, str]]:
        return [(name.lower(), value) for name, value in req.headers.items()
                if name.lower() not in _CORE_HEADERS]

    async def _route(self, req: Request, tx: Any, peer: Peer | None, context: str, exten: str,
                     message: TextMessage, config: Config) -> None:
        """Run the message through the dialplan; answer the sender with the outcome."""
        from dialplan.interpreter import Interpreter

        display, user = _parse_from(message.from_)
        if peer is not None and (peer.callerid.num or peer.callerid.name):
            callerid = CallerId(num=peer.callerid.num or user, name=peer.callerid.name)
        else:
            callerid = CallerId(num=user, name=display)
        channel = MessageChannel(name="Message/ast_msg_queue", context=context, exten=exten,
                                 callerid=callerid)
        channel.message = message
        if peer is not None:
            channel.language = peer.language or config.settings.language
        run = asyncio.ensure_future(
            Interpreter(config.dialplan, self.dialplan_services).run(channel))
        try:
            await asyncio.wait({run}, timeout=DIALPLAN_WAIT)
            outcome = message.outcome
            status = 202 if outcome is None or not run.done() else outcome.sip_status
            reason = "Accepted" if status == 202 else None
            self.signalling.respond(tx, make_response(req, status, reason))
            log.info("MESSAGE from %s to %s@%s: %d", callerid.num or "?", exten, context, status)
            await run
        except Exception:
            log.exception("MESSAGE to %s@%s: the dialplan failed", exten, context)
        finally:
            self.in_flight -= 1

    # --- MessageSend ---------------------------------------------------------------
    async def send(self, to: str, from_: str, message: TextMessage) -> SendOutcome:
        """Send `message` to the peer `to` names, at each of its reachable contacts."""
        name, problem = destination_peer(to)
        if name is None:
            log.info("MessageSend to %r: %s", to, problem)
            return SendOutcome(problem, 404 if problem == INVALID_URI else 416)
        config = self.config()
        peer = config.sip.peers.get(name)
        if peer is None or not peer.can_be_called:
            log.info("MessageSend to %r: no peer or endpoint named %r", to, name)
            return SendOutcome(INVALID_URI, 404)
        targets = self._targets(peer)
        if not targets:
            log.info("MessageSend to %s: not registered or unreachable", name)
            return SendOutcome(FAILURE, 480)
        display, user = _parse_from(from_ or message.from_)
        waits = [self._send_one(peer, uri, dest, user, display, message)
                 for uri, dest in targets]
        statuses = await asyncio.gather(*waits)
        if any(200 <= s < 300 for s in statuses):
            self.stats["delivered"] += 1
            return SendOutcome(SUCCESS, 202)
        final = [s for s in statuses if s >= 300]
        return SendOutcome(FAILURE, final[-1] if final else 408)

    def _targets(self, peer: Peer) -> list[tuple[str, Address]]:
        if not peer.dynamic:
            host = f"[{peer.host}]" if ":" in peer.host else peer.host
            return [(f"sip:{peer.defaultuser or peer.name}@{host}:{peer.port}",
                     Address(peer.transport, peer.host, peer.port))]
        return [(b.contact, Address(b.transport, b.source_host, b.source_port))
                for b in self.location.lookup(peer.name, time.time()) if b.reachable is not False]

    async def _send_one(self, peer: Peer, uri: str, dest: Address, user: str, display: str,
                        message: TextMessage) -> int:
        sig = self.signalling
        local = sig.local_address(dest.transport, 6 if ":" in dest.host else 4,
                                  toward=dest.host)
        if local is None:
            return 503
        extra = [(k, v) for k, v in message.data.items() if k.startswith("x-")]
        req = new_request("MESSAGE", uri, local=local, from_user=user or "anonymous",
                          from_display=display or None,
                          to_uri=f"sip:{peer.name}@{host_port(local)}", extra=extra,
                          body=message.body.encode("utf-8"),
                          content_type=message.content_type or CONTENT_TYPE)
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def answered(resp: Response | None) -> None:
            if resp is not None and resp.status >= 200 and not done.done():
                done.set_result(resp.status)

        def failed(status: int) -> None:
            if not done.done():
                done.set_result(status)

        sig.send_request(req, dest, answered, failed)
        self.stats["sent"] += 1
        try:
            return await asyncio.wait_for(asyncio.shield(done), SEND_WAIT)
        except TimeoutError:
            return 408
