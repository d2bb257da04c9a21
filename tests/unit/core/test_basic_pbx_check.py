"""`pbx check` on Asterisk's own basic-pbx (tests/fixtures/basic-pbx, Asterisk
22.9.0), prepared as a user would (bind address, trunk target and account):
the errors are its two real bugs and nothing else; the warnings are two more
real mistakes of the sample, named where they are."""

from __future__ import annotations

from pathlib import Path

import pytest

from pbx.cli import main
from tests.fixtures.basic_pbx import Trunk, prepare


def test_pbx_check_reports_only_the_real_bugs(tmp_path: Path,
                                              capsys: pytest.CaptureFixture) -> None:
    conf = prepare(tmp_path / "basic-pbx", "127.0.0.1:5060",
                   Trunk("127.0.0.2", 5070, "secret", "pbx.test"))
    assert main(["check", "--config-dir", str(conf)]) == 1
    lines = [line.replace(str(conf) + "/", "")
             for line in capsys.readouterr().err.splitlines() if line.strip()]
    errors = [line for line in lines if ": warning: " not in line and "errors found" not in line]
    assert errors == [
        # Goto(operator,1) after each Queue(): there is no extension 'operator'.
        "extensions.conf:44:16: Goto(operator,1): extension 'operator' not found in context "
        "'External-Features'",
        "extensions.conf:51:16: Goto(operator,1): extension 'operator' not found in context "
        "'External-Features'",
        # o => Goto(1111): a priority of 'o' where extension 1111 was meant.
        "extensions.conf:107:18: Goto(1111): extension 'o' has no priority 1111 in context "
        "'Dial-Users'",
    ]
    warnings = [line for line in lines if ": warning: " in line]
    assert warnings == [
        # VoiceMailMain(example): a mailbox named "example" in [default], not the
        # context; Asterisk too asks for a mailbox of [default] and finds none.
        "extensions.conf:36:11: warning: VoiceMailMain: mailbox example@default is not in "
        "voicemail.conf (voicemail.conf): the caller is asked for a mailbox of "
        "[default]",
        # Penelope's phone shows the lamp of mailbox 103, not 1103.
        "pjsip.conf:152:1: warning: [1103] mailbox=103@example is not in voicemail.conf "
        "(voicemail.conf)",
    ]
