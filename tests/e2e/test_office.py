"""Office features with real phones against the PBX running the sample etc/:
text messages, busy lamps (SIPp dialog subscription, pjsua2 presence), call
pickup by *8 and by **6002 with audio checked by content, and call forwarding
by *72/*73 and do-not-disturb by *76/*77."""

from __future__ import annotations

import csv
import importlib
import io
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pbx.media.wav import read_wav, write_wav
from tests.e2e.harness import PbxProcess
from tests.e2e.media import runs, tone, tone_present
from tests.e2e.office import Phone, sample_pbx
from tests.e2e.sipp import SCENARIOS, run_sipp, sipp_errors

importlib.import_module("pjsua2")  # the phones: a missing wheel fails the run here

REASON = 'Reason: SIP;cause=200;text="Call completed elsewhere"'


@pytest.fixture
def pbx(tmp_path: Path) -> Iterator[PbxProcess]:
    proc = sample_pbx(tmp_path)
    proc.start("--sip-trace")
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def phones(pbx: PbxProcess, tmp_path: Path) -> Iterator[list[Phone]]:
    made: list[Phone] = []
    yield made
    for phone in made:
        phone.close()


def test_text_messages_between_two_phones(pbx: PbxProcess, tmp_path: Path,
                                          phones: list[Phone]) -> None:
    alice = Phone(pbx, "6001", tmp_path)
    bob = Phone(pbx, "6002", tmp_path)
    phones += [alice, bob]
    alice.send("im 6002 Lunch at noon? çà")
    m = bob.wait(r"^IM (\S+) (.*)$")
    assert "6001@" in m.group(1) and m.group(2) == "Lunch at noon? çà"
    assert alice.wait(r"^IMSTATUS (\S+) (\d+)").group(2) == "202"
    bob.send("im 6001 yes")
    assert alice.wait(r"^IM (\S+) (.*)$").group(2) == "yes"
    assert bob.wait(r"^IMSTATUS \S+ (\d+)").group(1) == "202"
    # 6003 exists but no phone is registered: 480; nobody is 6999: 404.
    alice.send("im 6003 anyone?")
    assert alice.wait(r"^IMSTATUS \S+ (\d+)").group(1) == "480"
    alice.send("im 6999 anyone?")
    assert alice.wait(r"^IMSTATUS \S+ (\d+)").group(1) == "404"
    assert not [x for x in bob.events("IM ") if "anyone" in x]
    log = pbx.log()
    assert "MESSAGE sip:6002@" in log and "407 Proxy Authentication Required" in log


def test_busy_lamps_see_ringing_then_in_use_then_idle(pbx: PbxProcess, tmp_path: Path,
                                                      phones: list[Phone]) -> None:
    """A BLF key (SIPp, Event: dialog) and a presence buddy (pjsua2, PIDF) watch
    6002 while 6001 calls it: idle, ringing with Alice as the caller, in use, idle."""
    alice = Phone(pbx, "6001", tmp_path)
    bob = Phone(pbx, "6002", tmp_path)
    carol = Phone(pbx, "6003", tmp_path)
    phones += [alice, bob, carol]
    blf = run_sipp(SCENARIOS / "blf_dialog.xml", pbx.host, pbx.sip_port, tmp=tmp_path,
                   service="6002", user="6003", password="6003pass", timeout_s=60,
                   background=True, extra=["-trace_logs", "-log_file",
                                           str(tmp_path / "blf.log")])
    carol.send("watch 6002")
    carol.wait(r"^BUDDY 6002 open Ready")
    wait_log(tmp_path / "blf.log", "NOTIFY idle")
    alice.send("call 6002")
    bob.wait(r"^INCOMING 1 .*6001@")
    carol.wait(r"^BUDDY 6002 open Ringing")
    wait_log(tmp_path / "blf.log", "NOTIFY ringing")
    bob.send("answer")
    alice.wait(r"^CALL 1 CONFIRMED")
    carol.wait(r"^BUDDY 6002 open On the phone")
    wait_log(tmp_path / "blf.log", "NOTIFY in use")
    alice.send("hangup")
    bob.wait(r"^CALL 1 DISCONNECTED")
    carol.wait(r"^BUDDY 6002 open Ready")
    assert blf.wait(30) == 0, (sipp_errors(tmp_path), blf.stderr.read() if blf.stderr else "")
    log = (tmp_path / "blf.log").read_text()
    assert "NOTIFY final terminated;reason=timeout" in log, log
    hints = pbx.cli("hints")
    # The buddy still watches (SIPp has unsubscribed).
    assert re.search(r"6002@internal: SIP/6002&Custom:DND6002\(Bob\)\s+State:Idle\s+"
                     r"Watchers\s+1", hints.stdout), hints.stdout
    # 6002's phone goes away (unregisters at exit): its lamp goes dark.
    bob.close()
    carol.wait(r"^BUDDY 6002 closed Unavailable", 20)


