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
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pbx.cdr import CdrVars

if TYPE_CHECKING:
    from pbx.indications import ToneList


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


class DigitQueue(asyncio.Queue[str]):
    """The DTMF digits a channel received and no application took yet."""

    def discard_first(self, digit: str) -> bool:
        """Drop ``digit`` if it is the next one (a terminator that ended a
        recording is not also a menu choice); the others keep their order."""
        waiting = []
        while not self.empty():
            waiting.append(self.get_nowait())
        dropped = bool(waiting) and waiting[0] == digit
        for d in waiting[1:] if dropped else waiting:
            self.put_nowait(d)
        return dropped


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
    tonezone: str = ""  # indications.conf country of this call's tones; "": [general] country
    # Digits arrive here from RFC 4733, SIP INFO or a fake; one queue per channel.
    digits: DigitQueue = field(default_factory=DigitQueue)
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
    # The text message MESSAGE()/MessageSend() work on (pbx.messaging.TextMessage):
    # the one being routed on a message channel, or one built with Set(MESSAGE(..)).
    message: Any = None
    # PJSIP_HEADER(add,...): headers for the INVITEs of a following Dial (pbx.added_headers).
    added_headers: list[tuple[str, str]] = field(default_factory=list)
    # CHANNEL(musicclass): the music-on-hold class this channel hears ("" = default).
    musicclass: str = ""
    # Files MixMonitor wrote for this channel (listed in the CDR).
    recordings: list[str] = field(default_factory=list)
    # The leg's RTP endpoint (pbx.media.session.MediaSession) for what takes its
    # audio whole (a conference); None for channels without media (test fakes).
    media: Any = None
    # Per-call state of applications, by name (Asterisk's channel datastores), e.g.
    # the profiles Set(CONFBRIDGE(user,quiet)=yes) builds for ConfBridge().
    datastores: dict[str, Any] = field(default_factory=dict)
    # The call chain this leg belongs to (Asterisk's linkedid): the first leg's uniqueid,
    # kept by the legs it dials and by a transferee's new record.
    linkedid: str = ""
    # What a transfer records on this leg's CDR (pbx.cdr: the `transfer` field).
    transfer: dict[str, str] = field(default_factory=dict)
    # Set by a REFER transfer on its transferee: told how the transferee's new call
    # goes (180 ringing, 200 answered or voice flowing, a failure when it ends first).
    progress_observer: Callable[[int], None] | None = field(default=None, repr=False)
    # Called with the channel once it has ended (bridges, parking, transfers, limits).
    _gone_listeners: list[Callable[[Any], None]] = field(default_factory=list, repr=False,
                                                          init=False)

    def __post_init__(self) -> None:
        if not self.linkedid:
            self.linkedid = self.uniqueid

    def invite_headers(self) -> list[tuple[str, str]]:
        """The (name, value) headers of the INVITE that started this call, for
        PJSIP_HEADER(read); none on a leg the PBX called."""
        return []

    def observe(self, status: int) -> None:
        """Report progress to a transfer watching this leg (once final, it stops)."""
        observer = self.progress_observer
        if observer is not None:
            if status >= 200:
                self.progress_observer = None
            observer(status)

    def observe_hangup(self) -> None:
        """The leg ended before reporting an outcome: busy (486) or failed (503)."""
        if self.progress_observer is not None:
            self.observe(486 if self.hangup_cause == 17 else 503)

    def on_gone(self, listener: Callable[[Any], None]) -> None:
        """Call ``listener(channel)`` once when this channel ends (bridges, parking,
        transfers, call limits)."""
        self._gone_listeners.append(listener)

    def remove_gone(self, listener: Callable[[Any], None]) -> None:
        if listener in self._gone_listeners:
            self._gone_listeners.remove(listener)

    def _notify_gone(self) -> None:
        """The channel has ended: its listeners hear it once, then are dropped (a
        finished leg keeps no references to what watched it)."""
        listeners, self._gone_listeners = self._gone_listeners, []
        for listener in listeners:
            try:
                listener(self)
            except Exception:
                logging.getLogger("pbx.channel").exception("%s: end-of-channel listener "
                                                           "failed", self.name)
        self.observe_hangup()

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
            self._notify_gone()

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

    async def start_tones(self, tones: ToneList) -> None:
        """Start a tone list (PlayTones, Read's `i`) and return at once: it plays
        until stop_tones(), the next prompt, a bridge or the hangup. Before the
        answer it opens early media (183), as prompts do."""
        self.check_hangup()

    def stop_tones(self) -> None:
        """Stop the tone list started by start_tones (nothing else)."""

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

    # --- music on hold, recording (pbx/channel_media.py on real legs) ----------
    async def start_moh(self, klass: str | None = None, *, force: bool = False) -> str | None:
        """Start music on hold; returns the class playing (None: none could). The class
        is Asterisk's choice: CHANNEL(musicclass), then `klass`, then `default`
        (`force`: `klass` first, as Dial's m(class))."""
        self.check_hangup()
        return None

    def stop_moh(self) -> None:
        """Stop the music on hold this channel hears, whoever started it."""

    def peer_hold(self, held: bool, holder: Channel) -> None:
        """The other party of our bridge holds (`held`) or resumes: we hear music
        on hold meanwhile (or pass the hold on, pjsip's moh_passthrough)."""

    async def start_mixmonitor(self, spec: Any) -> str:
        """Record this channel's two directions (pbx.channel_media.MixMonitorSpec);
        returns the monitor's id. Raises AppError when a file cannot be opened."""
        self.check_hangup()
        raise AppError("this channel cannot record")

    def stop_mixmonitor(self, monitor_id: str | None = None) -> bool:
        """Stop one MixMonitor (by id) or all of them; False when none was running."""
        return False

    def bridge_changed(self, bridged: bool) -> None:
        """Dial's bridge started or ended (MixMonitor's `b` option records only inside)."""


@dataclass(slots=True)
class RecordResult:
    path: str
    seconds: float  # what was kept: silence that ended it is trimmed to 0.2 s
    stopped_by: str  # "dtmf:#", "silence", "maxtime", "hangup"


@dataclass(slots=True)
class DialTarget:
    tech: str  # "SIP" (PJSIP is an alias), "LOCAL"
    peer: str  # the peer; for Local/exten@context: the context
    exten: str | None = None  # SIP/peer/EXTEN or SIP/EXTEN@peer; Local's exten
    options: str = ""  # Local/exten@context/n: the letters after the last slash


@dataclass(slots=True)
class DialResult:
    status: str  # ANSWER, BUSY, NOANSWER, CANCEL, CONGESTION, CHANUNAVAIL
    dialed_time: int = 0
    answered_time: int = 0
    peer_number: str = ""
    peer_channel: str = ""
    callee_hungup: bool = False  # the bridge ended because the callee hung up
    transferred: bool = False  # the caller transferred the call away (it hangs up)
    goto: tuple[str, str, int] | None = None  # a transfer sent the caller here
