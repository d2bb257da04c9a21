"""Kamailio as a SIP provider on loopback (tests/e2e/provider/provider.cfg), on free ports."""

from __future__ import annotations

import glob
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.harness import free_port, require_tool

CFG = Path(__file__).resolve().parent / "provider" / "provider.cfg"
REALM = "pbx.test"


def password(user: str) -> str:
    """The provider's password rule: any user N has the password pwN."""
    return f"pw{user}"


@dataclass
class Provider:
    """One running Kamailio; ``defines`` are provider.cfg's -A switches. ``host`` is
    a loopback address: 127.0.0.2 keeps the provider apart from phones on 127.0.0.1
    (a PBX identifies its trunk by source address)."""

    run_dir: Path
    port: int
    defines: tuple[str, ...] = ()
    proc: subprocess.Popen | None = None
    host: str = "127.0.0.1"

    @property
    def ctl(self) -> Path:
        return self.run_dir / "kamailio_ctl"

    @property
    def log_path(self) -> Path:
        return self.run_dir / "kamailio.log"

    def start(self) -> Provider:
        kamailio = require_tool("kamailio")
        require_tool("kamcmd")
        modules = sorted(glob.glob("/usr/lib/*/kamailio/modules/tm.so"))
        assert modules, "kamailio's modules are not installed (Debian package kamailio)"
        self.run_dir.mkdir(parents=True, exist_ok=True)
        cfg = CFG.read_text()
        if not self.host.startswith("127."):
            raise ValueError("the provider only listens on loopback")
        cfg = cfg.replace("127.0.0.1:5070", f"{self.host}:{self.port}")
        cfg = cfg.replace("127.0.0.1:5066", f"{self.host}:{free_port(host=self.host)}")
        cfg = cfg.replace("@CTL_SOCKET@", str(self.ctl))
        mpath = os.path.dirname(modules[0]) + "/"
        cfg = "\n".join(f'mpath="{mpath}"' if line.startswith("mpath=") else line
                        for line in cfg.splitlines()) + "\n"
        (self.run_dir / "provider.cfg").write_text(cfg)
        args = [kamailio, "-f", str(self.run_dir / "provider.cfg"), "-DD", "-E",
                "-w", str(self.run_dir)]
        for define in self.defines:
            args += ["-A", define]
        log = open(self.log_path, "wb")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"kamailio exited with {self.proc.returncode}:\n{self.log()}")
            if self.ctl.exists() and self.kamcmd("core.version", check=False).returncode == 0:
                return self
            time.sleep(0.05)
        raise RuntimeError(f"kamailio did not start within 10 s:\n{self.log()}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        # kamailio forks its workers into our session: signal the group we started.
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:] if self.log_path.exists() \
            else ""

    def kamcmd(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(["kamcmd", "-s", f"unix:{self.ctl}", *args],
                                capture_output=True, text=True, timeout=10)
        if check and result.returncode != 0:
            raise RuntimeError(f"kamcmd {' '.join(args)} failed: {result.stderr}")
        return result

    def contacts(self, user: str) -> list[str]:
        """The contacts registered for ``user`` (kamcmd ul.lookup location <aor>)."""
        aor = f"{user}"
        result = self.kamcmd("ul.lookup", "location", aor, check=False)
        if result.returncode != 0:
            return []  # 404 AOR not found
        return [line.split(":", 1)[1].strip() for line in result.stdout.splitlines()
                if line.strip().startswith("Address:")]


def start_provider(tmp: Path, *defines: str, host: str = "127.0.0.1") -> Provider:
    return Provider(tmp / "kamailio", free_port(host=host), tuple(defines), host=host).start()
