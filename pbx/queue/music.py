"""What a waiting caller hears between announcements: music on hold.

As app_queue's `ast_moh_start(chan, qe->moh, NULL)`: the class asked for is Queue()'s
`m(class)` option, else the queue's `musicclass`; the channel's own music on hold
(pbx.channel_media) then chooses as res_musiconhold does, so with [general]
preferchannelclass=yes (the default) a CHANNEL(musicclass) set in the dialplan comes
first, and a class musiconhold.conf lacks falls back to `default`. Every waiting
caller of one class listens to the class's one shared stream on the media clock.
"""

from __future__ import annotations

from typing import Protocol

from pbx.channel import Channel


class WaitingMusic(Protocol):
    """Music while waiting: start() returns once it plays; stop() ends it at once."""

    async def start(self, channel: Channel, klass: str) -> None: ...

    async def stop(self, channel: Channel) -> None: ...


class ChannelMusic:
    """The channel's music on hold (`Channel.start_moh` / `stop_moh`)."""

    async def start(self, channel: Channel, klass: str) -> None:
        await channel.start_moh(klass or None)

    async def stop(self, channel: Channel) -> None:
        channel.stop_moh()
