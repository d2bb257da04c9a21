"""Start the real PBX on free loopback ports and talk to it with real peers."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PBX_BIN = [sys.executable, "-m", "pbx.cli"]

PEERS = """\
[general]
context=default
allowguest=no
minexpiry=60
maxexpiry=3600
defaultexpiry=120

[office](!)
type=friend
host=dynamic
context=internal

[6001](office)
secret=6001pass
callerid="Alice" <6001>
mailbox=6001@default

[6002](office)
secret=6002pass
callerid="Bob" <6002>

[TEST]
type=friend
context=internal
host=dynamic

[ZhangSan]
type=friend
context=internal
host=dynamic
secret=zhang
mailbox=123@default
"""

DIALPLAN = """\
[general]
autofallthrough=yes

[default]

[internal]
exten => 999,1,Answer()
exten => 999,n,Playback(tt-weasels)
exten => 999,n,Hangup()
exten => 700,1,Answer()
 same => n,Hangup()
"""


def require_tool(name: str) -> str:
    """The path of a tool the test needs; a missing tool FAILS the test (never skips):
    `make test` installs it when run as root."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"required tool '{name}' is not installed: run `make test` as root "
                    f"(it installs Debian's packages) or apt-get install it", pytrace=False)
    return path


def free_port(kind: int = socket.SOCK_DGRAM, both: bool = True, host: str = "127.0.0.1") -> int:
    """A port free for UDP and TCP at once (SIP listens on both)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(50):
        with socket.socket(family, kind) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        if not both:
            return port
        other = socket.SOCK_STREAM if kind == socket.SOCK_DGRAM else socket.SOCK_DGRAM
        try:
            with socket.socket(family, other) as s:
                s.bind((host, port))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port")


@dataclass
class PbxProcess:
    config_dir: Path
    sip_port: int
    http_port: int
    host: str = "127.0.0.1"
    proc: subprocess.Popen | None = None
    log_path: Path | None = None
    extra_env: dict = field(default_factory=dict)

    def start(self, *args: str) -> PbxProcess:
        self.log_path = self.config_dir / f"pbx-{int(time.time() * 1000)}.log"
        log = open(self.log_path, "wb")  # noqa: SIM115 - closed with the process
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.extra_env}
        self.proc = subprocess.Popen([*PBX_BIN, "run", "--config-dir", str(self.config_dir),
                                      "-vv", *args], stdout=log, stderr=subprocess.STDOUT,
                                     cwd=REPO, env=env)
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"pbx exited with {self.proc.returncode}:\n{self.log()}")
            if options_ok(self.host, self.sip_port, timeout=0.3):
                return
        raise RuntimeError(f"pbx did not answer OPTIONS within {timeout}s:\n{self.log()}")

    def stop(self, timeout: float = 5.0) -> float:
        """SIGTERM and wait; returns how long the shutdown took."""
        if self.proc is None or self.proc.poll() is not None:
            return 0.0
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        return time.monotonic() - t0

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def mgmt(self, path: str, method: str = "GET") -> dict:
        """Ask the management endpoint, with the token `pbx run` made in the storage dir."""
        import json
        import urllib.request

        token = (self.config_dir / "var" / "mgmt.token").read_text().strip()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.http_port}{path}", method=method,
            data=b"" if method == "POST" else None,
            headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=5) as r:
            return json.loads(r.read())

    def cli(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
        return subprocess.run([*PBX_BIN, *args, "--config-dir", str(self.config_dir)],
                              capture_output=True, text=True, cwd=REPO, timeout=timeout)


def make_config(tmp: Path, *, sip_conf: str = PEERS, extensions: str = DIALPLAN,
                host: str = "127.0.0.1", extra_yaml: str = "") -> PbxProcess:
    port = free_port(host=host)
    http = free_port(socket.SOCK_STREAM, both=False)
    lo, hi = rtp_range()
    h = f"[{host}]" if ":" in host else host
    (tmp / "pbx.yaml").write_text(f"""\
sip:
  listen: ["udp:{h}:{port}", "tcp:{h}:{port}"]
  realm: pbx
  user_agent: PBX-test
rtp: {{ports: [{lo}, {hi}]}}
storage: {{dir: var}}
http: {{listen: "127.0.0.1:{http}"}}
{extra_yaml}""")
    (tmp / "sip.conf").write_text(sip_conf)
    (tmp / "extensions.conf").write_text(extensions)
    return PbxProcess(tmp, port, http, host=host)


_rtp_next = [30000 + (os.getpid() % 200) * 100]


def rtp_range() -> tuple[int, int]:
    """An RTP port range of its own for each PBX a test run starts."""
    lo = _rtp_next[0]
    if lo + 198 > 65000:  # a whole suite starts hundreds of PBXs: wrap, not overflow
        lo = 30000
    _rtp_next[0] = lo + 200
    return lo, lo + 198


def options_ok(host: str, port: int, timeout: float = 1.0) -> bool:
    """Send one OPTIONS over UDP; True if any SIP response comes back."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        s.settimeout(timeout)
        lport = s.getsockname()[1]
        h = f"[{host}]" if ":" in host else host
        msg = (f"OPTIONS sip:{h}:{port} SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP {h}:{lport};branch=z9hG4bK{uuid.uuid4().hex};rport\r\n"
               f"From: <sip:probe@{h}>;tag={uuid.uuid4().hex[:8]}\r\n"
               f"To: <sip:{h}:{port}>\r\nCall-ID: {uuid.uuid4().hex}\r\nCSeq: 1 OPTIONS\r\n"
               "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode()
        try:
            s.sendto(msg, (host, port))
            data, _ = s.recvfrom(65535)
            return data.startswith(b"SIP/2.0 ")
        except OSError:
            return False


def udp_exchange(host: str, port: int, data_for_port, timeout: float = 2.0,
                 expect_reply: bool = True) -> bytes | None:
    """Send one datagram built for our local port; return the first reply or None."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        s.settimeout(timeout if expect_reply else 0.5)
        s.sendto(data_for_port(s.getsockname()[1]), (host, port))
        with contextlib.suppress(TimeoutError, socket.timeout):
            data, _ = s.recvfrom(65535)
            return data
    return None
