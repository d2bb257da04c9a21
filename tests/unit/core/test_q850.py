"""Hangup causes from a provider's answers and DIALSTATUS as Asterisk's app_dial counts it."""

from __future__ import annotations

import pytest

from pbx import q850


@pytest.mark.parametrize("status,dialstatus", [
    (486, "BUSY"), (600, "BUSY"),
    (503, "CONGESTION"),
    (404, "CHANUNAVAIL"), (604, "CHANUNAVAIL"), (403, "CHANUNAVAIL"),
    (401, "CHANUNAVAIL"), (407, "CHANUNAVAIL"),  # a refused password: Asterisk's CHANUNAVAIL
    (408, "CHANUNAVAIL"), (500, "CHANUNAVAIL"), (488, "CHANUNAVAIL"),
    (480, "NOANSWER"),  # NO_ANSWER (19), as chan_sip and chan_pjsip map it
    (487, "NOANSWER"),
])
def test_one_leg_failing_with_a_status(status: int, dialstatus: str) -> None:
    assert q850.dialstatus([q850.cause_from_sip(status)]) == dialstatus


def test_several_legs_count_like_app_dial() -> None:
    assert q850.dialstatus([q850.USER_BUSY, q850.UNALLOCATED]) == "BUSY"
    assert q850.dialstatus([q850.CONGESTION, q850.UNALLOCATED]) == "CONGESTION"
    # One leg that ended without a counted cause: nobody available to answer.
    assert q850.dialstatus([q850.USER_BUSY, q850.NO_ANSWER]) == "NOANSWER"
    assert q850.dialstatus([]) == "CHANUNAVAIL"


@pytest.mark.parametrize("values,cause", [
    (['Q.850;cause=17;text="User busy"'], 17),
    (["q.850 ; cause = 34"], 34),
    (['SIP;cause=486;text="Busy Here"'], 17),
    (['SIP;cause=404', 'Q.850;cause=1'], 1),  # Q.850 wins, in any order
    (['Q.850;cause=31', 'SIP;cause=480'], 31),
    (['SIP;cause=200;text="Call completed elsewhere"'], None),
    (["Q.850;text=nothing"], None), (["garbage"], None), ([], None),
])
def test_reason_header(values: list[str], cause: int | None) -> None:
    assert q850.reason_cause(values) == cause


def test_a_reason_header_overrides_the_status() -> None:
    assert q850.cause_of_response(503, ['Q.850;cause=17']) == q850.USER_BUSY
    assert q850.cause_of_response(503, []) == q850.CONGESTION
