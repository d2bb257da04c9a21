"""What a waiting caller is told, as Asterisk's say_position and
say_periodic_announcement decide it."""

from __future__ import annotations

import random

from pbx.queue.announce import (
    AnnounceState,
    holdtime_report,
    periodic_due,
    periodic_prompts,
    position_due,
    position_prompts,
)
from pbx.queue.config import QueueSpec


def spec(**kw: object) -> QueueSpec:
    q = QueueSpec("q", announce_frequency=60)
    for k, v in kw.items():
        setattr(q, k, v)
    return q


def test_position_then_hold_time_in_minutes_and_rounded_seconds() -> None:
    q = spec(announce_round_seconds=15)
    st = AnnounceState()
    # Estimate 400 s, waited 100 s: |400 + 30 - 100| = 330 s: 5 minutes 30 (rounded to 15).
    assert position_prompts(q, st, 4, 400, 100.0, 10.0) == [
        "queue-thereare", "digits/4", "queue-callswaiting", "queue-holdtime", "digits/5",
        "queue-minutes", "digits/30", "queue-seconds", "queue-thankyou"]
    assert (st.last_pos, st.last_pos_said) == (10.0, 4)


def test_first_in_line_skips_the_hold_time() -> None:
    st = AnnounceState()
    assert position_prompts(spec(), st, 1, 600, 0.0, 1.0) == ["queue-youarenext",
                                                             "queue-thankyou"]


def test_more_and_limit_and_once() -> None:
    more = spec(announce_position="more", announce_position_limit=5, announce_holdtime="no")
    assert position_prompts(more, AnnounceState(), 8, 0, 0, 0) == [
        "queue-quantity1", "digits/5", "queue-quantity2", "queue-thankyou"]
    limit = spec(announce_position="limit", announce_position_limit=5,
                 announce_holdtime="no")
    assert position_prompts(limit, AnnounceState(), 8, 0, 0, 0) == []
    once = spec(announce_position="no", announce_holdtime="once")
    st = AnnounceState()
    assert position_prompts(once, st, 3, 120, 0, 0) == [
        "queue-holdtime", "digits/2", "queue-minutes", "queue-thankyou"]
    assert position_prompts(once, st, 3, 120, 0, 60) == []  # once only


def test_when_position_announcements_are_due() -> None:
    q = spec(announce_frequency=60, min_announce_frequency=15)
    st = AnnounceState()
    assert position_due(q, st, 3) == float("-inf")  # at once
    position_prompts(q, st, 3, 0, 0, 100.0)
    assert position_due(q, st, 3) == 160.0  # same place: announce-frequency
    assert position_due(q, st, 2) == 115.0  # moved up: min-announce-frequency
    up = spec(announce_position_only_up=True)
    st = AnnounceState()
    position_prompts(up, st, 3, 0, 0, 100.0)
    assert position_due(up, st, 3) is None and position_due(up, st, 2) == 115.0
    assert position_due(spec(announce_frequency=0), AnnounceState(), 1) is None


def test_periodic_announcements_start_delay_rotation_and_random() -> None:
    q = spec(periodic_announce=["a", "b", "c"], periodic_announce_frequency=30)
    st = AnnounceState.joined(q, 1000.0)
    assert periodic_due(q, st) == 1030.0
    said = [periodic_prompts(q, st, 1030.0 + 30 * i, random.Random(1))[0] for i in range(4)]
    assert said == ["a", "b", "c", "a"]
    delayed = spec(periodic_announce=["a"], periodic_announce_frequency=30,
                   periodic_announce_startdelay=5)
    assert periodic_due(delayed, AnnounceState.joined(delayed, 1000.0)) == 1005.0
    rnd = spec(periodic_announce=["a", "b", "c"], periodic_announce_frequency=30,
               random_periodic_announce=True)
    st = AnnounceState.joined(rnd, 0.0)
    picks = {periodic_prompts(rnd, st, 30.0 * i, random.Random(i))[0] for i in range(30)}
    assert picks == {"a", "b", "c"}


def test_report_hold_time_to_the_member() -> None:
    assert holdtime_report(spec(), 150.0) == ["queue-reporthold", "digits/2", "queue-minutes",
                                              "digits/30", "queue-seconds"]
