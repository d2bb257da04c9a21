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
    assert "[internal,6002,1] Dial(SIP/6002,20)" in out
    assert "DIALSTATUS=BUSY" in out
    assert "[internal,6002,5] VoiceMail(6002@default,b)" in out


def test_parse_since() -> None:
    assert parse_since("2h", now=10_000.0) == 10_000.0 - 7200
    assert parse_since("1700000000") == 1_700_000_000.0
    assert parse_since(None) == 0.0
