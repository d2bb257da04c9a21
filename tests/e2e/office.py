"""Office phones for the end-to-end tests: pjsua2 processes driven line by line
(tests/e2e/pjsua2_ctl.py), and the PBX with the sample configuration of etc/."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.e2e.harness import REPO, PbxProcess, free_port, make_config

PHONE = Path(__file__).with_name("pjsua2_ctl.py")


def sample_pbx(tmp: Path) -> PbxProcess:
    """A config dir on free ports with etc/'s sip.conf, extensions.conf,
    voicemail.conf and features.conf: the tests run the sample as shipped."""
    etc = REPO / "etc"
    proc = make_config(tmp, sip_conf=(etc / "sip.conf").read_text(),
                       extensions=(etc / "extensions.conf").read_text())
    for name in ("voicemail.conf", "features.conf"):
        (tmp / name).write_text((etc / name).read_text())
    return proc


class Phone:
    """One registered pjsua2 phone; `send()` a command, `wait()` for an event line."""

    def __init__(self, pbx: PbxProcess, user: str, tmp: Path, *, incoming: str = "ring",
                 play: Path | None = None, record: bool = False, timeout: float = 120,
                 password: str | None = None, auth_user: str | None = None,
                 registrar: str | None = None) -> None:
        self.user = user
        self.dir = tmp / f"phone-{user}"
        self.dir.mkdir(parents=True, exist_ok=True)
        args = [sys.executable, str(PHONE), "--user", user,
                "--password", password or f"{user}pass",
                "--registrar", registrar or f"{pbx.host}:{pbx.sip_port}",
                "--port", str(free_port()),
                "--rtp-port", str(free_port()), "--incoming", incoming,
                "--timeout", str(timeout)]
        if auth_user is not None:
            args += ["--auth-user", auth_user]
        if play is not None:
            args += ["--play", str(play)]
        if record:
            args += ["--record-dir", str(self.dir)]
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.lines: list[str] = []
        self._seen = 0
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.wait(r"^REG 200", 15)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def wait(self, pattern: str, timeout: float = 10.0) -> re.Match[str]:
        """The first event line matching `pattern` after the last one waited for."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for i in range(self._seen, len(self.lines)):
                    m = rx.search(self.lines[i])
                    if m:
                        self._seen = i + 1
                        return m
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    pytest.fail(f"phone {self.user}: no line matching {pattern!r} in "
                                f"{timeout}s:\n" + "\n".join(self.lines))
                self._cond.wait(min(left, 0.5))

    def events(self, prefix: str) -> list[str]:
        with self._cond:
            return [line for line in self.lines if line.startswith(prefix)]

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send("quit")
            except (BrokenPipeError, OSError):
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(2)
