"""One caller's ConfBridge(), in Asterisk's order (confbridge_exec).

Answer, the PIN (three tries), the name to announce (announce_join_leave),
then into the room: locked or full rooms refuse non-admins; the prompts the
room gives the joiner (only person, waiting for the leader), the user
profile's announcement and counts; then the mix, with the DTMF menu, until the
caller hangs up, leaves by the menu, is removed (kicked, end_marked) or its
timeout passes. Then the leave sounds, the "kicked" prompt, and the room
moves on without it. Returns CONFBRIDGE_RESULT.

Prompts for this caller alone (menu answers, "you are now muted") play on its
own session; meanwhile it is out of the mix both ways, as an Asterisk channel
is while it streams a file in a bridge. Music on hold is the same, and is
suspended while such a prompt plays.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pbx.channel import ChannelState, Hangup
from pbx.conference.config import BridgeProfile, Menu, MenuAction, UserProfile
from pbx.conference.menu import MenuMatcher
from pbx.conference.mixer import MixMember, can_mix, listen_gain
from pbx.conference.room import Announce, Member, PlayTo

if TYPE_CHECKING:
    from pbx.channel import Channel
    from pbx.conference.conference import Conference
    from pbx.conference.moh import Hold, HoldFactory

log = logging.getLogger("pbx.conference")

DTMF = "0123456789*#ABCD"
PIN_TRIES = 3
PIN_FIRST_DIGIT = 10.0  # ast_app_getdata: the response timeout, then the digit timeout
PIN_NEXT_DIGIT = 5.0
MAX_PIN = 80
NAME_SECONDS = 10  # conf_rec_name: at most 10 s, ended by silence
VOLUME_STEPS = 4  # listening/talking volume levels each way


class Participant:
    """The conference side of one channel in one room."""

    def __init__(self, channel: Channel, *, user: UserProfile, bridge: BridgeProfile,
                 menu: Menu, moh: HoldFactory, names_dir: Path) -> None:
        self.channel = channel
        self.user = user
        self.bridge = bridge
        self.menu = menu
        self.moh = moh
        self.names_dir = names_dir.resolve()  # an absolute name is a file, not a prompt
        self.member = Member(channel.name, user, callerid=channel.callerid.num,
                             menu=menu.name, bridge_profile=bridge.name)
        self.conf: Conference | None = None
        self.mix: MixMember | None = None
        self.hold: Hold | None = None
        self._moh_suspended = 1  # no music until the caller is in the mix (as Asterisk)
        self._private = 0  # prompts of its own playing
        self._removed = asyncio.Event()
        self.name_file: str = ""
        self.listen_level = 0
        self.talk_level = 0

    # --- ParticipantPort (called by the Conference) -------------------------------
    def removed(self, result: str) -> None:
        """Kicked or end_marked: out of the mix now; the run loop ends."""
        self.member.result = result
        self._leave_mix()
        self._removed.set()

    def moh_start(self) -> None:
        if self._moh_suspended == 0 and self.hold is None and self.mix is not None:
            self.hold = self.moh(self.mix.session, self.user.music_on_hold_class)
        self._sync_private()

    def moh_stop(self) -> None:
        if self.hold is not None:
            self.hold.stop()
            self.hold = None
            if self.mix is not None:
                self.mix.resume = True
        self._sync_private()

    def sync_mute(self) -> None:
        if self.mix is not None:
            self.mix.muted = self.member.talk_muted

    def _sync_private(self) -> None:
        if self.mix is not None:
            private = self._private > 0 or self.hold is not None
            if self.mix.private and not private:
                self.mix.resume = True
            self.mix.private = private

    # --- the application ------------------------------------------------------------
    async def run(self, conf_for: Any, room_name: str) -> str:
        """The whole ConfBridge(); `conf_for(name, bridge)` gives the room."""
        ch = self.channel
        ch.check_hangup()
        if ch.state is not ChannelState.UP and self.user.answer_channel:
            await ch.answer()
        if self.user.pin and not await self._get_pin():
            log.info("%s: wrong conference PIN for %s", ch.name, room_name)
            return "FAILED"
        session = ch.media
        if session is None or not can_mix(session.codec):
            log.warning("%s: cannot join conference %s: codec %s cannot be mixed", ch.name,
                        room_name, getattr(getattr(session, "codec", None), "name", "none"))
            return "FAILED"
        try:
            if not self.user.quiet and (self.user.announce_join_leave
                                        or self.user.announce_join_leave_review):
                await self._record_name(room_name)
            conf: Conference = conf_for(room_name, self.bridge)
            if not conf.room.admits(self.member):
                log.info("%s: conference %s is locked or full", ch.name, room_name)
                if not conf.room.members:
                    conf.end()
                await ch.play([conf.bridge.sound("locked")])
                return "FAILED"
            self.conf = conf
            return await self._in_room(conf, session)
        finally:
            self._delete_name()

    async def _in_room(self, conf: Conference, session: Any) -> str:
        ch = self.channel
        conf.media(session.clock)
        conf.add(self)
        actions, post = conf.room.join(self.member)
        log.info("%s: joined conference %s (%s)", ch.name, conf.name, conf.room.state)
        conf.apply(actions)
        bridge = conf.bridge
        try:
            for action in post:
                if isinstance(action, PlayTo):
                    await ch.play(list(action.prompts))
                elif isinstance(action, Announce):
                    await conf.announce(action.prompts)
            if self.user.announcement:
                await ch.play([self.user.announcement])
            if self.user.announce_user_count:
                await self._play_private(conf.count_prompts(len(conf.room.active) - 1))
            if (self.user.announce_user_count_all
                    and len(conf.room.active) > self.user.announce_user_count_all_after):
                await conf.announce(conf.count_prompts(len(conf.room.active) - 1))
            if self.name_file:
                await conf.announce([self.name_file, bridge.sound("has_joined")])
            if not self.user.quiet and not self.user.hear_own_join_sound:
                await conf.announce([bridge.sound("join")])
            self._enter_mix(conf, session)
            if not self.user.quiet and self.user.hear_own_join_sound:
                conf.announce([bridge.sound("join")])
            result = await self._menu_loop()
        except Hangup:
            result = "HANGUP"
        if self.member.kicked:
            result = self.member.result
        self._leave_mix()
        if not self.user.quiet:  # into the room, for those still there
            if self.name_file:
                conf.announce([self.name_file, bridge.sound("has_left")])
            conf.announce([bridge.sound("leave")])
        try:
            if self.member.kicked and not self.user.quiet and not self._hung_up():
                await ch.play([bridge.sound("kicked")])
        except Hangup:
            pass
        finally:
            self._leave(conf)
        return result

    def _enter_mix(self, conf: Conference, session: Any) -> None:
        if self._removed.is_set() or self._hung_up():
            return
        assert conf.mixer is not None
        self.mix = conf.mixer.add(session)
        self.mix.talk = listen_gain(self.talk_level)
        self.mix.listen = listen_gain(self.listen_level)
        self.sync_mute()
        self._moh_suspended -= 1
        if self.member.playing_moh:
            self.moh_start()
        self._sync_private()

    def _leave_mix(self) -> None:
        if self.hold is not None:
            self.hold.stop()
            self.hold = None
        mix, self.mix = self.mix, None
        if mix is not None and mix.mixer is not None:
            mix.mixer.remove(mix)

    def _leave(self, conf: Conference) -> None:
        self._leave_mix()
        actions = conf.room.leave(self.member)
        conf.discard(self)
        conf.apply(actions)
        log.info("%s: left conference %s (%s)", self.channel.name, conf.name,
                 self.member.result or "HANGUP")

    def _hung_up(self) -> bool:
        return self.channel.state is ChannelState.HUNGUP

    # --- in the room: the DTMF menu -------------------------------------------------
    async def _menu_loop(self) -> str:
        ch = self.channel
        loop = asyncio.get_running_loop()
        matcher = MenuMatcher(self.menu.entries)
        end_at = loop.time() + self.user.timeout if self.user.timeout else None
        gone = asyncio.ensure_future(ch.hungup.wait())
        removed = asyncio.ensure_future(self._removed.wait())
        try:
            while True:
                deadlines = [d for d in (matcher.deadline(), end_at) if d is not None]
                wait = max(0.0, min(deadlines) - loop.time()) if deadlines else None
                digit_f = asyncio.ensure_future(ch.digits.get())
                done, _ = await asyncio.wait({digit_f, gone, removed}, timeout=wait,
                                             return_when=asyncio.FIRST_COMPLETED)
                if digit_f not in done:
                    digit_f.cancel()
                if gone in done:
                    return "HANGUP"
                if removed in done:
                    if digit_f in done:
                        ch.digits.put_nowait(digit_f.result())  # not ours any more
                    return self.member.result
                now = loop.time()
                entry = (matcher.feed(digit_f.result(), now) if digit_f in done
                         else matcher.expire(now))
                if entry is not None and await self._run_entry(*entry, matcher):
                    return "DTMF"
                if self._removed.is_set():
                    return self.member.result
                if end_at is not None and loop.time() >= end_at:
                    log.info("%s: conference timeout (%d s)", ch.name, self.user.timeout)
                    return "TIMEOUT"
        finally:
            gone.cancel()
            removed.cancel()

    async def _run_entry(self, seq: str, actions: tuple[MenuAction, ...],
                         matcher: MenuMatcher) -> bool:
        """execute_menu_entry(): True when the caller chose to leave."""
        conf = self.conf
        assert conf is not None
        room = conf.room
        admin = self.user.admin
        stop_prompts = False
        leave = False
        self._moh_suspend()
        try:
            for action in actions:
                name = action.name
                if name == "toggle_mute":
                    room.set_mute(self.member, not self.member.muted)
                    conf.apply([])
                    await self._play_private([self.bridge.sound(
                        "muted" if self.member.muted else "unmuted")], matcher)
                elif name == "admin_toggle_mute_participants":
                    if admin:
                        muted = room.toggle_mute_participants()
                        conf.apply([])
                        conf.announce([self.bridge.sound(
                            "participants_muted" if muted else "participants_unmuted")])
                elif name == "participant_count":
                    await self._play_private(conf.count_prompts(len(room.active) - 1))
                elif name == "playback":
                    if not stop_prompts:
                        await self._play_private(_files(action.arg))
                elif name == "playback_and_continue":
                    if not stop_prompts:
                        digit = await self._play_private(_files(action.arg), interrupt=DTMF)
                        if digit:
                            stop_prompts = True
                            follow = matcher.entries.get(seq + digit)
                            if follow is not None and await self._run_entry(
                                    seq + digit, follow, matcher):
                                leave = True
                elif name in ("increase_listening_volume", "decrease_listening_volume",
                              "reset_listening_volume", "increase_talking_volume",
                              "decrease_talking_volume", "reset_talking_volume"):
                    self._volume(name)
                elif name == "admin_toggle_conference_lock":
                    if admin:
                        room.locked = not room.locked
                        await self._play_private([self.bridge.sound(
                            "locked_now" if room.locked else "unlocked_now")], matcher)
                elif name == "admin_kick_last":
                    result = room.kick_last(self.member)
                    if result is None:
                        log.warning("%s: admin_kick_last refused in conference %s (not an "
                                    "admin, or the last caller is an admin)",
                                    self.channel.name, conf.name)
                        await self._play_private([self.bridge.sound("error_menu")], matcher)
                    else:
                        conf.apply(result)
                elif name == "leave_conference":
                    self.member.result = "DTMF"
                    leave = True
                elif name in ("no_op", "toggle_binaural", "set_as_single_video_src",
                              "release_as_single_video_src", "dialplan_exec"):
                    pass
        finally:
            self._moh_resume()
        return leave

    def _volume(self, name: str) -> None:
        which = "listen" if "listening" in name else "talk"
        level = getattr(self, f"{which}_level")
        if name.startswith("increase"):
            level = min(VOLUME_STEPS, level + 1)
        elif name.startswith("decrease"):
            level = max(-VOLUME_STEPS, level - 1)
        else:
            level = 0
        setattr(self, f"{which}_level", level)
        if self.mix is not None:
            setattr(self.mix, which, listen_gain(level))

    async def _play_private(self, prompts: list[str], matcher: MenuMatcher | None = None,
                            interrupt: str = "") -> str:
        """Prompts to this caller alone (out of the mix meanwhile). A digit that
        interrupts a menu answer goes on to the menu, as Asterisk's play_file."""
        if not prompts:
            return ""
        self._private += 1
        self._sync_private()
        try:
            digit = await self.channel.play(prompts, interrupt=interrupt or
                                            (DTMF if matcher is not None else ""))
        finally:
            self._private -= 1
            self._sync_private()
        if digit and matcher is not None and not interrupt:
            entry = matcher.feed(digit, asyncio.get_running_loop().time())
            if entry is not None and await self._run_entry(*entry, matcher):
                self.member.result = "DTMF"
                self._removed.set()
            return ""
        return digit

    def _moh_suspend(self) -> None:
        self._moh_suspended += 1
        if self._moh_suspended == 1 and self.hold is not None:
            self.hold.stop()
            self.hold = None

    def _moh_resume(self) -> None:
        self._moh_suspended -= 1
        if self._moh_suspended == 0 and self.member.playing_moh:
            self.moh_start()
        self._sync_private()

    # --- before joining ---------------------------------------------------------------
    async def _get_pin(self) -> bool:
        """conf_get_pin: three tries; a digit that interrupts "invalid pin" starts the
        next one."""
        ch = self.channel
        first = ""
        for _ in range(PIN_TRIES):
            guess = await self._read_digits(self.bridge.sound("get_pin"), first)
            if guess == self.user.pin:
                return True
            first = await ch.play([self.bridge.sound("invalid_pin")], interrupt=DTMF)
        return False

    async def _read_digits(self, prompt: str, first: str) -> str:
        """ast_app_getdata: the prompt (skipped when a digit is already there),
        then digits until '#', MAX_PIN digits or a timeout."""
        ch = self.channel
        got = ""
        digit = first or await ch.play([prompt], interrupt=DTMF)
        while len(got) < MAX_PIN:
            if not digit:
                d = await ch.wait_digit(PIN_NEXT_DIGIT if got else PIN_FIRST_DIGIT)
                if d is None:
                    break
                digit = d
            if digit == "#":
                break
            got += digit
            digit = ""
        return got

    async def _record_name(self, room_name: str) -> None:
        """conf_rec_name: "vm-rec-name", a beep, up to 10 s ended by silence or '#'."""
        ch = self.channel
        self.names_dir.mkdir(parents=True, exist_ok=True)
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in room_name)
        path = self.names_dir / f"confbridge-name-{safe}-{ch.uniqueid}.wav"
        await ch.play(["vm-rec-name", "beep"])
        try:
            result = await ch.record(str(path), max_seconds=NAME_SECONDS, silence_seconds=2.0)
        except OSError as exc:
            log.warning("%s: cannot record the name for conference %s: %s", ch.name,
                        room_name, exc)
            return
        if result.seconds > 0 and os.path.exists(result.path):
            self.name_file = result.path[:-4] if result.path.endswith(".wav") else result.path

    def _delete_name(self) -> None:
        if self.name_file:
            with contextlib.suppress(OSError):
                os.unlink(self.name_file + ".wav")


def _files(arg: str) -> list[str]:
    return [f.strip() for f in arg.split("&") if f.strip()]
