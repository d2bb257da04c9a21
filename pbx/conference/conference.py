"""One conference at run time: the room's state, its mixer, its recording.

The Room (sans-I/O) decides; this object carries its actions out on media:
announcements into the mix, music on hold and removals for the member they
name, and the end of the room. It holds the participants (one per caller,
pbx/conference/participant.py) by member id, and is the only place where a
room's actions are applied, so every caller sees the same order of events.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

from pbx import say
from pbx.conference.config import BridgeProfile
from pbx.conference.mixer import MixEngine, Mixer
from pbx.conference.recording import ConferenceRecording, recording_path
from pbx.conference.room import Announce, Ended, Member, MohStart, MohStop, Remove, Room

if TYPE_CHECKING:
    from pathlib import Path

    from pbx.media.clock import MediaClock
    from pbx.media.prompts import PromptLibrary

log = logging.getLogger("pbx.conference")


class ParticipantPort(Protocol):
    """What a room needs from each caller's side."""

    member: Member

    def removed(self, result: str) -> None: ...
    def moh_start(self) -> None: ...
    def moh_stop(self) -> None: ...
    def sync_mute(self) -> None: ...


class Conference:
    """A named room with members; created by the first caller, gone with the last."""

    def __init__(self, name: str, bridge: BridgeProfile, *,
                 prompts: Callable[[], PromptLibrary], monitor_dir: Path,
                 on_end: Callable[[Conference], None],
                 engine_for: Callable[[MediaClock], MixEngine]) -> None:
        self.name = name
        self.bridge = bridge
        self.room = Room(name, bridge)
        self.prompts = prompts
        self.monitor_dir = monitor_dir
        self.on_end = on_end
        self.engine_for = engine_for
        self.mixer: Mixer | None = None
        self.recording: ConferenceRecording | None = None
        self.parts: dict[int, ParticipantPort] = {}
        self.created = time.time()
        self.ended = False

    # --- media ----------------------------------------------------------------------
    def media(self, clock: MediaClock) -> Mixer:
        """The room's mixer (made on the first member's clock, driven by the engine of
        that clock); recording starts with it."""
        if self.mixer is None:
            b = self.bridge
            self.mixer = Mixer(self.engine_for(clock), fixed_rate=b.internal_sample_rate,
                               max_rate=b.maximum_sample_rate)
            if b.record_conference:
                self.recording = ConferenceRecording(recording_path(
                    self.monitor_dir, self.name, b.record_file, b.record_file_timestamp))
                self.mixer.record = self.recording.write
        return self.mixer

    def announce(self, prompts: Iterable[str]) -> asyncio.Future[None]:
        """Play prompts into the room (everyone in the mix hears them); the future
        resolves when they have played (at once if there is no mixer or nothing found)."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        mixer = self.mixer
        names = [p for p in prompts if p]
        if mixer is None or not names:
            fut.set_result(None)
            return fut
        library = self.prompts()
        pcms = []
        for name in names:
            try:
                pcm = library.pcm(name, self.bridge.language or None, rate=mixer.rate)
            except ValueError as exc:  # a corrupt file (WavError names it)
                log.warning("confbridge %s: prompt '%s' cannot be played: %s", self.name, name, exc)
                continue
            if pcm is None:
                log.warning("confbridge %s: prompt '%s' not found", self.name, name)
                continue
            pcms.append(pcm)
        if not pcms:
            fut.set_result(None)
            return fut

        def done() -> None:
            if not fut.done():
                fut.set_result(None)

        for i, pcm in enumerate(pcms):
            mixer.announce(pcm, mixer.rate, done if i == len(pcms) - 1 else None)
        return fut

    def count_prompts(self, others: int) -> list[str]:
        """"There are currently N other participants" (nothing when alone)."""
        if others <= 0:
            return []
        if others == 1:
            return [self.bridge.sound("only_one")]
        return [self.bridge.sound("there_are"), *say.number(others),
                self.bridge.sound("other_in_party")]

    # --- the room's actions -------------------------------------------------------------
    def add(self, part: ParticipantPort) -> None:
        self.parts[part.member.id] = part

    def discard(self, part: ParticipantPort) -> None:
        self.parts.pop(part.member.id, None)

    def apply(self, actions: Iterable[Any]) -> None:
        """Carry out what the room decided, then everyone's mute."""
        for action in actions:
            kind = type(action)
            if kind is Announce:
                self.announce(action.prompts)
            elif kind is MohStart or kind is MohStop or kind is Remove:
                part = self.parts.get(action.member.id)
                if part is None:
                    continue
                if kind is MohStart:
                    part.moh_start()
                elif kind is MohStop:
                    part.moh_stop()
                else:
                    part.removed(action.result)
            elif kind is Ended:
                self.end()
        for part in list(self.parts.values()):
            part.sync_mute()

    def end(self) -> None:
        """The last member left: stop the media, keep the recording, forget the room."""
        if self.ended:
            return
        self.ended = True
        if self.mixer is not None:
            self.mixer.close()
        if self.recording is not None:
            path = self.recording.close()
            if path is not None:
                log.info("confbridge %s: recorded to %s", self.name, path)
        self.on_end(self)
