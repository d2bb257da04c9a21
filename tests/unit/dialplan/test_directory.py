"""Directory(): the keypad search (voicemail.directory) and the application's
dialogue with the caller, step by step, on a fake channel."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from dialplan.interpreter import Interpreter
from dialplan.services import DialplanServices
from tests.unit.dialplan.ivr_fakes import IvrChannel, call, voicemail
from tests.unit.dialplan.test_interpreter import dialplan
from voicemail.directory import matches, search

VOICEMAIL = """\
[general]
format=wav

[default]
6001 => 1234,Alice Smith,alice@example.com
6002 => 1234,Bob Smithers
6003 => 1234,Carol Jones
6004 => 1234,Sam,,,alias=Sammy
6005 => 1234,Hidden Smith,,,hidefromdir=yes
6006 => 1234

[sales]
7001 => 1234,Dave Smith
"""

# 6001..6006 in internal; o and a for 0 and *.
DIALPLAN = """\
[test]
exten => 1,1,Directory(default,internal,${OPTS})
 same => n,Playback(after-${DIRECTORY_RESULT}-${DIRECTORY_EXTEN})
 same => n,Hangup()

[internal]
exten => _600X,1,Playback(reached-${EXTEN})
 same => n,Hangup()
exten => o,1,Playback(operator)
 same => n,Hangup()
