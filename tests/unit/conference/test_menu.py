"""DTMF sequences to menu entries (bridge feature digit collection)."""

from __future__ import annotations

from pbx.conference.config import MenuAction
from pbx.conference.menu import MenuMatcher

MUTE = (MenuAction("toggle_mute"),)
LEAVE = (MenuAction("leave_conference"),)
HELP = (MenuAction("playback_and_continue", "conf-usermenu"),)


def test_unique_sequence_runs_at_once() -> None:
    m = MenuMatcher({"1": MUTE, "*1": MUTE, "8": LEAVE})
    assert m.feed("1", 0.0) == ("1", MUTE)
    assert m.feed("8", 0.1) == ("8", LEAVE)
    assert m.deadline() is None


def test_prefix_waits_for_more_then_runs_on_timeout() -> None:
    m = MenuMatcher({"*": HELP, "*1": MUTE}, timeout=1.0)
    assert m.feed("*", 10.0) is None
    assert m.deadline() == 11.0
    assert m.expire(10.5) is None  # not yet
    assert m.expire(11.0) == ("*", HELP)
    assert m.feed("*", 20.0) is None
    assert m.feed("1", 20.5) == ("*1", MUTE)


def test_unknown_digits_are_dropped_with_what_was_collected() -> None:
    m = MenuMatcher({"*1": MUTE, "8": LEAVE})
    assert m.feed("5", 0.0) is None
    assert m.feed("*", 0.0) is None and m.collected == "*"
    assert m.feed("8", 0.1) is None and m.collected == ""  # '*8' is nothing
    assert m.expire(5.0) is None
    assert m.feed("8", 0.2) == ("8", LEAVE)


def test_empty_menu_ignores_everything() -> None:
    m = MenuMatcher({})
    assert all(m.feed(d, 0.0) is None for d in "0123456789*#")
