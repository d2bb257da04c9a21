"""The security log's format and escaping; summaries of repeated events."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from pbx.ratelog import RateLimitedLog
from pbx.security.banlist import Ban
from pbx.security.seclog import SecurityLog, attach_log_file, escape


def test_escape_keeps_one_line_and_quotes_closed() -> None:
    assert escape("plain 6001") == "plain 6001"
    assert escape('a"b\\c\nd\x00\udcff') == 'a\\"b\\\\c\\x0ad\\x00\\udcff'


def test_ban_lines_and_own_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="pbx.security")
    seclog = SecurityLog(wall=lambda: 1.5)
    handler = attach_log_file(tmp_path / "log" / "security.log")
    try:
        ban = Ban("203.0.113.9", "auth", 10.0, 610.0, 10, dropped=0)
        seclog.ban("banned", ban)
        ban.dropped = 42
        seclog.ban("expired", ban)
    finally:
        logging.getLogger("pbx.security").removeHandler(handler)
        handler.close()
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        'SecurityEvent="AddressBanned",EventTV="1970-01-01T00:00:01.500000+0000",'
        'Severity="Error",Service="SIP",EventVersion="2",RemoteAddress="203.0.113.9",'
        'Reason="auth",Count="10",Duration="600"',
        'SecurityEvent="AddressUnbanned",EventTV="1970-01-01T00:00:01.500000+0000",'
        'Severity="Informational",Service="SIP",EventVersion="2",'
        'RemoteAddress="203.0.113.9",Reason="expired",Dropped="42"']
    lines = (tmp_path / "log" / "security.log").read_text().splitlines()
    assert len(lines) == 2 and " SECURITY[" in lines[0] and lines[0].endswith(messages[0])


def test_300_repeats_make_a_few_lines(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="t")
    rl = RateLimitedLog(logging.getLogger("t"), burst=5, interval=60.0)
    for i in range(300):
        rl.log("reset", i * 0.01, "connection from %s reset", f"10.0.0.{i % 250}")
    rl.log("other", 1.0, "something else")
    rl.flush(30.0)  # interval not over yet: nothing more
    assert len(caplog.records) == 7  # 5 + the "further messages" note + other
    rl.flush(61.0)
    last = caplog.records[-1].getMessage()
    assert last.startswith("reset: 295 more like this in the last 60 s (e.g. connection from")
    assert len(caplog.records) == 8
