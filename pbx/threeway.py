"""An attended transfer's three-way call (features.conf ``atxferthreeway``).

The transferer, the transferee and the target all talk, mixed by the
conference mixer (:class:`~pbx.conference.mixer.Mixer`: each hears the other
two, never itself; 8 kHz, 16 kHz while a G.722 party is in). As in
Asterisk's multi-party bridge, a
party that hangs up leaves and the others go on: when two remain they continue
in an ordinary :class:`~pbx.bridge.Bridge` (relayed, no mixing), keeping
whoever waits for them; one left alone is told its peer hung up (or is hung up
when nobody waits for it).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from pbx.bridge import HANGUP, PEER_HANGUP, Bridge, BridgeHost, Exit
from pbx.channel import ChannelState
from pbx.conference.mixer import Mixer, MixMember, can_mix

if TYPE_CHECKING:
    from pbx.sipchannel import SipChannel

log = logging.getLogger("pbx.threeway")


class ThreeWay:
    """Parties mixed together; ``waiters`` maps a party to the future its dialplan
    waits on (from the bridges it left), or None."""

    def __init__(self, host: BridgeHost, parties: list[SipChannel],
                 waiters: dict[SipChannel, Any]) -> None:
        self.host = host
        self.parties = list(parties)
        self.waiters = dict(waiters)
        self.mixer = Mixer(parties[0].media.clock)
        self.members: dict[SipChannel, MixMember] = {}
        self.bridge: Bridge | None = None  # when two are left

    @staticmethod
    def can_mix(parties: list[SipChannel]) -> bool:
        """Whether every party's codec can be mixed (Opus is only passed through)."""
        return all(can_mix(p.media.codec) for p in parties)

    def start(self) -> None:
        log.info("three-way call: %s", ", ".join(p.name for p in self.parties))
        for leg in self.parties:
            leg.bridge = None
            leg.relay = None
            leg.bridged_to = None
            leg.player.stop()
            leg.on_gone(self._gone)
            self.members[leg] = self.mixer.add(leg.media)
            leg.bridge_changed(True)  # MixMonitor's `b`: a conference is a bridge too

    def _leave(self, leg: SipChannel) -> None:
        member = self.members.pop(leg, None)
        if member is not None:
            self.mixer.remove(member)
        if leg.state is not ChannelState.HUNGUP:
            leg.bridge_changed(False)

    def _gone(self, leg: SipChannel) -> None:
        if leg not in self.parties:
            return
        self.parties.remove(leg)
        self._leave(leg)
        self._tell(leg, Exit(HANGUP))
        if len(self.parties) == 2:
            a, b = self.parties
            for p in (a, b):
                p.remove_gone(self._gone)
                self._leave(p)
            self.mixer.close()
            self.parties = []
            log.info("three-way call: %s and %s go on", a.name, b.name)
            bridge = self.bridge = Bridge(a, b, host=self.host)
            for p in (a, b):
                bridge.adopt(p, self.waiters.pop(p, None))
            bridge.start()
        elif len(self.parties) == 1:
            last = self.parties.pop()
            last.remove_gone(self._gone)
            self._leave(last)
            self.mixer.close()
            self._tell(last, Exit(PEER_HANGUP))

    def _tell(self, leg: SipChannel, exit_: Exit) -> None:
        fut = self.waiters.pop(leg, None)
        if fut is not None and not fut.done():
            fut.set_result(exit_)
        elif exit_.kind != HANGUP and leg.state is not ChannelState.HUNGUP:
            self.host.spawn(leg.hangup())