"""


def run(tmp: Path, script: list[str], opts: str = "", text: str = DIALPLAN,
        greet: tuple[str, ...] = ()) -> tuple[object, IvrChannel]:
    vm = voicemail(tmp, VOICEMAIL)
    for box in greet:
        folder = tmp / "spool" / "default" / box
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "greet.wav").write_bytes(b"RIFF")
    text = text.replace("${OPTS}", opts)
    return call(text, "1", script=script, services=DialplanServices(voicemail=vm))


@pytest.mark.parametrize(("key", "typed", "ok"), [
    ("Smith", "764", True), ("smith", "7648", True), ("Smith", "765", False),
    ("Smith", "76484", True), ("Smith", "764841", False),  # longer than the name
    ("O'Brien", "6", True), ("O'Brien", "62", False),  # ' stops the match there
    ("Mary Ann", "627926", True),  # spaces are skipped
    ("", "7", False), ("1st", "1", True),
])
def test_keypad_matching_as_app_directory(key: str, typed: str, ok: bool) -> None:
    assert matches(key, typed) is ok


def test_search_by_last_first_alias_hidden_and_order(tmp_path: Path) -> None:
    vm = voicemail(tmp_path, VOICEMAIL)
    found = search(vm.config, "default", "764")  # SMI...
    # Sorted by last name then first name: "SmithAlice" < "SmithersBob".
    assert [(e.exten, e.name) for e in found] == [("6001", "Alice Smith"),
                                                  ("6002", "Bob Smithers")]
    assert [e.exten for e in search(vm.config, "default", "726")] == ["6004"]  # SAM: no space
    assert [e.exten for e in search(vm.config, "default", "254", first=True, last=False)] == \
        ["6001"]  # ALI
    assert search(vm.config, "default", "7266", last=True) == []
    assert [e.name for e in search(vm.config, "default", "7266", alias=True)] == ["Sammy"]
    assert [e.exten for e in search(vm.config, "sales", "764")] == ["7001"]
    assert [e.exten for e in search(vm.config, "", "764")] == ["6001", "6002"]  # default
    vm.config.general.searchcontexts = True
    assert [e.exten for e in search(vm.config, "", "764")] == ["6001", "7001", "6002"]


def test_spell_listen_and_select(tmp_path: Path) -> None:
    # 7 interrupts the welcome; 6 4 complete SMI; Alice Smith is spelled, the
    # instructions play, "*" skips her; Bob Smithers: "1" during his name.
    _, ch = run(tmp_path, ["7", "6", "4", "_", "_", "*", "1"])
    plays = ch.plays()
    assert plays[0] == ["dir-welcome", "dir-pls-enter", "digits/3", "dir-last",
                        "dir-usingkeypad"]  # interrupted by the first letter
    spelled_alice = ["letters/a", "letters/l", "letters/i", "letters/c", "letters/e",
                     "letters/space", "letters/s", "letters/m", "letters/i", "letters/t",
                     "letters/h"]
    assert plays[1] == spelled_alice and plays[2] == ["dir-instr"]
    assert plays[3][:3] == ["letters/b", "letters/o", "letters/b"]
    assert [c for c in ch.calls if c[0] == "wait_digit"] == [
        ("wait_digit", 3.0), ("wait_digit", 3.0), ("wait_digit", 3.0)]
    assert plays[-1] == ["reached-6002"] and ch.variables["DIRECTORY_RESULT"] == "SELECTED"
    assert (ch.context, ch.exten) == ("internal", "6002")
    # The opening prompts say how many letters and which name, as Asterisk's.
    _, ch = run(tmp_path, ["_", "_"], opts="f(4)")
    assert ch.played()[:5] == ["dir-welcome", "dir-pls-enter", "digits/4", "dir-first",
                               "dir-usingkeypad"]
    assert ch.variables["DIRECTORY_RESULT"] == "TIMEOUT" and ch.played()[-1] == "after-TIMEOUT-"


def test_recorded_name_and_extension(tmp_path: Path) -> None:
    _, ch = run(tmp_path, ["5", "6", "6", "_", "1"], opts="e", greet=("6003",))
    plays = ch.plays()
    # JONES by its recorded name, then "extension 6 0 0 3"; "1" during the digits.
    name = str(tmp_path / "spool" / "default" / "6003" / "greet")
    assert plays[1] == [name], plays
    assert plays[2] == ["vm-extension", "digits/6", "digits/0", "digits/0", "digits/3"]
    assert plays[-1] == ["reached-6003"]


def test_menu_of_names(tmp_path: Path) -> None:
    # m: "press 1 for Alice Smith, press 2 for Bob Smithers", then "2".
    _, ch = run(tmp_path, ["7", "6", "4", "_", "_", "_", "_", "_", "_", "2"], opts="m")
    plays = ch.plays()
    assert plays[1] == ["dir-multi1", "digits/1", "dir-multi2"]
    assert plays[2][0] == "letters/a" and plays[3] == ["dir-multi1", "digits/2", "dir-multi2"]
    assert plays[4][0] == "letters/b" and plays[-1] == ["reached-6002"]
    assert [c for c in ch.calls if c[0] == "wait_digit"][-3:] == [
        ("wait_digit", 0.8), ("wait_digit", 0.8), ("wait_digit", 3.0)]


def test_no_match_nomore_operator_userexit_and_skip(tmp_path: Path) -> None:
    # 999 matches nobody: dir-nomatch, then the opening again; nothing: TIMEOUT.
    _, ch = run(tmp_path, ["9", "9", "9", "_", "_", "_"])
    assert "dir-nomatch" in ch.played() and ch.played().count("dir-welcome") == 2
    # Everyone skipped: dir-nomore; a 0 pressed during it goes to the operator.
    _, ch = run(tmp_path, ["5", "6", "6", "*", "0"])  # JON: Carol Jones only
    assert "dir-nomore" in ch.played() and ch.played()[-1] == "operator"
    assert ch.variables["DIRECTORY_RESULT"] == "OPERATOR"
    # 0 at the start: the o extension of dial-context.
    _, ch = run(tmp_path, ["0"])
    assert ch.played()[-1] == "operator"
    # * with no `a` extension counts as a letter (and matches nothing).
    _, ch = run(tmp_path, ["*", "_", "_", "_"])
    assert "dir-nomatch" in ch.played()
    # # at a name: USEREXIT, the dialplan goes on after Directory.
    _, ch = run(tmp_path, ["5", "6", "6", "#"])
    assert ch.played()[-1] == "after-USEREXIT-"
    # s: only DIRECTORY_EXTEN is set.
    _, ch = run(tmp_path, ["5", "6", "6", "1"], opts="s")
    assert ch.played()[-1] == "after-SELECTED-6003"


def test_selected_extension_missing_fails_the_call(tmp_path: Path) -> None:
    text = DIALPLAN.replace("Directory(default,internal,", "Directory(default,nowhere,")
    result, ch = run(tmp_path, ["5", "6", "6", "1"], text=text)
    assert result.reason == "error" and "context 'nowhere' does not have" in result.message
    assert ch.variables["DIRECTORY_RESULT"] == "FAILED"


def test_without_voicemail_the_call_fails(tmp_path: Path) -> None:
    result, _ = call(DIALPLAN.replace("${OPTS}", ""), "1", script="7")
    assert result.reason == "error" and "voicemail is not configured" in result.message


def test_hangup_sets_hangup(tmp_path: Path) -> None:
    vm = voicemail(tmp_path, VOICEMAIL)
    ch = IvrChannel("SIP/a-1", context="test", exten="1", script="7", hang_up_on_play=True)
    result = asyncio.run(Interpreter(dialplan(DIALPLAN.replace("${OPTS}", "")),
                                     DialplanServices(voicemail=vm)).run(ch))
    assert result.reason == "caller-hangup" and ch.variables["DIRECTORY_RESULT"] == "HANGUP"


BASIC_PBX_VOICEMAIL = """\
[general]
format = wav49|gsm|wav
[default]
[example]
1101 = 0717,Maria Berny
1102 = 7085,Tommie Briar
1103 = 1809,Penelope Bronte
1104 = 0039,Richard Casey
1105 = 6618,Garnet Claude
1106 = 9805,Aaron Courtney
1111 = 1878,Temple Morgan
1114 = 3717,Sal Smith
"""


def test_asterisks_basic_pbx_directory(tmp_path: Path) -> None:
    """configs/basic-pbx: Directory(example,Dial-Users); 2 7 then 4 (BRI) is Tommie Briar."""
    vm = voicemail(tmp_path, BASIC_PBX_VOICEMAIL)
    assert [e.exten for e in search(vm.config, "example", "27")] == ["1102", "1103"]
    assert [e.exten for e in search(vm.config, "example", "2")] == [
        "1101", "1102", "1103", "1104", "1105", "1106"]  # Berny, Briar, Bronte, Casey, ...
    text = """[Main-IVR]
exten = 4,1,Directory(example,Dial-Users)
[Dial-Users]
exten = _11XX,1,Playback(reached-${EXTEN})
 same = n,Hangup()
exten = o,1,Goto(1111)
"""
    result, ch = call(text, "4", context="Main-IVR", script=["2", "7", "4", "1"],
                      services=DialplanServices(voicemail=vm))
    assert ch.plays()[-1] == ["reached-1102"]
    # 0: the `o` extension of Dial-Users, whose Goto(1111) is basic-pbx's bug: no
    # priority 1111 there (pbx check reports it), so the call falls off the end.
    result, ch = call(text, "4", context="Main-IVR", script=["0"],
                      services=DialplanServices(voicemail=vm))
    assert ch.variables["DIRECTORY_RESULT"] == "OPERATOR"
    assert (result.context, result.exten, result.priority) == ("Dial-Users", "o", 1111)
    assert result.reason == "fell-through"
