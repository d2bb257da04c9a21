"""What a waiting caller hears between announcements.

HOOK (music on hold): Asterisk plays the queue's `musicclass` (Queue's m(class)
option first, CHANNEL(musicclass) before both). Until the music-on-hold service
(musiconhold.conf, the `moh` work: `Channel.start_moh(klass)` / `stop_moh()`) is
on main, :class:`PromptLoopMusic` stands in: it loops one prompt (by default
`silence/1`, so a caller hears quiet with RTP flowing, as for a class with no
files) through the channel's own player. Once that service is on main, pbx/server.py
(`_start_queues`) takes :class:`ChannelMusic` instead: the channel's own music on
hold, with CHANNEL(musicclass) and musiconhold.conf's classes.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol

from pbx.channel import Channel, Hangup


class WaitingMusic(Protocol):
    """Music while waiting: start() returns once it plays; stop() ends it at once."""

    async def start(self, channel: Channel, klass: str) -> None: ...

    async def stop(self, channel: Channel) -> None: ...


class PromptLoopMusic:
    """HOOK (music on hold): loops a prompt for every waiting caller (see the module
    docstring). `prompts` maps a class name to the prompt it loops (others: `default`)."""

    def __init__(self, prompts: dict[str, str] | None = None,
                 default: str = "silence/1") -> None:
        self.prompts = dict(prompts or {})
        self.default = default
        self._loops: dict[int, asyncio.Task] = {}  # id(channel) -> its loop

    async def start(self, channel: Channel, klass: str) -> None:
        await self.stop(channel)
        prompt = self.prompts.get(klass, self.default)
        self._loops[id(channel)] = asyncio.ensure_future(self._loop(channel, prompt))

    async def _loop(self, channel: Channel, prompt: str) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(Hangup):
            while True:
                started = loop.time()
                # PLAYBACKSTATUS is the dialplan's: read what this play sets, then put
                # back what was there.
                before = channel.variables.pop("PLAYBACKSTATUS", None)
                await channel.play([prompt])
                failed = channel.variables.get("PLAYBACKSTATUS") == "FAILED"
                if before is None:
                    channel.variables.pop("PLAYBACKSTATUS", None)
                else:
                    channel.variables["PLAYBACKSTATUS"] = before
                if failed:
                    return  # the prompt is missing: nothing to loop (logged once)
                if loop.time() - started < 0.05:
                    await asyncio.sleep(1.0)  # a channel without media plays at once

    async def stop(self, channel: Channel) -> None:
        task = self._loops.pop(id(channel), None)
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Hangup):
            await task
        # Cancelling the loop does not stop what its player sends: an empty play does.
        if not channel.hungup.is_set():
            with contextlib.suppress(Hangup):
                await channel.play([])


class ChannelMusic:
    """HOOK (music on hold): the MOH service's music, through the channel methods the
    `moh` work adds (`start_moh(klass)`, `stop_moh()`); not used until they exist."""

    async def start(self, channel: Channel, klass: str) -> None:
        await channel.start_moh(klass or None)  # type: ignore[attr-defined]

    async def stop(self, channel: Channel) -> None:
        channel.stop_moh()  # type: ignore[attr-defined]
