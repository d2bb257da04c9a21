"""Local channels: `Dial(Local/exten@context[/n])` runs the dialplan as a new call.

As Asterisk's core_local, a Local channel is two halves. `;1` is the leg the
Dial rings: its Dial sees it ring, make progress, answer or fail like any
other leg. `;2` runs the dialplan at exten@context as an inbound-like
channel (the caller's caller ID, its own CDR): what it does is what `;1`
reports, Asterisk's way:

- `;2` Ringing() or a Dial that rings -> `;1` rings (180 to the caller);
- `;2` Progress() or early media -> `;1` has early media (183);
- `;2` Answer(), or its Dial answered -> `;1` answers;
- `;2` ends before answering -> `;1` fails with the status its Dial got
  (BUSY, NOANSWER, CONGESTION, CHANUNAVAIL), so DIALSTATUS propagates;
- either half hanging up hangs up the other; a `;1` the Dial cancels because
  another leg answered hangs `;2` up with ANSWERED_ELSEWHERE, whose own Dial
  then cancels its phones with "Call completed elsewhere".

The media goes through the pair (pbx.media.local_pair) in the caller's
codec. Asterisk would optimise a bridged pair away unless `/n` is given;
here the pair always stays in the path (what `/n` asks for), which costs a
Python hop per packet and keeps MixMonitor's `b` and music on hold right.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pbx import leg_codecs, q850
from pbx.channel import Channel, ChannelState, DialResult, DialTarget, new_channel_name
from pbx.channel_media import ChannelMedia, FeatureServices, MediaFeatures
from pbx.leg_media import LegMedia
from pbx.media.codecs import PCMU
from pbx.media.local_pair import pair
from pbx.media.player import Player
from pbx.sip.invite import Accepted, Failed, Progress

if TYPE_CHECKING:
    from pbx.media.prompts import PromptLibrary
    from pbx.media.relay import Relay
    from pbx.sip.sdp import Format

log = logging.getLogger("pbx.local")

ANSWERED_ELSEWHERE = q850.CAUSE_NAMES["ANSWERED_ELSEWHERE"]
# DIALSTATUS of the `;2` side -> the SIP-like status `;1` fails with (its Dial
# turns it back into the same DIALSTATUS through q850).
_STATUS_FOR = {"BUSY": 486, "NOANSWER": 480, "CONGESTION": 503, "CHANUNAVAIL": 404}
# Local's options after the last slash (core_local.c): n (no optimisation),
# j (jitter buffer), m (MOH passthrough), b (bridge); accepted.
OPTIONS = "njmb"


@dataclass(frozen=True, slots=True)
class LocalDestination:
    """`Local/exten@context[/options]` as Dial rings it."""

    exten: str
    context: str
    options: str = ""

    @property
    def name(self) -> str:
        return f"{self.exten}@{self.context}"


def parse_local(resource: str) -> LocalDestination:
    """`100@ringgroup/n` -> LocalDestination (context `default` when none is given)."""
    options = ""
    if "/" in resource:
        resource, options = resource.rsplit("/", 1)
    exten, _, context = resource.partition("@")
    return LocalDestination(exten.strip(), (context or "default").strip(), options.strip())


def local_target(dest: LocalDestination) -> DialTarget:
    return DialTarget(tech="LOCAL", peer=dest.context, exten=dest.exten, options=dest.options)


@dataclass(slots=True)
class LocalServices:
    """What the halves of a Local channel need from the PBX."""

    prompts: Callable[[], PromptLibrary]
    spawn: Callable[[Coroutine[Any, Any, Any]], asyncio.Task]
    dialer: Any  # pbx.legs.LegMaker (Dial for the `;2` side's own Dial())
    features: FeatureServices | None = None
    calls: Any = None  # pbx.sipchannel.CallControl: bridges and features for its Dial


@dataclass(slots=True)
class LocalResponse:
    """What `;1` reports to its Dial in place of a SIP response."""

    status: int
    body: bytes = b""


class _Negotiated:
    """The codec of the pair, where Dial reads a leg's negotiated format."""

    __slots__ = ("format", "local_format")

    def __init__(self, fmt: Format) -> None:
        self.format = self.local_format = fmt


