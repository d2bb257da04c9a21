"""The Channel: one call leg as the dialplan sees it.

Dialplan applications receive a Channel and never see SIP. The SIP side
(`SipChannel`, built by the calls code) and the tests' fake channel both
implement this interface. Everything a call can do to a caller goes through
these methods; each one is a coroutine that returns when the action is done,
or raises `Hangup` when the caller has hung up meanwhile.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from pbx.cdr import CdrVars


class ChannelState(enum.Enum):
    DOWN = "Down"
    RING = "Ring"  # inbound, not yet answered
    RINGING = "Ringing"  # 180 sent / remote is alerting
    UP = "Up"
    HUNGUP = "Hungup"


class Hangup(Exception):
    """Raised inside an application when the channel has been hung up."""


class AppError(Exception):
    """An application failed in a way that ends the dialplan (Asterisk's -1)."""


_uniqueid_counter = itertools.count(1)
_channel_counter = itertools.count(1)


def new_uniqueid() -> str:
    """Asterisk-style unique id: epoch seconds '.' sequence."""
    return f"{int(time.time())}.{next(_uniqueid_counter)}"


def new_channel_name(tech: str, peer: str) -> str:
    """Asterisk-style channel name, e.g. ``SIP/ZhangSan-00000001``."""
    return f"{tech}/{peer}-{next(_channel_counter):08x}"


@dataclass(slots=True)
class CallerId:
    num: str = ""
    name: str = ""


@dataclass
class Channel:
    """Base channel: state, variables, digits. Media/signalling methods are
    overridden by concrete channels (SIP, fake)."""

    name: str
    context: str = "default"
    exten: str = "s"
    priority: int = 1
    callerid: CallerId = field(default_factory=CallerId)
    uniqueid: str = field(default_factory=new_uniqueid)
    state: ChannelState = ChannelState.RING
    variables: dict[str, str] = field(default_factory=dict)
    hangup_cause: int = 0  # Q.850 cause once hung up
    language: str = "en"
    # Digits arrive here from RFC 4733, SIP INFO or a fake; one queue per channel.
    digits: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    hungup: asyncio.Event = field(default_factory=asyncio.Event)
    # Set by the dialplan interpreter: the dialplan snapshot this call runs on.
    dialplan: Any = None
    # Filled as the call goes: for the CDR.
    lastapp: str = ""
    lastdata: str = ""
    created_at: float = field(default_factory=time.time)
    answered_at: float | None = None
    # What CDR()/CDR_PROP() set on this call's record (pbx.cdr builds the row).
    cdr: CdrVars = field(default_factory=CdrVars)
    # The leg's RTP endpoint (pbx.media.session.MediaSession) for what takes its
    # audio whole (a conference); None for channels without media (test fakes).
    media: Any = None
    # Per-call state of applications, by name (Asterisk's channel datastores), e.g.
    # the profiles Set(CONFBRIDGE(user,quiet)=yes) builds for ConfBridge().
    datastores: dict[str, Any] = field(default_factory=dict)

    # --- signalling ---------------------------------------------------------
    async def answer(self) -> None:
        """Answer the call (SIP: 200 OK with the SDP answer)."""
        if self.state is not ChannelState.UP:
            self.state = ChannelState.UP
            self.answered_at = time.time()

    async def ringing(self) -> None:
        """Indicate ringing (SIP: 180)."""
        if self.state is ChannelState.RING:
            self.state = ChannelState.RINGING

    async def progress(self) -> None:
        """Open early media (SIP: 183 with SDP)."""

    async def busy(self) -> None:
        """Indicate busy (SIP: 486) and wait to be hung up."""
        await self.hangup(17)

    async def congestion(self) -> None:
        """Indicate congestion (SIP: 503) and wait to be hung up."""
        await self.hangup(34)

    async def hangup(self, cause: int = 16) -> None:
        """Hang up with a Q.850 cause (16 normal clearing)."""
        if self.state is not ChannelState.HUNGUP:
            self.hangup_cause = cause or 16
            self.state = ChannelState.HUNGUP
            self.variables.setdefault("HANGUPCAUSE", str(self.hangup_cause))
            self.hungup.set()

    def check_hangup(self) -> None:
        """Raise Hangup if the channel is gone."""
        if self.state is ChannelState.HUNGUP:
            raise Hangup(self.name)

    # --- media --------------------------------------------------------------
    async def play(self, prompts: list[str], interrupt: str = "") -> str:
        """Play prompts in order; return the digit that interrupted playback
        (only digits in `interrupt`), or "" when it played to the end.
        A missing prompt sets PLAYBACKSTATUS=FAILED and is skipped."""
        self.check_hangup()
        return ""

    async def wait_digit(self, timeout: float) -> str | None:
        """Wait up to `timeout` seconds for one DTMF digit; None on timeout."""
        self.check_hangup()
        get = asyncio.ensure_future(self.digits.get())
        gone = asyncio.ensure_future(self.hungup.wait())
        try:
            done, _ = await asyncio.wait({get, gone}, timeout=timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            for f in (get, gone):
                if not f.done():
                    f.cancel()
        if get in done:
            return get.result()
        self.check_hangup()
        return None

    async def sleep(self, seconds: float) -> None:
        """Wait, returning early with Hangup if the caller hangs up."""
        self.check_hangup()
        try:
            await asyncio.wait_for(self.hungup.wait(), timeout=max(0.0, seconds))
        except TimeoutError:
            return
        raise Hangup(self.name)

    async def echo(self) -> None:
        """Send back what the caller says until '#' or hangup."""
        self.check_hangup()

    async def record(self, path: str, *, max_seconds: float = 0, silence_seconds: float = 0,
                     silence_threshold: int = 256, stop_digits: str = "#") -> RecordResult:
        """Record the caller into a WAV file at `path` (tmp file renamed when done)."""
        self.check_hangup()
        return RecordResult(path=path, seconds=0.0, stopped_by="hangup")

    async def dial(self, targets: list[DialTarget], timeout: float | None,
                   options: str) -> DialResult:
        """Ring the targets; bridge with the first to answer (see Dial)."""
        return DialResult(status="CHANUNAVAIL")


@dataclass(slots=True)
class RecordResult:
    path: str
    seconds: float  # what was kept: silence that ended it is trimmed to 0.2 s
    stopped_by: str  # "dtmf:#", "silence", "maxtime", "hangup"


@dataclass(slots=True)
class DialTarget:
    tech: str  # "SIP" (PJSIP is an alias)
    peer: str
    exten: str | None = None  # SIP/peer/EXTEN or SIP/EXTEN@peer


@dataclass(slots=True)
class DialResult:
    status: str  # ANSWER, BUSY, NOANSWER, CANCEL, CONGESTION, CHANUNAVAIL
    dialed_time: int = 0
    answered_time: int = 0
    peer_number: str = ""
    peer_channel: str = ""
    callee_hungup: bool = False  # the bridge ended because the callee hung up
