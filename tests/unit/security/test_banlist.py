"""The ban list on a fake clock: windows, thresholds, trust, expiry, memory bound."""

from __future__ import annotations

from pbx.security.acl import Acl
from pbx.security.banlist import BanEvent, BanList, BanPolicy, source_key


def make(**kw) -> tuple[BanList, list[BanEvent]]:
    events: list[BanEvent] = []
    trusted = kw.pop("trusted", ())
    return BanList(BanPolicy(**kw), trusted, events.append), events


def test_nth_auth_failure_in_the_window_bans_and_drops_everything_after() -> None:
    bans, events = make(auth_failures=10, auth_window=60.0, time=600.0)
    t = 1000.0
    for _i in range(9):
        assert bans.admit("203.0.113.9", t)
        assert not bans.auth_failed("203.0.113.9", t)
        t += 0.014  # svcrack's pace: 71 guesses/s
    assert bans.auth_failed("203.0.113.9", t)  # the 10th
    assert [e.kind for e in events] == ["banned"]
    assert events[0].ban.reason == "auth" and events[0].ban.count == 10
    # Whatever comes now, even a correct REGISTER, is dropped unread until the ban ends.
    assert not bans.admit("203.0.113.9", t + 1)
    assert not bans.admit("203.0.113.9", t + 599)
    assert bans.bans(t + 599)[0].dropped == 2
    assert bans.admit("203.0.113.9", t + 600.1)  # expired
    assert [e.kind for e in events] == ["banned", "expired"]
    assert bans.admit("198.51.100.1", t)  # others never affected


def test_failures_spread_over_more_than_the_window_do_not_ban() -> None:
    bans, events = make(auth_failures=10, auth_window=60.0)
    for i in range(50):  # a phone with a wrong password, retrying every 7 s
        assert not bans.auth_failed("192.0.2.5", 7.0 * i)
    assert events == []


def test_message_rate_over_the_sliding_window_bans() -> None:
    bans, events = make(rate=50.0, rate_window=5.0)
    t = 0.0
    admitted = 0
    while bans.admit("198.51.100.7", t):  # 1,000 messages/s
        admitted += 1
        t += 0.001
    assert 250 <= admitted <= 251 and events[0].ban.reason == "rate"
    # A source at 40 messages/s for a minute is never banned.
    quiet, ev2 = make(rate=50.0, rate_window=5.0)
    assert all(quiet.admit("192.0.2.1", i / 40) for i in range(40 * 60)) and ev2 == []


def test_sliding_window_carries_the_previous_bucket() -> None:
    # 200 messages late in one bucket and 200 early in the next: 400 in about one
    # second, which a fixed window (reset at the boundary) would let through.
    bans, events = make(rate=50.0, rate_window=5.0)
    for i in range(200):
        assert bans.admit("192.0.2.9", 4.0 + i * 0.004)
    results = [bans.admit("192.0.2.9", 5.0 + i * 0.004) for i in range(200)]
    assert not all(results) and events and events[0].ban.reason == "rate"


def test_trusted_networks_are_never_banned() -> None:
    office = Acl.from_lines([("permit", "10.0.0.0/8")])
    bans, events = make(trusted=(office,), auth_failures=3)
    for _ in range(100):
        assert not bans.auth_failed("10.1.2.3", 1.0)
    assert all(bans.admit("10.1.2.3", i * 1e-4) for i in range(10_000))
    assert events == [] and not bans.is_banned("10.1.2.3", 2.0)


def test_lift_and_manual_ban_and_disabled() -> None:
    bans, events = make()
    bans.ban("192.0.2.1", 0.0, 30.0)
    assert bans.is_banned("192.0.2.1", 10.0) and not bans.is_banned("192.0.2.1", 31.0)
    assert bans.lift("192.0.2.1") and not bans.lift("192.0.2.1")
    assert [e.kind for e in events] == ["banned", "lifted"]
    off, ev = make(enabled=False, auth_failures=1)
    assert not off.auth_failed("192.0.2.2", 0.0) and ev == []


def test_ipv6_counted_per_64() -> None:
    assert source_key("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert source_key("::ffff:192.0.2.1") == "192.0.2.1"
    bans, _ = make(auth_failures=2)
    bans.auth_failed("2001:db8:1:2::1", 0.0)
    assert bans.auth_failed("2001:db8:1:2::99", 0.1)  # same /64: one attacker
    assert not bans.admit("2001:db8:1:2:ffff::5", 0.2)
    assert bans.admit("2001:db8:1:3::1", 0.2)


def test_memory_stays_bounded_under_a_spoofed_flood() -> None:
    bans, _ = make(max_tracked=1000)
    for i in range(50_000):  # every message from another address
        bans.admit(f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", i * 1e-5)
    assert len(bans._counters) <= 1000


def test_configure_lifts_bans_of_newly_trusted_sources() -> None:
    bans, events = make()
    bans.ban("10.0.0.1", 0.0)
    bans.configure(BanPolicy(), (Acl.from_lines([("permit", "10.0.0.0/8")]),))
    assert not bans.is_banned("10.0.0.1", 1.0) and events[-1].kind == "lifted"
