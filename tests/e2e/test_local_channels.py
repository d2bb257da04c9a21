"""Local channels end to end: ring groups and follow-me written as in Asterisk.

`Dial(Local/6002@ringgroup&Local/6003@ringgroup/n)`: each Local channel runs
[ringgroup], whose Dial rings one phone; both phones ring, the first to
answer talks to the caller (audio by content both ways, through the Local
pair), the other gets a CANCEL that says the call was completed elsewhere.
A follow-me tries one phone, then the next; a busy phone behind a Local
channel gives the caller's Dial DIALSTATUS=BUSY.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import PbxProcess, make_config
from tests.e2e.media import RtpEndpoint
from tests.e2e.test_calls import (
    SIP_CONF,
    _two_way_audio,
    callee,
    caller,
    cdr_rows,
    check_cdr,
    wait_log,
)

DIALPLAN = """\
[general]
autofallthrough=yes

[default]

[internal]
exten => 7500,1,Dial(Local/6002@ringgroup&Local/6003@ringgroup/n,10)
 same => n,Log(NOTICE,DIALSTATUS=${DIALSTATUS})
exten => 7501,1,Dial(Local/6002@followme,2)
 same => n,Log(NOTICE,FIRST=${DIALSTATUS})
 same => n,Dial(Local/6003@followme,10)
 same => n,Log(NOTICE,DIALSTATUS=${DIALSTATUS})
exten => 7502,1,Dial(Local/6002@ringgroup,10)
 same => n,Log(NOTICE,DIALSTATUS=${DIALSTATUS})

[ringgroup]
exten => _600X,1,Dial(SIP/${EXTEN},20)

[followme]
exten => _600X,1,Dial(SIP/${EXTEN},20)
"""


@pytest.fixture
def pbx(tmp_path: Path) -> Iterator[PbxProcess]:
    proc = make_config(tmp_path, sip_conf=SIP_CONF, extensions=DIALPLAN)
    proc.start(*(["--sip-trace"] if os.environ.get("PBX_SIP_TRACE") else []))
    try:
        yield proc
    finally:
        proc.stop()


def test_ring_group_through_local_channels(pbx: PbxProcess, tmp_path: Path) -> None:
    """Both phones ring; 6003 answers after 1 s and talks with the caller (each
    hears the other by content); 6002 gets CANCEL with Reason 'Call completed
    elsewhere'; the caller's CDR names the winning Local channel."""
    with RtpEndpoint() as a, RtpEndpoint() as b2, RtpEndpoint() as b3:
        ringer = callee(pbx, tmp_path, b2, final=0, tag="ringer")
        answerer = callee(pbx, tmp_path, b3, peer="6003", secret="6003pass", ring_ms=1000,
                          ending="wait_bye", tag="answerer")
        call = caller(pbx, tmp_path, "7500", "caller_bye", a, pause_ms=3500)
        ringer.media()  # both phones got an INVITE
        b3_dest = answerer.media()
        _two_way_audio(a, b3, call.media(), b3_dest, 0, 0)
        call.finish(pbx)
        answerer.finish(pbx)
        ringer.finish(pbx)
    assert 'Reason: SIP;cause=200;text="Call completed elsewhere"' in ringer.messages
    rows = cdr_rows(pbx, 3)
    mine = next(r for r in rows if r["channel"].startswith("SIP/6001-"))
    check_cdr(mine, disposition="ANSWERED", dst="7500")
    assert mine["dstchannel"].startswith("Local/6003@ringgroup-") and \
        mine["dstchannel"].endswith(";1"), mine
    # Each Local channel's ;2 has its record, as in Asterisk.
    local = [r for r in rows if r["channel"].startswith("Local/600")]
    assert {r["channel"].split("@")[0] for r in local} == {"Local/6002", "Local/6003"}, local
    assert all(r["channel"].endswith(";2") for r in local)


def test_follow_me_tries_one_phone_then_the_next(pbx: PbxProcess, tmp_path: Path) -> None:
    """6002 rings 2 s unanswered (CANCEL), then 6003 rings and answers."""
    with RtpEndpoint() as a, RtpEndpoint() as b3:
        first = callee(pbx, tmp_path, None, final=0, tag="first")
        second = callee(pbx, tmp_path, b3, peer="6003", secret="6003pass", ring_ms=300,
                        ending="wait_bye", tag="second")
        t0 = time.monotonic()
        call = caller(pbx, tmp_path, "7501", "caller_bye", a, pause_ms=3000)
        first.finish(pbx)  # it rang, then got the CANCEL
        _two_way_audio(a, b3, call.media(), second.media(), 0, 0)
        assert time.monotonic() - t0 >= 2.0
        call.finish(pbx)
        second.finish(pbx)
    wait_log(pbx, r"FIRST=NOANSWER")
    mine = next(r for r in cdr_rows(pbx, 3) if r["channel"].startswith("SIP/6001-"))
    check_cdr(mine, disposition="ANSWERED", dst="7501")
    assert mine["dstchannel"].startswith("Local/6003@followme-"), mine


def test_busy_behind_a_local_channel_is_busy_for_the_caller(pbx: PbxProcess,
                                                            tmp_path: Path) -> None:
    with RtpEndpoint() as a:
        uas = callee(pbx, tmp_path, None, final=486)
        call = caller(pbx, tmp_path, "7502", "reject:486", a)
        call.finish(pbx)
        uas.finish(pbx)
    wait_log(pbx, r"DIALSTATUS=BUSY")
