"""The room's state machine (Asterisk's conf_state_*.c), without media."""

from __future__ import annotations

from pbx.conference.config import BridgeProfile, UserProfile
from pbx.conference.room import (
    EMPTY,
    INACTIVE,
    MULTI,
    MULTI_MARKED,
    SINGLE,
    SINGLE_MARKED,
    Announce,
    Ended,
    Member,
    MohStart,
    MohStop,
    PlayTo,
    Remove,
    Room,
)


def member(name: str, **profile: object) -> Member:
    return Member(f"SIP/{name}-0001", UserProfile(name=name, **profile))  # type: ignore[arg-type]


def test_unmarked_callers_single_multi_and_back_to_empty() -> None:
    room = Room("7000", BridgeProfile())
    a, b, c = member("a"), member("b"), member("c")
    actions, post = room.join(a)
    assert room.state == SINGLE and actions == []
    assert post == [PlayTo(a, ("conf-onlyperson",))]
    actions, post = room.join(b)
    assert room.state == MULTI and actions == [] and post == []
    room.join(c)
    assert [m.channel for m in room.active] == [a.channel, b.channel, c.channel]
    assert room.leave(b) == [] and room.state == MULTI
    assert room.leave(c) == [] and room.state == SINGLE
    assert room.leave(a) == [Ended()] and room.state == EMPTY
    assert room.leave(a) == []  # twice: nothing


def test_quiet_and_announce_only_user_skip_the_only_person_prompt() -> None:
    for profile in ({"quiet": True}, {"announce_only_user": False}):
        room = Room("r", BridgeProfile())
        _, post = room.join(member("a", **profile))
        assert post == []


def test_bridge_profile_sound_overrides_the_prompt() -> None:
    room = Room("r", BridgeProfile(sounds={"only_person": "alone-here"}))
    a = member("a")
    assert room.join(a)[1] == [PlayTo(a, ("alone-here",))]


def test_music_on_hold_while_alone_stops_when_the_second_arrives() -> None:
    room = Room("r", BridgeProfile())
    a = member("a", music_on_hold_when_empty=True)
    actions, _ = room.join(a)
    assert actions == [MohStart(a)] and a.playing_moh and a.talk_muted
    b = member("b")
    actions, _ = room.join(b)
    assert actions == [MohStop(a)] and not a.playing_moh and not a.talk_muted
    actions = room.leave(b)
    assert actions == [MohStart(a)]
    assert room.leave(a) == [MohStop(a), Ended()]


def test_wait_marked_callers_wait_muted_until_the_leader_then_begin() -> None:
    room = Room("r", BridgeProfile())
    w1 = member("w1", wait_marked=True, music_on_hold_when_empty=True)
    w2 = member("w2", wait_marked=True)
    actions, post = room.join(w1)
    assert room.state == INACTIVE and w1.waiting and w1.talk_muted
    assert actions == [MohStart(w1)] and post == [PlayTo(w1, ("conf-waitforleader",))]
    room.join(w2)
    assert w2.talk_muted and room.waiting == [w1, w2]
    leader = member("boss", marked=True)
    actions, post = room.join(leader)
    assert room.state == MULTI_MARKED
    assert actions == [MohStop(w1)]
    assert post == [Announce(("confbridge-conf-begin",), blocking=True)]
    assert room.waiting == [] and not w1.talk_muted and not w2.talk_muted
    assert w1.flags == "W" and leader.flags == "M"


def test_last_marked_leaving_ends_end_marked_callers_and_parks_wait_marked() -> None:
    room = Room("r", BridgeProfile())
    leader = member("boss", marked=True)
    ender = member("e", end_marked=True)
    waiter = member("w", wait_marked=True, music_on_hold_when_empty=True)
    plain = member("p")
    for m in (leader, ender, waiter, plain):
        room.join(m)
    assert room.state == MULTI_MARKED
    actions = room.leave(leader)
    assert Remove(ender, "ENDMARKED") in actions
    assert ender.kicked and ender.result == "ENDMARKED"
    assert Announce(("conf-leaderhasleft",)) in actions
    assert MohStart(waiter) in actions and waiter.waiting and waiter.talk_muted
    # ender and plain still count as active until the ender's own leave.
    assert room.state == MULTI
    assert room.leave(ender) == [] and room.state == SINGLE
    assert room.leave(plain) == [] and room.state == INACTIVE
    assert room.leave(waiter) == [MohStop(waiter), Ended()]


def test_page_shape_marked_caller_leaving_removes_every_paged_phone() -> None:
    room = Room("page", BridgeProfile())
    paged = [member(f"p{i}", quiet=True, end_marked=True, startmuted=True) for i in range(2)]
    for p in paged:
        room.join(p)
    assert all(p.talk_muted for p in paged)
    caller = member("caller", quiet=True, marked=True)
    room.join(caller)
    assert room.state == MULTI_MARKED and not caller.talk_muted
    actions = room.leave(caller)
    assert [a for a in actions if isinstance(a, Remove)] == [Remove(p, "ENDMARKED")
                                                             for p in paged]
    assert not any(isinstance(a, Announce) for a in actions)  # nobody else to tell
    for p in paged:
        room.leave(p)
    assert room.state == EMPTY


def test_single_marked_and_second_marked() -> None:
    room = Room("r", BridgeProfile())
    m1, m2 = member("m1", marked=True), member("m2", marked=True)
    room.join(m1)
    assert room.state == SINGLE_MARKED and room.marked == 1
    room.join(m2)
    assert room.state == MULTI_MARKED and room.marked == 2
    room.leave(m1)
    assert room.state == SINGLE_MARKED
    assert room.leave(m2) == [Ended()]


def test_locked_and_full_rooms_take_only_admins() -> None:
    room = Room("r", BridgeProfile(max_members=2))
    room.join(member("a"))
    room.join(member("b"))
    assert not room.admits(member("c"))
    assert room.admits(member("boss", admin=True))
    room2 = Room("r2", BridgeProfile())
    room2.join(member("a"))
    room2.locked = True
    assert not room2.admits(member("b")) and room2.admits(member("boss", admin=True))


def test_mute_startmuted_and_room_mute_of_participants() -> None:
    room = Room("r", BridgeProfile())
    admin, a = member("admin", admin=True), member("a", startmuted=True)
    room.join(admin)
    room.join(a)
    assert a.muted and a.talk_muted and a.flags == "m"
    room.set_mute(a, False)
    assert not a.talk_muted
    assert room.toggle_mute_participants() is True
    assert a.talk_muted and not admin.talk_muted
    late = member("late")
    room.join(late)
    assert late.talk_muted  # joins a muted room muted
    assert room.toggle_mute_participants() is False and not a.talk_muted


def test_kick_by_name_all_participants_and_kick_last() -> None:
    room = Room("r", BridgeProfile())
    admin, a, b = member("admin", admin=True), member("a"), member("b")
    for m in (admin, a, b):
        room.join(m)
    assert room.kick_last(a) is None  # not an admin
    assert room.kick_last(admin) == [Remove(b, "KICKED")]
    assert room.kick_last(admin) == []  # b already on its way out
    assert room.kick("SIP/a-0001") == [Remove(a, "KICKED")]
    assert room.kick("nobody") == []
    assert room.kick("participants") == []  # a and b are already kicked
    assert room.kick("all") == [Remove(admin, "KICKED")]
    assert room.find("sip/adm") is admin  # a prefix, any case (as the CLI mute)
