"""Playing, echoing and recording on a call leg: the Channel media methods
shared by SIP legs (pbx.sipchannel) and Local channels (pbx.local_channel).

A class using it has `media` (a MediaSession, or a Local channel's half),
`player` (a Player on it), `features` (pbx.channel_media.ChannelMedia: the
music on hold a prompt pauses), `early`, `bridged_to`, `progress()` and
`prompts()` (the PBX's current PromptLibrary).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from pbx import q850
from pbx.channel import ChannelState, Hangup, RecordResult
from pbx.media.echo import Echo
from pbx.media.recorder import Recorder

if TYPE_CHECKING:
    from pbx.channel_media import ChannelMedia
    from pbx.media.player import Player
    from pbx.media.prompts import PromptLibrary

log = logging.getLogger("pbx.channel")


class LegMedia:
    """play(), echo(), record() and DTMF collection over a leg's media."""

    media: Any
    player: Player
    features: ChannelMedia
    early: bool
    bridged_to: Any
    relay: Any

    def prompts(self) -> PromptLibrary:
        raise NotImplementedError

    def _end_leg(self, cause: int) -> bool:
        """The leg is over, however it ended: its cause and state, its prompts, music
        and relay stopped, its media closed (after keeping its stats). False when
        it already was."""
        if self.state is ChannelState.HUNGUP:
            return False
        self.hangup_cause = cause or q850.NORMAL_CLEARING
        self.state = ChannelState.HUNGUP
        self.variables.setdefault("HANGUPCAUSE", str(self.hangup_cause))
        self.ended_at = time.time()
        self.player.stop()
        self.features.stop_moh()
        if self.relay is not None:
            self.relay.stop()
        self.stats = self.media.stats()
        self.media.close()
        return True

    def on_digit(self, digit: str) -> None:
        """A DTMF digit from RFC 4733 or SIP INFO."""
        if self.bridged_to is None:  # in a bridge the relay passes DTMF on
            self.digits.put_nowait(digit)

    async def play(self, prompts: list[str], interrupt: str = "") -> str:
        self.check_hangup()
        if self.state is not ChannelState.UP and not self.early:
            await self.progress()
        elif self.state is ChannelState.UP:
            self.observe(200)  # a transferee hearing a prompt has reached its target
        library = self.prompts()
        payloads = []
        for name in prompts:
            try:
                payload = library.get(name, self.media.codec)
                problem = None if payload is not None else \
                    f"not found (searched {', '.join(library.searched(name))})"
            except ValueError as exc:  # a corrupt file (WavError names it): not a traceback
                payload, problem = None, f"cannot be played: {exc}"
            if problem is not None:
                log.warning("%s: prompt '%s' %s", self.name, name, problem)
                self.variables["PLAYBACKSTATUS"] = "FAILED"
            payloads.append(payload)
        music = self.features.pause_moh()  # a prompt over the music: the music waits
        try:
            done = self.player.play(payloads, prompts)
            return await self._until(done, interrupt, stop=self.player.stop)
        finally:
            self.features.resume_moh(music)

    async def _until(self, fut: asyncio.Future, interrupt: str, stop: Any) -> str:
        """Wait for `fut`, a hangup, or an interrupting digit (others dropped)."""
        gone = asyncio.ensure_future(self.hungup.wait())
        try:
            while True:
                digit_wait = asyncio.ensure_future(self.digits.get()) if interrupt else None
                waits = {fut, gone} | ({digit_wait} if digit_wait else set())
                done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                if digit_wait is not None and digit_wait in done:
                    digit = digit_wait.result()
                    if digit in interrupt:
                        stop()
                        return digit
                    continue
                if digit_wait is not None:
                    digit_wait.cancel()
                if gone in done:
                    stop()
                    raise Hangup(self.name)
                return ""
        finally:
            gone.cancel()

    async def echo(self) -> None:
        self.check_hangup()
        echo = Echo(self.media, terminators="#")
        done = echo.start()
        gone = asyncio.ensure_future(self.hungup.wait())
        try:
            await asyncio.wait({done, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
            echo.stop()
        if done.done() and done.result() == "dtmf":
            self._consume_digit("#")
        self.check_hangup()

    async def record(self, path: str, *, max_seconds: float = 0, silence_seconds: float = 0,
                     silence_threshold: int = 256, stop_digits: str = "#") -> RecordResult:
        self.check_hangup()
        recorder = Recorder(self.media, path, terminators=stop_digits, max_seconds=max_seconds,
                            silence_seconds=silence_seconds,
                            silence_threshold=silence_threshold)
        result = await recorder.record()
        stopped_by = {"dtmf": f"dtmf:{result.digit}", "maxduration": "maxtime"}.get(
            result.stopped_by, result.stopped_by)
        if result.digit:
            self._consume_digit(result.digit)
        return RecordResult(path=result.path, seconds=result.seconds, stopped_by=stopped_by)

    def _consume_digit(self, digit: str) -> None:
        """A terminator that ended a recording or echo is not also a menu choice."""
        self.digits.discard_first(digit)