class LocalSdp:
    """The part of a SIP leg's LegSdp that Dial reads: a fixed codec, nothing open."""

    def __init__(self, codec_name: str) -> None:
        self.codec_names = [codec_name]
        self.remote_offer = None
        fmt = leg_codecs.FORMATS[codec_name]
        self.negotiated = _Negotiated(fmt)


class LocalChannel(MediaFeatures, LegMedia, Channel):
    """One half of a Local channel (`outer`: the `;1` leg a Dial rings)."""

    __eq__ = object.__eq__
    __hash__ = object.__hash__

    def __init__(self, name: str, *, media: Any, services: LocalServices, outer: bool,
                 sdp: LocalSdp) -> None:
        super().__init__(name=name)
        self.media = media
        self.services = services
        self.outer = outer
        self.sdp = sdp
        self.other: LocalChannel | None = None
        self.peer = None
        self.inbound = not outer
        self.early = False
        self.player = Player(media)
        self.relay: Relay | None = None
        self.bridged_to: Any = None
        self.bridge: Any = None  # the pbx.bridge.Bridge this half is in
        self.dialing: Any = None  # the pbx.dial.Dial `;2` waits in, while it rings
        self.in_dial: Any = None  # the pbx.dial.Dial ringing `;1`
        self.dst_channel: Any = None
        self.dial_events: Callable[[Any, Any], None] | None = None
        self.dialed = ""  # DIALEDPEERNUMBER when `;1` wins: exten@context
        self.ended_at: float | None = None
        self.stats: Any = None
        self.codec_open = False
        self.max_forwards = 20  # one less than the caller's: a Local loop ends (Dial)
        self.features = ChannelMedia(self, media, services.features)
        media.on_dtmf = self.on_digit

    def prompts(self) -> PromptLibrary:
        return self.services.prompts()

    def prefer_codec(self, callee: Format) -> None:
        """The pair's codec is fixed when it is made."""

    def _tell_dial(self, ev: Any) -> None:
        outer = self.other if not self.outer else self
        if outer is not None and outer.dial_events is not None:
            outer.dial_events(outer, ev)

    # --- what `;2` does, `;1` reports ------------------------------------------------
    async def ringing(self) -> None:
        self.check_hangup()
        if not self.outer and self.state is ChannelState.RING:
            self.state = ChannelState.RINGING
            if self.other is not None and self.other.state is ChannelState.RING:
                self.other.state = ChannelState.RINGING
                self._tell_dial(Progress(LocalResponse(180)))  # type: ignore[arg-type]

    async def progress(self) -> None:
        self.check_hangup()
        if not self.outer and not self.early and self.state is not ChannelState.UP:
            self.early = True
            if self.other is not None:
                self.other.early = True
                self._tell_dial(Progress(LocalResponse(183)))  # type: ignore[arg-type]

    async def answer(self) -> None:
        self.check_hangup()
        if self.outer or self.state is ChannelState.UP:
            return
        await Channel.answer(self)
        other = self.other
        if other is not None and other.state is not ChannelState.HUNGUP:
            other.state = ChannelState.UP
            other.answered_at = time.time()
            self._tell_dial(Accepted(LocalResponse(200)))  # type: ignore[arg-type]

    # --- hanging up: one half takes the other with it ---------------------------------
    async def hangup(self, cause: int = q850.NORMAL_CLEARING) -> None:
        self._gone(cause)

    def cancel(self, reason: str | None = None) -> None:
        """Dial gave `;1` up (another leg answered, a timeout, the caller left)."""
        from pbx.dial import COMPLETED_ELSEWHERE

        self._gone(ANSWERED_ELSEWHERE if reason == COMPLETED_ELSEWHERE
                   else q850.NORMAL_CLEARING)

    def _gone(self, cause: int) -> None:
        answered = self.state is ChannelState.UP
        if not self._end_leg(cause):
            return
        self.hungup.set()
        self._notify_gone()
        other = self.other
        if other is None or other.state is ChannelState.HUNGUP:
            return
        cause = self.hangup_cause
        if not self.outer and not answered:
            status = failure_status(self)
            log.info("%s: ended before answering: %s to %s", self.name, status, other.name)
            self._tell_dial(Failed(status, None))
            cause = q850.cause_from_sip(status)  # `;1`'s cause says the same as its status
        other._gone(cause)

    async def dial(self, targets: list[DialTarget], timeout: float | None,
                   options: str) -> DialResult:
        return await self.services.dialer.dial(self, targets, timeout, options)

    # --- in a bridge: a half has no phone of its own that could hold ------------------
    holding = False

    def match_direction(self, direction: str) -> None:
        """A new party joined (a transfer): nothing to offer, the pair has no SDP."""

    def abandon_refer(self) -> None:
        """Shutting down: a half takes no REFER, so none is pending."""

    # DTMF through a bridge: RFC 4733 packets go through the pair as they are.
    _detector = None  # no in-band detection on a Local half

    def digit_sender(self, source: Any) -> Callable[[str], None] | None:
        """How a bridge sends `source`'s digits to this half: relay its packets."""
        return None

    def send_digit(self, digit: str) -> None:
        """A digit for the other side of the pair, as if it had come in there."""
        self.media.send_dtmf(digit)


