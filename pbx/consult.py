"""The consultation call of an attended transfer, run through the dialplan.

Asterisk's attended transfer (``atxfer``) dials ``Local/EXTEN@CONTEXT``: the
target extension runs in the dialplan with the transferer as its audio. A
:class:`ConsultChannel` is that: its dialplan position, variables
(TRANSFERERNAME and ATTENDEDTRANSFER name the transferer) and state are its
own; what it plays or hears is the transferer's leg; its Dial() rings the
target with the transferer's media and tells the attended transfer when the
target answered (pbx.feature_calls). Hanging it up ends the consultation, not
the transferer's call. (When a Local channel technology exists, this becomes
a Local channel.)
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

from pbx.channel import CallerId, Channel, ChannelState, DialResult, DialTarget, RecordResult

if TYPE_CHECKING:
    from pbx.sipchannel import SipChannel

_counter = itertools.count(1)


class ConsultChannel(Channel):
    """The Local-like channel an attended transfer's target runs on."""

    def __init__(self, transferer: SipChannel, consult: Any, context: str, exten: str) -> None:
        super().__init__(name=f"Local/{exten}@{context}-{next(_counter):08x};2",
                         context=context, exten=exten)
        self.leg = transferer
        self.consult = consult
        self.callerid = CallerId(transferer.callerid.num, transferer.callerid.name)
        self.language = transferer.language
        self.linkedid = transferer.linkedid
        # bridge_basic.c dial_transfer(): who is transferring.
        self.variables["TRANSFERERNAME"] = transferer.name
        self.variables["ATTENDEDTRANSFER"] = transferer.name
        self.cdr.disabled = True  # the transferer's and transferee's records tell the story

    def end(self) -> None:
        """The consultation is over (aborted): its dialplan stops at the next step."""
        if not self.hungup.is_set():
            self.state = ChannelState.HUNGUP
            self.hangup_cause = self.hangup_cause or 16
            self.hungup.set()

    # --- media: the transferer's -------------------------------------------------------
    async def play(self, prompts: list[str], interrupt: str = "") -> str:
        self.check_hangup()
        return await self.leg.play(prompts, interrupt)

    async def wait_digit(self, timeout: float) -> str | None:
        self.check_hangup()
        return await self.leg.wait_digit(timeout)

    async def echo(self) -> None:
        self.check_hangup()
        await self.leg.echo()

    async def record(self, path: str, *, max_seconds: float = 0, silence_seconds: float = 0,
                     silence_threshold: int = 256, stop_digits: str = "#") -> RecordResult:
        self.check_hangup()
        return await self.leg.record(path, max_seconds=max_seconds,
                                     silence_seconds=silence_seconds,
                                     silence_threshold=silence_threshold,
                                     stop_digits=stop_digits)

    async def dial(self, targets: list[DialTarget], timeout: float | None,
                   options: str) -> DialResult:
        """Ring the target with the transferer's media; the attended transfer takes
        over once it answers (and this Dial returns when the consultation ends)."""
        self.check_hangup()
        return await self.leg.services.dialer.dial(self.leg, targets, timeout, options,
                                                   consult=self.consult)
