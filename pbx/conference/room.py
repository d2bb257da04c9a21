"""One conference room's membership and state, without any media (sans-I/O).

A transcription of Asterisk's conference state machine (apps/confbridge/
conf_state_*.c): EMPTY, INACTIVE (only callers waiting for a marked user),
SINGLE, SINGLE_MARKED, MULTI, MULTI_MARKED. Joins and leaves are dispatched
by the caller's kind (marked, wait_marked, other), as `handle_conf_user_join`
does, and every event returns what the media side must do: prompts for the
joiner before it enters (`PlayTo`, `Announce(blocking=True)`), announcements
into the room (`Announce`), music on hold on or off (`MohStart`/`MohStop`),
callers to take out (`Remove`, e.g. end_marked users when the last marked
one leaves) and the end of the room (`Ended`). Whether a member may talk is
recomputed after every event (`Member.talk_muted`), as
conf_update_user_mute() decides it: its own mute, music on hold, or waiting
for a marked user.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from pbx.conference.config import BridgeProfile, UserProfile

EMPTY = "EMPTY"
INACTIVE = "INACTIVE"
SINGLE = "SINGLE"
SINGLE_MARKED = "SINGLE_MARKED"
MULTI = "MULTI"
MULTI_MARKED = "MULTI_MARKED"

_ids = itertools.count(1)


@dataclass(eq=False)
class Member:
    """One caller in a room (identity, not value: two members never compare equal)."""

    channel: str  # the channel name (`pbx confbridge kick ROOM SIP/6001-00000004`)
    profile: UserProfile
    callerid: str = ""
    menu: str = ""
    bridge_profile: str = ""
    muted: bool = False  # the caller's own mute (menu, startmuted, `pbx confbridge mute`)
    talk_muted: bool = False  # effective: muted, on hold music, or waiting for a leader
    playing_moh: bool = False
    waiting: bool = False  # in the waiting list (wait_marked, no marked user)
    kicked: bool = False
    result: str = ""  # CONFBRIDGE_RESULT when the room took it out
    id: int = field(default_factory=lambda: next(_ids))

    @property
    def flags(self) -> str:
        """The flags column of Asterisk's `confbridge list ROOM`."""
        p = self.profile
        return "".join(f for f, on in (("A", p.admin), ("M", p.marked), ("W", p.wait_marked),
                                       ("E", p.end_marked), ("m", self.muted),
                                       ("w", self.waiting)) if on)


@dataclass(frozen=True, slots=True)
class PlayTo:
    """Play prompts to the joining member before it enters the mix."""

    member: Member
    prompts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Announce:
    """Play prompts into the room; `blocking`: the joiner waits until they end."""

    prompts: tuple[str, ...]
    blocking: bool = False


@dataclass(frozen=True, slots=True)
class MohStart:
    member: Member


@dataclass(frozen=True, slots=True)
class MohStop:
    member: Member


@dataclass(frozen=True, slots=True)
class Remove:
    """Take a member out of the mix (kicked, end_marked); its own leave follows."""

    member: Member
    result: str


@dataclass(frozen=True, slots=True)
class Ended:
    """The last member left: the room is gone (stop the recording)."""


Action = PlayTo | Announce | MohStart | MohStop | Remove | Ended


