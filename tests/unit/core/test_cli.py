"""The `pbx` command: check, dialplan show/trace, and --config-dir on either side."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pbx.cli import main, parse_since

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def etc(tmp_path: Path) -> Path:
    target = tmp_path / "etc"
    shutil.copytree(REPO / "etc", target)
    return target


def test_check_sample_config_ok(etc: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["check", "--config-dir", str(etc)]) == 0
    assert "configuration OK" in capsys.readouterr().out


def test_config_dir_before_or_after(etc: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["--config-dir", str(etc), "check"]) == 0
    assert main(["dialplan", "show", "internal", "--config-dir", str(etc)]) == 0
    assert "'999' =>" in capsys.readouterr().out


def test_check_reports_every_error_with_position(etc: Path,
                                                 capsys: pytest.CaptureFixture) -> None:
    (etc / "sip.conf").write_text((etc / "sip.conf").read_text() + "\n[bad]\ntype=phone\n")
    ext = (etc / "extensions.conf").read_text()
    ext += "\n[broken]\nexten => 1,1,NoSuchApp()\nexten => 2,1,Goto(nowhere,1,1)\n"
    (etc / "extensions.conf").write_text(ext)
    assert main(["check", "--config-dir", str(etc)]) == 1
    err = capsys.readouterr().err
    lines = (etc / "sip.conf").read_text().splitlines()
    type_line = lines.index("type=phone") + 1
    assert f"{etc}/sip.conf:{type_line}:6: type must be friend, peer or user" in err
    ext_lines = ext.splitlines()
    app_line = ext_lines.index("exten => 1,1,NoSuchApp()") + 1
    assert f"{etc}/extensions.conf:{app_line}:" in err and "NoSuchApp" in err
    goto_line = ext_lines.index("exten => 2,1,Goto(nowhere,1,1)") + 1
    assert f"{etc}/extensions.conf:{goto_line}:" in err and "nowhere" in err
    assert "3 errors found" in err


def test_check_missing_config_dir(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["check", "--config-dir", str(tmp_path / "nope")]) == 1
    assert "configuration folder not found" in capsys.readouterr().err


def test_dialplan_trace_shows_the_path(etc: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["dialplan", "trace", "6002", "--context", "internal", "--result",
                 "Dial=BUSY", "--config-dir", str(etc)]) == 0
    out = capsys.readouterr().out
    # The sample reaches the phone through [stdexten] (Gosub, as Asterisk's sample).
    assert "[internal,6002,1] Gosub(6002,stdexten(6002,SIP/6002))" in out
    assert "[internal,6002,50002] Dial(SIP/6002,20,tT)" in out
    assert "DIALSTATUS=BUSY" in out
    assert "[internal,6002,50007] VoiceMail(6002@default,b)" in out


def test_parse_since() -> None:
    assert parse_since("2h", now=10_000.0) == 10_000.0 - 7200
    assert parse_since("1700000000") == 1_700_000_000.0
    assert parse_since(None) == 0.0


ASTERISK_STYLE = """
[legacy]
include => from-internal-custom
exten => 1,1,Festival(busy)
exten => 2,1,Set(X=${TXTCIDNAME(+1)})
exten => 3,1,Goto(nowhere,1,1)
"""


def test_what_asterisk_loads_check_refuses_run_warns(etc: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    from pbx.config import load_config
    from pbx.diagnostics import ConfigError

    ext = (etc / "extensions.conf").read_text() + ASTERISK_STYLE
    (etc / "extensions.conf").write_text(ext)
    assert main(["check", "--config-dir", str(etc)]) == 1
    err = capsys.readouterr().err
    assert "includes missing context 'from-internal-custom'" in err
    assert "unknown application 'Festival'" in err and "4 errors found" in err
    with pytest.raises(ConfigError):
        load_config(etc, strict=True)  # pbx run --strict
    config = load_config(etc, strict=False)  # pbx run
    warnings = [str(w) for w in config.warnings]
    line = ext.splitlines().index("exten => 1,1,Festival(busy)") + 1
    assert (f"{etc}/extensions.conf:{line}:14: warning: unknown application 'Festival' "
            "(loaded anyway, as Asterisk does; `pbx check` and `pbx run --strict` refuse it)"
            in warnings)
    assert sum("loaded anyway" in w for w in warnings) == 4
    assert not config.strict and "legacy" in config.dialplan.contexts


def test_run_strict_refuses_to_start(etc: Path, capsys: pytest.CaptureFixture) -> None:
    (etc / "extensions.conf").write_text((etc / "extensions.conf").read_text() + ASTERISK_STYLE)
    assert main(["run", "--strict", "--config-dir", str(etc)]) == 1
    assert "4 errors found" in capsys.readouterr().err


def test_database_commands(etc: Path, capsys: pytest.CaptureFixture) -> None:
    def db(*args: str) -> tuple[int, str, str]:
        rc = main(["database", *args, "--config-dir", str(etc)])
        out = capsys.readouterr()
        return rc, out.out, out.err

    assert db("put", "cidname", "6001", "Alice Smith")[:2] == (0, "Updated database successfully\n")
    assert db("put", "cidname/office", "6002", "Bob")[0] == 0
    assert db("put", "cidname_x", "1", "other family")[0] == 0
    rc, out, _ = db("show", "cidname")
    assert rc == 0 and out.splitlines() == [
        "/cidname/6001                                     : Alice Smith",
        "/cidname/office/6002                              : Bob",
        "2 results found."]
    assert db("show", "cidname", "office")[1].endswith("1 result found.\n")
    assert db("get", "cidname", "office/6002")[:2] == (0, "Value: Bob\n")
    assert db("del", "cidname", "6001")[:2] == (0, "Database entry removed.\n")
    rc, _, err = db("del", "cidname", "6001")
    assert rc == 1 and "Database entry does not exist." in err
    assert db("deltree", "cidname")[:2] == (0, "1 database entries removed.\n")
    assert db("show")[1].splitlines() == [
        "/cidname_x/1                                      : other family", "1 result found."]


def test_dialplan_trace_reads_the_astdb_and_saves_nothing(etc: Path,
                                                          capsys: pytest.CaptureFixture) -> None:
    (etc / "extensions.conf").write_text((etc / "extensions.conf").read_text() + """
[dbtest]
exten => 1,1,Set(FWD=${DB(cfwd/6001)})
 same => n,Set(DB(cfwd/6001)=changed)
 same => n,Hangup()
""")
    assert main(["database", "put", "cfwd", "6001", "6002", "--config-dir", str(etc)]) == 0
    assert main(["dialplan", "trace", "1", "--context", "dbtest", "--config-dir", str(etc)]) == 0
    out = capsys.readouterr().out
    assert "FWD=6002" in out
    assert main(["database", "get", "cfwd", "6001", "--config-dir", str(etc)]) == 0
    assert capsys.readouterr().out == "Value: 6002\n"  # the dry run wrote nothing