def cdr_of(pbx: PbxProcess, src: str, timeout: float = 10.0) -> dict[str, str]:
    """The CDR row of the call from `src` (written when that call's dialplan ends)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = list(csv.DictReader(io.StringIO(pbx.cli("cdr", "--csv").stdout)))
        found = [r for r in rows if r["src"] == src]
        if found:
            return found[-1]
        if time.monotonic() > deadline:
            pytest.fail(f"no CDR from {src}: {rows}")
        time.sleep(0.2)


def wait_log(path: Path, text: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        time.sleep(0.05)
    content = path.read_text(errors="replace") if path.exists() else "(no log)"
    pytest.fail(f"SIPp did not log {text!r}:\n{content}")


TALK = 3.0  # seconds the picked-up call lasts


@pytest.mark.parametrize("code", ["*8", "**6002"])
def test_pickup_of_a_ringing_phone_bridges_the_caller(pbx: PbxProcess, tmp_path: Path,
                                                      phones: list[Phone], code: str) -> None:
    """6001 calls 6002, which rings; 6003 picks the call up by *8 (group pickup) or
    by **6002 (directed). 6001 and 6003 then hear each other (tones checked by
    content both ways); 6002's phone gets a CANCEL saying the call was completed
    elsewhere."""
    write_wav(tmp_path / "alice.wav", tone(500.0, 30))
    write_wav(tmp_path / "carol.wav", tone(1300.0, 30))
    alice = Phone(pbx, "6001", tmp_path, play=tmp_path / "alice.wav", record=True)
    bob = Phone(pbx, "6002", tmp_path)
    carol = Phone(pbx, "6003", tmp_path, play=tmp_path / "carol.wav", record=True)
    phones += [alice, bob, carol]
    alice.send("call 6002")
    bob.wait(r"^CALL 1 EARLY 180")
    carol.send(f"call {code}")
    carol.wait(r"^CALL 1 CONFIRMED")
    alice.wait(r"^CALL 1 CONFIRMED")
    gone = bob.wait(r"^CALL 1 DISCONNECTED (\d+) (.*)$")
    assert "Call completed elsewhere" in pbx.log()
    assert REASON in pbx.log(), "the CANCEL to 6002 says why"
    assert gone.group(1) in ("200", "487"), gone.group(0)
    time.sleep(TALK)
    alice.send("hangup")
    carol.wait(r"^CALL 1 DISCONNECTED")  # the PBX hung up the picker: BYE
    heard_by_alice = Path(alice.wait(r"^RECORDED 1 (\S+)").group(1))
    heard_by_carol = Path(carol.wait(r"^RECORDED 1 (\S+)").group(1))
    for path, freq, who in ((heard_by_alice, 1300.0, "6001 hears 6003"),
                            (heard_by_carol, 500.0, "6003 hears 6001")):
        flags = tone_present(read_wav(path), freq)
        longest = max((n for present, n in runs(flags) if present), default=0)
        assert longest * 0.2 >= TALK - 1.0, (who, runs(flags))
    # The caller's CDR: to 6002, answered by the picker's channel.
    call = cdr_of(pbx, "6001")
    assert (call["dst"], call["disposition"]) == ("6002", "ANSWERED"), call
    assert call["dstchannel"].startswith("SIP/6003-"), call


def test_forwarding_and_do_not_disturb_by_feature_codes(pbx: PbxProcess, tmp_path: Path,
                                                        phones: list[Phone]) -> None:
    """*726003 forwards 6001's calls to 6003 (kept in the AstDB), *73 cancels it;
    *76 sends 6001's callers to voicemail and its busy lamp shows busy, *77 ends it."""
    alice = Phone(pbx, "6001", tmp_path)
    bob = Phone(pbx, "6002", tmp_path)
    carol = Phone(pbx, "6003", tmp_path, incoming="answer")
    phones += [alice, bob, carol]

    def feature(code: str, n: int) -> None:
        alice.send(f"call {code}")
        alice.wait(rf"^CALL {n} CONFIRMED")  # the dialplan answers, beeps, hangs up
        alice.wait(rf"^CALL {n} DISCONNECTED")

    def database(family: str) -> str:
        return pbx.cli("database", "show", family).stdout

    feature("*726003", 1)
    assert "/CFIM/6001" in database("CFIM") and "6003" in database("CFIM")
    bob.send("call 6001")
    assert "6002@" in carol.wait(r"^INCOMING 1 (.*)$").group(1)  # 6003 rings, not 6001
    bob.wait(r"^CALL 1 CONFIRMED")
    bob.send("hangup")
    carol.wait(r"^CALL 1 DISCONNECTED")
    assert not alice.events("INCOMING")
    feature("*73", 2)
    assert "/CFIM/6001" not in database("CFIM")
    bob.send("call 6001")
    alice.wait(r"^INCOMING 3 .*6002@")  # rings 6001 itself again
    bob.send("hangup")
    alice.wait(r"^CALL 3 DISCONNECTED")
    # Do-not-disturb: the caller reaches voicemail at once; the lamp shows busy.
    carol.send("watch 6001")
    carol.wait(r"^BUDDY 6001 open Ready")
    feature("*76", 4)
    carol.wait(r"^BUDDY 6001 open On the phone")  # Custom:DND6001 is BUSY
    bob.send("call 6001")
    bob.wait(r"^CALL 3 CONFIRMED")  # VoiceMail answered
    time.sleep(1.0)
    bob.send("hangup")
    bob.wait(r"^CALL 3 DISCONNECTED")
    assert len(alice.events("INCOMING")) == 1
    assert "GotoIf: condition true -> internal,6001,dnd" in pbx.log()  # to voicemail
    feature("*77", 5)
    carol.wait(r"^BUDDY 6001 open Ready")
    assert "/DND/6001" not in database("DND")
