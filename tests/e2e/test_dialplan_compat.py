"""Asterisk behaviour end to end: `pbx database put` reaching a running PBX's DB(),
CDR() fields in `pbx cdr`, a dialplan with something unknown in one extension that
still starts, `Executing [...]` lines at -vvv in the log file of pbx.yaml."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import PbxProcess, make_config
from tests.e2e.media import SOUNDS, RtpEndpoint, correlation, g711_roundtrip, prompt_pcm
from tests.e2e.test_calls import SIP_CONF, caller, cdr_rows, wait_log

DIALPLAN = """\
[general]
autofallthrough=yes

[default]

[internal]
include => parkedcalls             ; missing: Asterisk loads it, so does `pbx run`
; the caller's greeting comes from the AstDB
exten => 710,1,Answer()
 same => n,Set(CDR(userfield)=${DB(greeting/${CALLERID(num)})})
 same => n,Set(CDR(campaign)=e2e)
 same => n,Playback(${DB(greeting/${CALLERID(num)})})
 same => n,Set(DB(seen/${CALLERID(num)})=${CDR(dst)})
 same => n,Hangup()
; an application this PBX does not have: only this call fails
exten => 711,1,Answer()
 same => n,Festival(busy)
 same => n,Hangup()
"""


@pytest.fixture
def pbx(tmp_path: Path) -> Iterator[PbxProcess]:
    proc = make_config(tmp_path, sip_conf=SIP_CONF, extensions=DIALPLAN,
                       extra_yaml=f"sounds: {{path: [{SOUNDS.parent}]}}\n"
                                  "log: {file: var/log/pbx.log}\n")
    proc.start("-v")  # the harness passes -vv: -vvv in all
    try:
        yield proc
    finally:
        proc.stop()


def greeting_call(pbx: PbxProcess, tmp: Path, tag: str) -> bytes:
    with RtpEndpoint() as rtp:
        call = caller(pbx, tmp, "710", "pbx_bye", rtp, tag=tag)
        call.finish(pbx)
        return rtp.decoded(0)


def test_database_put_reaches_the_running_dialplan(pbx: PbxProcess, tmp_path: Path) -> None:
    # Started with an include of a missing context: a warning, not a refusal.
    wait_log(pbx, r"includes missing context 'parkedcalls' \(loaded anyway")
    assert pbx.cli("database", "put", "greeting", "6001", "tt-weasels").returncode == 0
    received = greeting_call(pbx, tmp_path, "first")
    weasels = g711_roundtrip(prompt_pcm("tt-weasels"))
    echodone = g711_roundtrip(prompt_pcm("demo-echodone"))
    assert correlation(received, weasels) > 0.9

    # Changed while the PBX runs: the next call plays the new value.
    assert pbx.cli("database", "put", "greeting", "6001", "demo-echodone").returncode == 0
    received = greeting_call(pbx, tmp_path, "second")
    assert correlation(received, echodone) > 0.9
    assert correlation(received, weasels) < 0.5

    # What the dialplan wrote is in the store (committed: another process sees it).
    out = pbx.cli("database", "show", "seen")
    assert out.returncode == 0 and "/seen/6001" in out.stdout and ": 710" in out.stdout, out

    # CDR() fields land in `pbx cdr`.
    rows = cdr_rows(pbx, 2)
    assert [r["userfield"] for r in rows[-2:]] == ["tt-weasels", "demo-echodone"]
    assert json.loads(rows[-1]["vars"]) == {"campaign": "e2e"}

    # -vvv: Asterisk's Executing lines, in the log file of pbx.yaml as well as stdout.
    log_file = pbx.config_dir / "var" / "log" / "pbx.log"
    text = log_file.read_text()
    assert ('Executing [710@internal:2] Set("SIP/6001-' in text
            and '", "CDR(userfield)=demo-echodone") in new stack' in text), text[-3000:]
    assert "Executing [710@internal:4] Playback(" in pbx.log()


def test_unknown_application_fails_only_the_call_that_reaches_it(pbx: PbxProcess,
                                                                  tmp_path: Path) -> None:
    with RtpEndpoint() as rtp:
        call = caller(pbx, tmp_path, "711", "pbx_bye", rtp, tag="unknown")
        call.finish(pbx)  # answered, then the PBX hangs up (BYE) at the unknown step
    m = wait_log(pbx, r"extensions\.conf:(\d+):(\d+): Unknown application 'Festival'")
    assert DIALPLAN.splitlines()[int(m.group(1)) - 1].strip() == "same => n,Festival(busy)"
    # The next call is served as usual.
    assert pbx.cli("database", "put", "greeting", "6001", "tt-weasels").returncode == 0
    received = greeting_call(pbx, tmp_path, "after")
    assert correlation(received, g711_roundtrip(prompt_pcm("tt-weasels"))) > 0.9
    # A reload keeps the rule the PBX started with: loadable errors are warnings.
    conf = pbx.config_dir / "extensions.conf"
    conf.write_text(conf.read_text() + "exten => 712,1,ChanIsAvail(SIP/6002)\n")
    out = pbx.cli("reload")
    assert out.returncode == 0 and out.stdout.startswith("reloaded:"), out


def test_strict_refuses_what_check_calls_an_error(tmp_path: Path) -> None:
    proc = make_config(tmp_path, sip_conf=SIP_CONF, extensions=DIALPLAN)
    with pytest.raises(RuntimeError, match="includes missing context 'parkedcalls'"):
        proc.start("--strict")
    check = proc.cli("check")
    assert check.returncode == 1 and "unknown application 'Festival'" in check.stderr
