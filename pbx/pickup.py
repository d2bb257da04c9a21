"""Call pickup (Asterisk's pickup.c and app_directed_pickup.c).

A leg can be picked up while Dial() rings it (an outbound leg, not answered,
not already being picked up). Who may take which:

- by group: the picker's pickup groups meet the ringing phone's call groups
  (`callgroup=1,3-5`/`pickupgroup=` in sip.conf, `call_group`/`pickup_group`
  in pjsip.conf, numbers 0..63), or their named groups (`namedcallgroup`,
  `named_call_group`...); the longest-ringing leg first. `pickupexten` (*8)
  and `Pickup()` without arguments do this.
- by extension: `Pickup(6001@internal)`: a ringing leg dialed from that
  extension and context (Dial gives its legs the caller's);
  `Pickup(10@PICKUPMARK)`: a leg whose PICKUPMARK variable is 10.
- by channel: `PickupChan(SIP/6001)`: a ringing leg of that device (names
  `SIP/6001-...`; `PJSIP/` is the same device), or a channel name or
  uniqueid; option `p`: the names are prefixes.

The picker is answered and takes the ringing leg's place in its Dial: the
caller is bridged to the picker and the phone that rang gets a CANCEL with
`Reason: SIP;cause=200;text="Call completed elsewhere"` (pbx.dial).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from pbx import q850
from pbx.channel import ChannelState, Hangup
from pbx.dial import PickedUp

if TYPE_CHECKING:
    from pbx.sipchannel import SipChannel

log = logging.getLogger("pbx.pickup")

MAX_GROUP = 63  # Asterisk's ast_group_t: 64 bits
_RANGE_RE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+))?\s*$")
PICKUP_WAIT = 10.0  # how long the picker waits for the Dial to take it


def parse_groups(spec: str | None) -> frozenset[int]:
    """`1,3-5` -> {1, 3, 4, 5} (ast_get_group: numbers 0..63; the rest ignored)."""
    out: set[int] = set()
    for part in (spec or "").split(","):
        m = _RANGE_RE.match(part)
        if m is None:
            continue
        low = int(m.group(1))
        high = int(m.group(2)) if m.group(2) else low
        if low > high:
            low, high = high, low
        out.update(range(low, min(high, MAX_GROUP) + 1))
    return frozenset(out)


def parse_named_groups(spec: str | None) -> frozenset[str]:
    return frozenset(p.strip() for p in (spec or "").split(",") if p.strip())


def _device_prefix(name: str) -> str:
    """`PJSIP/6001` and `sip/6001` name the legs `SIP/6001-...`."""
    tech, slash, rest = name.partition("/")
    if slash and tech.upper() in ("SIP", "PJSIP"):
        return f"SIP/{rest}"
    return name


class Pickups:
    """Finds pickable legs among the PBX's channels and hands them to the picker."""

    def __init__(self, channels: Callable[[], Iterable[SipChannel]]) -> None:
        self.channels = channels
        self._claimed: set[int] = set()  # id() of legs being picked up right now

    def can_pickup(self, leg: Any) -> bool:
        """ast_can_pickup: ringing in a Dial, not answered, not already taken."""
        return (not getattr(leg, "inbound", True) and leg.dial_events is not None
                and leg.state in (ChannelState.RING, ChannelState.RINGING)
                and id(leg) not in self._claimed)

    def _candidates(self, picker: Any) -> list[Any]:
        legs = [c for c in self.channels() if c is not picker and self.can_pickup(c)]
        legs.sort(key=lambda c: c.created_at)  # the longest-ringing first
        return legs

    # --- finding -----------------------------------------------------------------
    def by_group(self, picker: Any) -> Any | None:
        peer = getattr(picker, "peer", None)
        if peer is None:
            return None
        groups = parse_groups(peer.pickup_group)
        named = parse_named_groups(peer.named_pickup_group)
        if not groups and not named:
            return None
        for leg in self._candidates(picker):
            target = leg.peer
            if target is None:
                continue
            if groups & parse_groups(target.call_group) or \
                    named & parse_named_groups(target.named_call_group):
                return leg
        return None

    def by_exten(self, picker: Any, exten: str, context: str) -> Any | None:
        for leg in self._candidates(picker):
            if leg.exten == exten and leg.context == context:
                return leg
        return None

    def by_mark(self, picker: Any, mark: str) -> Any | None:
        for leg in self._candidates(picker):
            if leg.variables.get("PICKUPMARK", "").lower() == mark.lower():
                return leg
        return None

    def by_channel(self, picker: Any, name: str, *, partial: bool = False) -> Any | None:
        """PickupChan: a device (`SIP/6001`), a full channel name, a prefix (partial),
        or a uniqueid."""
        wanted = _device_prefix(name.strip())
        if not partial and "-" not in wanted:
            wanted += "-"  # SIP/6001 finds SIP/6001-00000002, not SIP/60011-...
        candidates = self._candidates(picker)
        for leg in candidates:
            if _device_prefix(leg.name).lower().startswith(wanted.lower()):
                return leg
        for leg in candidates:
            if leg.uniqueid == name.strip():
                return leg
        return None

    # --- taking it -------------------------------------------------------------------
    async def pickup(self, picker: Any, target: Any, *, sound: str = "") -> bool:
        """ast_do_pickup: answer the picker and put it in the target's place. True
        once the Dial took the picker (it is then bridged to the caller).
        `sound` (features.conf pickupsound) is played to the picker first."""
        self._claimed.add(id(target))
        try:
            if not self.can_pickup_claimed(target):
                return False
            log.info("%s pickup by %s", target.name, picker.name)
            await picker.answer()
            if sound:
                await picker.play([sound])
            accepted: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
            events = target.dial_events
            if events is None:
                return False
            events(target, PickedUp(picker, accepted))
            try:
                return await asyncio.wait_for(asyncio.shield(accepted), PICKUP_WAIT)
            except TimeoutError:
                accepted.cancel()  # the Dial ignores it from now on
                return False
        finally:
            self._claimed.discard(id(target))

    @staticmethod
    def can_pickup_claimed(leg: Any) -> bool:
        return leg.dial_events is not None and leg.state in (ChannelState.RING,
                                                             ChannelState.RINGING)


    async def pickup_call(self, picker: Any, *, sound: str = "", fail_sound: str = "") -> int:
        """`pickupexten` (features.conf, *8): a group pickup before any dialplan, as
        chan_sip/chan_pjsip do it. Returns the Q.850 cause to end the picker's leg
        with: after the bridged call, NORMAL_CLEARING; nothing to pick up,
        CALL_REJECTED (after `pickupfailsound`, if set)."""
        target = self.by_group(picker)
        try:
            if target is not None and await self.pickup(picker, target, sound=sound):
                await picker.hungup.wait()  # the caller's Dial bridged us: until it ends
                return q850.NORMAL_CLEARING
            log.info("%s: nothing to pick up in its pickup groups", picker.name)
            if fail_sound:
                await picker.answer()
                await picker.play([fail_sound])
        except Hangup:
            return q850.NORMAL_CLEARING
        return q850.CALL_REJECTED