class Room:
    """Members and state of one conference."""

    def __init__(self, name: str, bridge: BridgeProfile) -> None:
        self.name = name
        self.bridge = bridge
        self.active: list[Member] = []
        self.waiting: list[Member] = []
        self.marked = 0
        self.locked = False
        self.muted = False  # admin_toggle_mute_participants: new non-admins start muted
        self.state = EMPTY
        self._out: list[Action] = []
        self._post: list[Action] = []

    # --- queries ------------------------------------------------------------------
    @property
    def members(self) -> list[Member]:
        return [*self.active, *self.waiting]

    def find(self, channel: str) -> Member | None:
        """The member whose channel name is `channel` (or starts with it)."""
        for m in self.members:
            if m.channel == channel:
                return m
        low = channel.lower()
        return next((m for m in self.members if m.channel.lower().startswith(low)), None)

    def admits(self, member: Member) -> bool:
        """Locked, or full (max_members counts active callers): only admins get in."""
        if member.profile.admin:
            return True
        full = 0 < self.bridge.max_members <= len(self.active)
        return not (self.locked or full)

    # --- events -------------------------------------------------------------------
    def join(self, member: Member) -> tuple[list[Action], list[Action]]:
        """A caller enters: (actions now, the joiner's post-join actions)."""
        p = member.profile
        if p.startmuted or (self.muted and not p.admin):
            member.muted = True
        if p.marked:
            self._dispatch("join_marked", member)
        elif p.wait_marked:
            self._dispatch("join_waitmarked", member)
        else:
            self._dispatch("join_unmarked", member)
        return self._flush()

    def leave(self, member: Member) -> list[Action]:
        """A caller left (hung up, menu, kicked): the state moves on."""
        if member not in self.active and member not in self.waiting:
            return []
        p = member.profile
        if p.marked:
            self._dispatch("leave_marked", member)
        elif p.wait_marked:
            self._dispatch("leave_waitmarked", member)
        else:
            self._dispatch("leave_unmarked", member)
        return self._flush()[0]

    def set_mute(self, member: Member, muted: bool) -> None:
        member.muted = muted
        self._update_mutes()

    def toggle_mute_participants(self) -> bool:
        """Mute (or unmute) every non-admin; returns the new room-wide state."""
        self.muted = not self.muted
        for m in self.active:
            if not m.profile.admin:
                m.muted = self.muted
        self._update_mutes()
        return self.muted

    def kick(self, target: str) -> list[Action]:
        """`all`, `participants` (non-admins) or a channel name; [] when nobody matched."""
        everyone = target.lower() == "all"
        participants = target.lower() == "participants"
        out: list[Action] = []
        for m in self.members:
            if m.kicked:
                continue
            match = m.channel.lower() == target.lower()
            if match or everyone or (participants and not m.profile.admin):
                out.append(self._remove(m, "KICKED"))
                if match:
                    break
        return out

    def kick_last(self, by: Member) -> list[Action] | None:
        """An admin removes the last caller who joined; None when not allowed
        (not an admin, or the last one is an admin or the asker)."""
        if not by.profile.admin:
            return None
        if not self.active:
            return []
        last = self.active[-1]
        if last is by or last.profile.admin:
            return None
        return [] if last.kicked else [self._remove(last, "KICKED")]

    def _remove(self, m: Member, result: str) -> Remove:
        m.kicked = True
        m.result = result
        return Remove(m, result)

    # --- the state machine (conf_state_*.c) ---------------------------------------
    def _dispatch(self, event: str, m: Member) -> None:
        handler = getattr(self, f"_{self.state.lower()}_{event}", None)
        if handler is None:  # conf_invalid_event_fn: should not happen
            raise RuntimeError(f"confbridge {self.name}: {event} in state {self.state}")
        handler(m)
        self._update_mutes()

    def _change(self, m: Member, state: str) -> None:
        self.state = state
        entry = getattr(self, f"_enter_{state.lower()}", None)
        if entry is not None:
            entry(m)

    def _flush(self) -> tuple[list[Action], list[Action]]:
        out, post = self._out, self._post
        self._out, self._post = [], []
        return out, post

    # helpers shared by the states
    def _add_active(self, m: Member) -> None:
        m.waiting = False
        self.active.append(m)

    def _add_marked(self, m: Member) -> None:
        self._add_active(m)
        self.marked += 1

    def _add_waiting(self, m: Member) -> None:
        m.waiting = True
        self.waiting.append(m)

    def _remove_active(self, m: Member) -> None:
        self.active.remove(m)

    def _remove_marked(self, m: Member) -> None:
        self.active.remove(m)
        self.marked -= 1

    def _moh_start(self, m: Member) -> None:
        if not m.playing_moh:
            m.playing_moh = True
            self._out.append(MohStart(m))

    def _moh_stop(self, m: Member) -> None:
        if m.playing_moh:
            m.playing_moh = False
            self._out.append(MohStop(m))

    def _only_person(self, m: Member) -> None:
        p = m.profile
        if not p.quiet and p.announce_only_user:
            self._post.append(PlayTo(m, (self.bridge.sound("only_person"),)))

    def _join_waitmarked(self, m: Member) -> None:  # conf_default_join_waitmarked
        self._add_waiting(m)
        if m.profile.music_on_hold_when_empty:
            self._moh_start(m)
        if not m.profile.quiet:
            self._post.append(PlayTo(m, (self.bridge.sound("wait_for_leader"),)))

    def _leave_waitmarked(self, m: Member) -> None:  # conf_default_leave_waitmarked
        self.waiting.remove(m)
        m.waiting = False
        self._moh_stop(m)

    def _second_active(self) -> None:  # conf_handle_second_active
        first = self.active[0]
        if first.profile.music_on_hold_when_empty:
            self._moh_stop(first)

    def _mute_only_active(self) -> None:  # conf_mute_only_active
        only = self.active[0]
        if only.profile.music_on_hold_when_empty:
            self._moh_start(only)

    def _update_mutes(self) -> None:
        for m in self.members:
            m.talk_muted = (m.muted or m.playing_moh
                            or (self.marked == 0 and m.profile.wait_marked))

    # EMPTY
    def _empty_join_unmarked(self, m: Member) -> None:
        self._add_active(m)
        self._only_person(m)
        self._change(m, SINGLE)

    def _empty_join_waitmarked(self, m: Member) -> None:
        self._join_waitmarked(m)
        self._change(m, INACTIVE)

    def _empty_join_marked(self, m: Member) -> None:
        self._add_marked(m)
        self._only_person(m)
        self._change(m, SINGLE_MARKED)

    def _enter_empty(self, m: Member) -> None:
        self._out.append(Ended())

    # INACTIVE: only wait_marked callers, waiting
    def _inactive_join_unmarked(self, m: Member) -> None:
        self._add_active(m)
        self._only_person(m)
        self._change(m, SINGLE)

    def _inactive_join_waitmarked(self, m: Member) -> None:
        self._join_waitmarked(m)

    def _inactive_join_marked(self, m: Member) -> None:
        self._add_marked(m)
        self._change(m, MULTI_MARKED)

    def _inactive_leave_waitmarked(self, m: Member) -> None:
        self._leave_waitmarked(m)
        if not self.waiting:
            self._change(m, EMPTY)

    # SINGLE: one active caller, not marked
    def _single_join_unmarked(self, m: Member) -> None:
        self._add_active(m)
        self._second_active()
        self._change(m, MULTI)

    def _single_join_waitmarked(self, m: Member) -> None:
        self._join_waitmarked(m)

    def _single_join_marked(self, m: Member) -> None:
        self._add_marked(m)
        self._second_active()
        self._change(m, MULTI_MARKED)

    def _single_leave_unmarked(self, m: Member) -> None:
        self._remove_active(m)
        self._moh_stop(m)
        self._change(m, INACTIVE if self.waiting else EMPTY)

    def _single_leave_waitmarked(self, m: Member) -> None:
        self._leave_waitmarked(m)

    def _enter_single(self, m: Member) -> None:
        self._mute_only_active()

    # SINGLE_MARKED: one active caller, marked
    def _single_marked_join_unmarked(self, m: Member) -> None:
        self._add_active(m)
        self._second_active()
        self._change(m, MULTI_MARKED)

    _single_marked_join_waitmarked = _single_marked_join_unmarked

    def _single_marked_join_marked(self, m: Member) -> None:
        self._add_marked(m)
        self._second_active()
        self._change(m, MULTI_MARKED)

    def _single_marked_leave_marked(self, m: Member) -> None:
        self._remove_marked(m)
        self._moh_stop(m)
        self._change(m, EMPTY)

    def _enter_single_marked(self, m: Member) -> None:
        self._mute_only_active()

    # MULTI: several active callers, none marked
    def _multi_join_unmarked(self, m: Member) -> None:
        self._add_active(m)

    def _multi_join_waitmarked(self, m: Member) -> None:
        self._join_waitmarked(m)

    def _multi_join_marked(self, m: Member) -> None:
        self._add_marked(m)
        self._change(m, MULTI_MARKED)

    def _multi_leave_unmarked(self, m: Member) -> None:
        self._remove_active(m)
        if len(self.active) == 1:
            self._change(m, SINGLE)

    def _multi_leave_waitmarked(self, m: Member) -> None:
        self._leave_waitmarked(m)

    # MULTI_MARKED: at least one marked caller and another one
    def _multi_marked_join_unmarked(self, m: Member) -> None:
        self._add_active(m)

    _multi_marked_join_waitmarked = _multi_marked_join_unmarked

    def _multi_marked_join_marked(self, m: Member) -> None:
        self._add_marked(m)

    def _multi_marked_leave_unmarked(self, m: Member) -> None:
        if m in self.waiting:  # moved there when the last marked caller left
            self._leave_waitmarked(m)
            return
        self._remove_active(m)
        if len(self.active) == 1:
            self._change(m, SINGLE_MARKED)

    _multi_marked_leave_waitmarked = _multi_marked_leave_unmarked

    def _multi_marked_leave_marked(self, m: Member) -> None:
        self._remove_marked(m)
        need_prompt = False
        for u in list(self.active):
            p = u.profile
            if self.marked > 0 and not p.end_marked_any:
                continue
            if (p.end_marked or p.end_marked_any) and not u.kicked:
                if p.wait_marked and (not p.marked or p.end_marked_any):
                    self.active.remove(u)
                    self._add_waiting(u)
                self._out.append(self._remove(u, "ENDMARKED"))
            elif p.wait_marked and not p.marked:
                need_prompt = True
                self.active.remove(u)
                self._add_waiting(u)
            else:
                need_prompt = True
        n_active, n_waiting = len(self.active), len(self.waiting)
        if n_active == 0:
            self._change(m, INACTIVE if n_waiting else EMPTY)
        elif n_active == 1:
            if self.marked == 0:
                self._change(m, SINGLE)
            elif n_waiting == 0:
                self._change(m, SINGLE_MARKED)
        elif self.marked == 0:
            self._change(m, MULTI)
        if need_prompt:
            if not m.profile.quiet:
                self._out.append(Announce((self.bridge.sound("leader_has_left"),)))
            for u in self.waiting:
                if u.kicked:
                    continue
                if u.profile.music_on_hold_when_empty:
                    self._moh_start(u)

    def _enter_multi_marked(self, m: Member) -> None:  # transition_to_marked
        moved = 0
        for u in list(self.waiting):
            self.waiting.remove(u)
            self._add_active(u)
            self._moh_stop(u)
            moved += 1
        if (self.marked == 1 and m.profile.marked and not m.profile.quiet and moved):
            self._post.append(Announce((self.bridge.sound("begin"),), blocking=True))
