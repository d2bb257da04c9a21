"""Fuzz targets: bytes in, the code under test exercised, only documented errors out.

Each ``fuzz_*(data)`` raises only on a real defect (an exception the code must
never let out, a traceback logged, an invariant broken). They are driven by
hypothesis in `make test` (tests/fuzz/test_fuzz.py, seconds) and by atheris
(libFuzzer, coverage-guided) in the long run (tests/fuzz/run_fuzz.py, minutes).
The seed corpus is tests/fuzz/corpus/<target>/.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from pbx.config import Config, Peer, Settings, SipConfig
from pbx.location import Location
from pbx.media.dtmf import DtmfError, DtmfReceiver, decode_event, parse_dtmf_info
from pbx.media.rtcp import RtcpError, parse_compound
from pbx.media.rtp import RtpError, parse_rtp
from pbx.registrar import Registrar, Source
from pbx.security.banlist import BanList, BanPolicy
from pbx.security.guard import SipGuard
from pbx.sip.address import Address
from pbx.sip.auth import DigestAuthenticator, parse_authorization, parse_challenge
from pbx.sip.message import FramingError, ParseError, Request, StreamFramer, make_response
from pbx.sip.sdp import SdpError, accept_answer, make_offer, negotiate, parse_sdp
from pbx.sip.validate import check_request, check_response
from pbx.sipcore import ALLOWED_METHODS, SipCore

CORPUS = Path(__file__).resolve().parent / "corpus"
TARGETS = ("sip", "core", "sdp", "rtp", "framer")

_LAZY = ("vias", "top_via", "call_id", "cseq", "from_addr", "to_addr", "contacts",
         "contact_star", "routes", "record_routes", "max_forwards", "expires", "content_type")


class DefectFound(AssertionError):
    """A traceback was logged, or an invariant broke."""


class _Tracebacks(logging.Handler):
    """Anything logged with exc_info is a defect: the PBX must never log a traceback."""

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            raise DefectFound(f"traceback logged: {record.getMessage()}") from record.exc_info[1]


# --- SIP parser and everything that reads a parsed message ------------------------------

def fuzz_sip(data: bytes) -> None:
    try:
        msg = parse_message_checked(data)
    except ParseError as exc:
        if not 400 <= exc.status <= 599:
            raise DefectFound(f"ParseError status {exc.status}") from exc
        exc.response_bytes("PBX")  # the stateless answer must build
        return
    for name in _LAZY:
        try:
            getattr(msg, name)
        except ParseError:
            pass
    if isinstance(msg, Request):
        problem = check_request(msg, allowed_methods=ALLOWED_METHODS, supported=set(),
                                accepted_types={"application/sdp"})
        if problem is None or msg.method != "ACK":
            try:
                make_response(msg, 400 if problem else 200, "x").to_bytes()
            except ParseError:
                pass
        for header in ("authorization", "proxy-authorization"):
            value = msg.headers.first(header)
            if value is not None:
                parse_authorization(value)
    else:
        check_response(msg)
        for value in msg.headers.get_all("WWW-Authenticate"):
            parse_challenge(value)
    again = msg.to_bytes()
    try:
        parse_message_checked(again)
    except ParseError:
        pass
    if msg.body and (msg.headers.first("content-type") or "").startswith("application/sdp"):
        fuzz_sdp(msg.body)


def parse_message_checked(data: bytes):
    from pbx.sip.message import parse_message

    return parse_message(data)


# --- the SIP core behind the guard: parse, transactions, registrar, OPTIONS --------------

class _FakeLoop:
    """What SipCore asks of a loop, recorded and never run (timers are not the point)."""

    def time(self) -> float:
        return 0.0

    def call_at(self, when: float, callback, *args):
        return _Handle()

    def call_soon(self, callback, *args):
        callback(*args)  # e.g. the deferred 100 Trying: run it, it must not fail either
        return _Handle()


class _Handle:
    def cancel(self) -> None:
        pass


class _Transport:
    def __init__(self) -> None:
        self.local = Address("udp", "127.0.0.1", 5060)
        self.sent: list[bytes] = []

    def send(self, data: bytes, host: str, port: int, on_error=None) -> None:
        if not isinstance(data, bytes):
            raise DefectFound("a transport was given something other than bytes")
        self.sent.append(data)

    def close(self) -> None:
        pass


class CoreHarness:
    """A SipCore with a registrar and OPTIONS, behind a SipGuard, with no sockets."""

    def __init__(self) -> None:
        peers = {"6001": Peer("6001", secret="pw6001", context="internal"),
                 "open": Peer("open", context="internal")}
        self.config = Config(settings=Settings(config_dir=Path(".")), sip=SipConfig(peers=peers))
        self.core = SipCore(user_agent="PBX")
        self.core.loop = _FakeLoop()  # type: ignore[assignment]
        self.transport = _Transport()
        self.core.add_transport("udp", self.transport)
        auth = DigestAuthenticator("pbx", b"k" * 32, lambda u: peers[u].secret
                                   if u in peers else None, algorithms=("MD5",))
        self.registrar = Registrar(self.config, Location(), auth)
        self.core.handlers["REGISTER"] = self._register
        self.core.handlers["OPTIONS"] = lambda req, tx, src: self.core.respond(
            tx, make_response(req, 200, "OK"))
        self.guard = SipGuard(self.core, BanList(BanPolicy(enabled=False)),
                              send=self.core.send_bytes, clock=lambda: 0.0, server_header="PBX")
        self.catcher = _Tracebacks()
        logging.getLogger("pbx").addHandler(self.catcher)
        self.now = 0.0

    def _register(self, req, tx, source) -> None:
        self.core.respond(tx, self.registrar.handle(req, Source(source.transport, source.host,
                                                                source.port), 0.0, 1000.0))

    def feed(self, data: bytes) -> None:
        self.transport.sent.clear()
        self.guard.on_message(data, Address("udp", "192.0.2.7", 5062), self.transport.local)
        for out in self.transport.sent:
            if not out.startswith(b"SIP/2.0 "):
                raise DefectFound(f"the PBX sent something that is not a response: {out[:40]!r}")
        if len(self.core.layer) > 10_000:  # transactions never pile up without bound
            self.core.layer = type(self.core.layer)(max_final_retransmits=1)


_CORE: CoreHarness | None = None


def fuzz_core(data: bytes) -> None:
    global _CORE
    if _CORE is None:
        _CORE = CoreHarness()
    _CORE.feed(data)


# --- SDP -------------------------------------------------------------------------------

_OFFER = make_offer("192.0.2.1", 40000)


def fuzz_sdp(data: bytes) -> None:
    try:
        sdp = parse_sdp(data)
    except SdpError:
        return
    str(sdp)
    sdp.to_bytes()
    try:
        answer = negotiate(sdp, local_addr="192.0.2.1", local_port=40000)
        str(answer.sdp) if hasattr(answer, "sdp") else None
    except SdpError:
        pass
    try:
        accept_answer(_OFFER, sdp)
    except SdpError:
        pass


# --- RTP, RTCP, DTMF --------------------------------------------------------------------

_RECEIVER = DtmfReceiver()


def fuzz_rtp(data: bytes) -> None:
    try:
        packet = parse_rtp(data)
    except RtpError:
        packet = None
    if packet is not None:
        try:
            decode_event(packet.payload)
        except DtmfError:
            pass
        _RECEIVER.feed(packet.payload, packet.timestamp, packet.marker)
    try:
        parse_compound(data)
    except RtcpError:
        pass
    text = data[:64].decode("utf-8", "surrogateescape")
    parse_dtmf_info("application/dtmf-relay", data)
    parse_dtmf_info("application/dtmf", text)


# --- TCP framing ----------------------------------------------------------------------------

def fuzz_framer(data: bytes) -> None:
    """The same bytes in one piece or cut anywhere give the same messages."""
    cut = data[0] if data else 0
    whole = _frame([data[1:]])
    pieces = _frame([data[1:1 + cut], data[1 + cut:]])
    if whole != pieces:
        raise DefectFound(f"framing depends on where the stream was cut: {whole} != {pieces}")


def _frame(chunks: list[bytes]) -> tuple:
    framer = StreamFramer(max_size=4096)
    out: list[bytes] = []
    try:
        for chunk in chunks:
            out.extend(framer.feed(chunk))
    except FramingError as exc:
        if exc.status not in (400, 513):
            raise DefectFound(f"FramingError status {exc.status}") from exc
        return (tuple(out + exc.messages), "error")
    return (tuple(out), framer.pings, framer.buffered)


FUZZERS = {"sip": fuzz_sip, "core": fuzz_core, "sdp": fuzz_sdp, "rtp": fuzz_rtp,
           "framer": fuzz_framer}


@functools.cache
def corpus(target: str) -> tuple[bytes, ...]:
    """The seed inputs of a target (sip and core share theirs)."""
    folder = CORPUS / ("sip" if target == "core" else target)
    return tuple(p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file())