def failure_status(inner: LocalChannel) -> int:
    """The status `;1` fails with when `;2` ends unanswered: its Dial's outcome
    (DIALSTATUS), or what its hangup cause says (Busy(), Hangup(17)...)."""
    if inner.hangup_cause == q850.USER_BUSY:
        return 486
    status = inner.variables.get("DIALSTATUS", "").upper()
    if status in _STATUS_FOR:
        return _STATUS_FOR[status]
    if inner.hangup_cause in (q850.NORMAL_CLEARING, 0):
        return 480  # the dialplan ended without an answer: NOANSWER
    return q850.sip_from_cause(inner.hangup_cause)[0]


def make_pair(caller: Channel, dest: LocalDestination, services: LocalServices,
              loop: asyncio.AbstractEventLoop, clock: Any) -> tuple[LocalChannel, LocalChannel]:
    """`;1` (for the Dial) and `;2` (to run the dialplan) of a new Local channel,
    in the caller's codec (G.711 mu-law when the caller's cannot be played)."""
    codec = getattr(getattr(caller, "media", None), "codec", PCMU)
    if not codec.transcodable:
        codec = PCMU
    name = next(n for n, f in leg_codecs.FORMATS.items()
                if f.name.upper() == codec.name.upper())
    base = new_channel_name("Local", dest.name)
    one_media, two_media = pair(loop, clock, codec, base)
    outer = LocalChannel(f"{base};1", media=one_media, services=services, outer=True,
                         sdp=LocalSdp(name))
    inner = LocalChannel(f"{base};2", media=two_media, services=services, outer=False,
                         sdp=LocalSdp(name))
    outer.other, inner.other = inner, outer
    bad = set(dest.options) - set(OPTIONS)
    if bad:
        log.warning("Local/%s/%s: unknown option(s) %s ignored", dest.name, dest.options,
                    "".join(sorted(bad)))
    for half in (outer, inner):
        half.max_forwards = getattr(caller, "max_forwards", 20) - 1
        half.callerid = type(caller.callerid)(caller.callerid.num, caller.callerid.name)
        half.language = caller.language
        half.musicclass = caller.musicclass
    outer.context, outer.exten = caller.context, dest.name
    outer.dialed = dest.name
    inner.context, inner.exten, inner.priority = dest.context, dest.exten, 1
    inner.state = ChannelState.RING
    return outer, inner
