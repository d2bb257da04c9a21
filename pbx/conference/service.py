"""The conferences of one PBX: what ConfBridge(), ConfKick(), CONFBRIDGE_INFO(),
Page() and `pbx confbridge` reach (through DialplanServices.conferences and
the management endpoint).

Rooms live from their first caller to their last; the profiles a room runs
with are the bridge profile of the caller who opened it (Asterisk: "mixing
bridge profiles on a single conference is not recommended"). The
confbridge.conf in use is read at each join, so `pbx reload` applies to the
next caller.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pbx.conference.conference import Conference
from pbx.conference.config import (
    DEFAULT_BRIDGE,
    DEFAULT_MENU,
    DEFAULT_USER,
    DTMF_SEQUENCE,
    BridgeProfile,
    ConfBridgeConfig,
    Menu,
    UserProfile,
    apply_option,
    parse_actions,
)
from pbx.conference.mixer import MixEngine
from pbx.conference.moh import HoldFactory, silence_hold
from pbx.conference.participant import Participant

if TYPE_CHECKING:
    from pbx.channel import Channel
    from pbx.media.prompts import PromptLibrary

log = logging.getLogger("pbx.conference")

DATASTORE = "confbridge"  # Channel.datastores key of CONFBRIDGE() dynamic profiles


@dataclass
class DynamicProfiles:
    """What Set(CONFBRIDGE(type,option)=value) built on a channel (Asterisk's datastore)."""

    user: UserProfile | None = None
    bridge: BridgeProfile | None = None
    menu: Menu | None = None
    options: dict[str, list[tuple[str, str]]] = field(default_factory=dict)


class ConfBridgeError(Exception):
    """A profile or menu that does not exist: the caller gets CONFBRIDGE_RESULT=FAILED."""


class ConferenceService:
    """Named rooms; one per PBX (no process globals)."""

    def __init__(self, *, config: Callable[[], ConfBridgeConfig],
                 prompts: Callable[[], PromptLibrary], storage_dir: Path,
                 moh: HoldFactory = silence_hold) -> None:
        self.config = config
        self.prompts = prompts
        self.storage_dir = storage_dir
        self.moh = moh  # music on hold for a member alone (pbx/conference/moh.py)
        self.rooms: dict[str, Conference] = {}
        self._engines: dict[Any, MixEngine] = {}  # media clock -> the engine of its rooms
        self.pager: Any = None  # pbx.conference.paging.Pager, when calls are running

    # --- profiles -------------------------------------------------------------------
    def profiles(self, channel: Channel, bridge: str, user: str,
                 menu: str) -> tuple[BridgeProfile, UserProfile, Menu]:
        """The profiles a ConfBridge() call names; a blank name takes the channel's
        CONFBRIDGE() profile if any, else default_*. ConfBridgeError if one is missing."""
        cfg = self.config()
        dyn: DynamicProfiles | None = channel.datastores.get(DATASTORE)
        b = (cfg.bridge(bridge) if bridge else
             (dyn.bridge if dyn is not None and dyn.bridge is not None else cfg.bridge()))
        u = (cfg.user(user) if user else
             (dyn.user if dyn is not None and dyn.user is not None else cfg.user()))
        m = (cfg.menu(menu) if menu else
             (dyn.menu if dyn is not None and dyn.menu is not None else cfg.menu()))
        if b is None:
            raise ConfBridgeError(f"Conference bridge profile {bridge or DEFAULT_BRIDGE} "
                                  "does not exist")
        if u is None:
            raise ConfBridgeError(f"Conference user profile {user or DEFAULT_USER} does "
                                  "not exist")
        if m is None:
            raise ConfBridgeError(f"Conference menu profile {menu or DEFAULT_MENU} does "
                                  "not exist")
        return b, u, m

    def set_dynamic(self, channel: Channel, kind: str, option: str, value: str) -> str | None:
        """Set(CONFBRIDGE(kind,option)=value); the error text, or None."""
        cfg = self.config()
        dyn = channel.datastores.setdefault(DATASTORE, DynamicProfiles())
        kind = kind.strip().lower()
        option = option.strip().lower()
        if kind not in ("user", "bridge", "menu"):
            return f"CONFBRIDGE: type must be user, bridge or menu, not '{kind}'"
        if option == "clear":
            setattr(dyn, kind, None)
            return None
        if option == "template":
            base = {"user": cfg.user, "bridge": cfg.bridge, "menu": cfg.menu}[kind](
                value.strip())
            if base is None:
                return f"CONFBRIDGE: no {kind} profile '{value}'"
            if isinstance(base, Menu):  # menus are shared, not copied, by the config
                base = Menu(name=base.name, entries=dict(base.entries))
            setattr(dyn, kind, base)
            return None
        if kind == "menu":
            key = option.upper()
            if not DTMF_SEQUENCE.match(key):
                return f"CONFBRIDGE: '{option}' is not a DTMF sequence"
            actions, error = parse_actions(value)
            if error is not None:
                return f"CONFBRIDGE: {error}"
            if dyn.menu is None:
                base = cfg.menu()
                dyn.menu = Menu(name="dynamic", entries=dict(base.entries) if base else {})
            dyn.menu.entries[key] = tuple(actions)
            return None
        profile = getattr(dyn, kind)
        if profile is None:
            profile = cfg.user() if kind == "user" else cfg.bridge()
            setattr(dyn, kind, profile)
        error = apply_option(profile, option, value)
        return f"CONFBRIDGE: {error}" if error else None

    # --- joining ----------------------------------------------------------------------
    def room(self, name: str, bridge: BridgeProfile) -> Conference:
        """The room called `name`, opened with `bridge` if it does not exist."""
        conf = self.rooms.get(name)
        if conf is None or conf.ended:
            conf = Conference(name, bridge, prompts=self.prompts,
                              monitor_dir=self.storage_dir / "monitor", on_end=self._ended,
                              engine_for=self.engine)
            self.rooms[name] = conf
            log.info("confbridge %s: created (bridge profile %s)", name, bridge.name)
        return conf

    def engine(self, clock: Any) -> MixEngine:
        """The one MixEngine of a media clock (all rooms send, then all mix)."""
        engine = self._engines.get(clock)
        if engine is None:
            engine = self._engines[clock] = MixEngine(clock)
        return engine

    def _ended(self, conf: Conference) -> None:
        if self.rooms.get(conf.name) is conf:
            del self.rooms[conf.name]
        log.info("confbridge %s: ended", conf.name)

    async def join(self, channel: Channel, room: str, bridge: BridgeProfile,
                   user: UserProfile, menu: Menu) -> str:
        """ConfBridge() for one caller; returns CONFBRIDGE_RESULT."""
        part = Participant(channel, user=user, bridge=bridge, menu=menu, moh=self.moh,
                           names_dir=self.storage_dir / "confbridge")
        return await part.run(self.room, room)

    # --- queries and commands (CONFBRIDGE_INFO, pbx confbridge, ConfKick) -------------
    def info(self, kind: str, name: str) -> str | None:
        """CONFBRIDGE_INFO(): a count as text; '0' for a room that does not exist
        (what Asterisk returns); None for an unknown kind."""
        conf = self.rooms.get(name)
        kind = kind.strip().lower()
        if kind not in ("parties", "admins", "marked", "locked", "muted"):
            return None
        if conf is None:
            return "0"
        room = conf.room
        if kind == "parties":
            return str(len(room.active) + len(room.waiting))
        if kind == "admins":
            return str(sum(1 for m in room.active if m.profile.admin))
        if kind == "marked":
            return str(sum(1 for m in room.active if m.profile.marked))
        if kind == "locked":
            return "1" if room.locked else "0"
        return "1" if room.muted else "0"

    def list_rooms(self) -> list[dict]:
        return [{"name": c.name, "users": len(c.room.active) + len(c.room.waiting),
                 "marked": c.room.marked, "locked": c.room.locked, "muted": c.room.muted,
                 "state": c.room.state, "rate": c.mixer.rate if c.mixer else 0,
                 "recording": str(c.recording.path) if c.recording else ""}
                for c in self.rooms.values()]

    def list_members(self, name: str) -> list[dict] | None:
        conf = self.rooms.get(name)
        if conf is None:
            return None
        return [{"channel": m.channel, "flags": m.flags, "user_profile": m.profile.name,
                 "bridge_profile": m.bridge_profile, "menu": m.menu,
                 "callerid": m.callerid or "<unknown>", "muted": m.muted,
                 "waiting": m.waiting}
                for m in conf.room.members]

    def kick(self, name: str, who: str) -> bool | None:
        """None: no such room; False: nobody matched; True: done."""
        conf = self.rooms.get(name)
        if conf is None:
            return None
        actions = conf.room.kick(who)
        conf.apply(actions)
        return bool(actions)

    def mute(self, name: str, who: str, muted: bool) -> bool | None:
        """`all`, `participants` (non-admins) or a channel name (or its start)."""
        conf = self.rooms.get(name)
        if conf is None:
            return None
        room = conf.room
        if who.lower() in ("all", "participants"):
            targets = [m for m in room.members
                       if who.lower() == "all" or not m.profile.admin]
        else:
            one = room.find(who)
            targets = [one] if one is not None else []
        for m in targets:
            room.set_mute(m, muted)
        conf.apply([])
        return bool(targets)

    def lock(self, name: str, locked: bool) -> bool:
        conf = self.rooms.get(name)
        if conf is None:
            return False
        conf.room.locked = locked
        return True
