"""How many calls may be up at once: per peer (sip.conf call-limit) and in all
(pbx.yaml sip.max_calls, Asterisk's maxcalls).

As chan_sip, a peer's call-limit counts its legs both ways (calls it makes and
calls to it); a call over it is refused: 480 to a caller, BUSY (cause 17) for
Dial. The PBX-wide limit counts calls coming in (each runs the dialplan, as
Asterisk's maxcalls counts them); a call over it gets 503.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pbx.config import Peer


class CallLimitReached(Exception):
    """A peer has its call-limit of calls: Dial counts it as busy (cause 17)."""


class CallLimits:
    """Counters of the running PBX; every acquire is paired with a release."""

    def __init__(self, max_calls: int = 0) -> None:
        self.max_calls = max_calls  # 0: no limit
        self.calls = 0
        self.by_peer: Counter[str] = Counter()

    def take_call(self) -> bool:
        """One more call in; False (nothing counted) when max_calls are up."""
        if self.max_calls and self.calls >= self.max_calls:
            return False
        self.calls += 1
        return True

    def end_call(self) -> None:
        self.calls = max(0, self.calls - 1)

    def take_peer(self, peer: Peer | None) -> bool:
        """One more leg of ``peer``; False (nothing counted) over its call-limit."""
        if peer is None:
            return True
        limit = peer.call_limit
        if limit and self.by_peer[peer.name] >= limit:
            return False
        self.by_peer[peer.name] += 1
        return True

    def end_peer(self, peer: Peer | None) -> None:
        if peer is None:
            return
        left = self.by_peer[peer.name] - 1
        if left > 0:
            self.by_peer[peer.name] = left
        else:
            del self.by_peer[peer.name]
