"""baresip phones for the end-to-end tests, driven over ctrl_tcp (netstring JSON).

Each instance gets its own config dir: it listens on loopback, plays a WAV
file as its microphone (aufile) and dumps what it hears to WAV (sndfile,
`dump-*-dec.wav`); the audio player is ALSA's null device.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import time
from pathlib import Path

from tests.e2e.harness import free_port, require_tool


class Baresip:
    """One baresip process registered as `user` at the PBX."""

    def __init__(self, workdir: Path, user: str, password: str, pbx_host: str, pbx_port: int,
                 mic_wav: Path, *, codecs: str = "PCMU", srate: int = 8000) -> None:
        """`codecs`: the account's audio_codecs (e.g. "G722", "opus,PCMU"); `srate`:
        the phone's audio rate (its microphone WAV must have it)."""
        self.binary = require_tool("baresip")
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.user = user
        self.sip_port = free_port()
        self.ctrl_port = free_port(socket.SOCK_STREAM, both=False)
        wanted = {"PCMU": "g711", "PCMA": "g711", "G722": "g722", "OPUS": "opus"}
        mods = sorted({wanted[c.strip().upper()] for c in codecs.split(",")})
        modules = "\n".join(f"module\t\t\t{m}.so" for m in mods)
        (self.dir / "config").write_text(f"""\
poll_method		epoll
sip_listen		127.0.0.1:{self.sip_port}
audio_player		alsa,null
audio_source		aufile,{mic_wav}
audio_alert		alsa,null
audio_srate		{srate}
audio_channels		1
rtp_ports		{self.sip_port + 1}-{self.sip_port + 40}
module_path		/usr/lib/baresip/modules
{modules}
module			aufile.so
module			alsa.so
module			sndfile.so
module_app		account.so
module_app		menu.so
module_app		ctrl_tcp.so
ctrl_tcp_listen		127.0.0.1:{self.ctrl_port}
snd_path		{self.dir}
net_interface		127.0.0.1
""")
        (self.dir / "accounts").write_text(
            f"<sip:{user}@{pbx_host}:{pbx_port};transport=udp>;auth_pass={password};"
            f"answermode=auto;regint=300;audio_codecs={codecs}\n")
        (self.dir / "contacts").write_text("")
        self.log_path = self.dir / "baresip.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([self.binary, "-f", str(self.dir), "-v"],
                                     stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, cwd=self.dir)
        self.events: list[dict] = []
        self._buf = b""
        self.ctrl = self._connect()
        self._token = 0

    def _connect(self, timeout: float = 10.0) -> socket.socket:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"baresip exited: {self.log()}")
            try:
                s = socket.create_connection(("127.0.0.1", self.ctrl_port), timeout=1)
                s.settimeout(0.2)
                return s
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"baresip ctrl_tcp not up: {self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def command(self, command: str, params: str = "") -> None:
        self._token += 1
        body = json.dumps({"command": command, "params": params,
                           "token": str(self._token)}).encode()
        self.ctrl.sendall(str(len(body)).encode() + b":" + body + b",")

    def _read(self) -> None:
        try:
            data = self.ctrl.recv(65536)
        except (TimeoutError, OSError):
            return
        self._buf += data
        while b":" in self._buf:
            size, _, rest = self._buf.partition(b":")
            n = int(size)
            if len(rest) < n + 1:
                return
            with contextlib.suppress(ValueError):
                self.events.append(json.loads(rest[:n]))
            self._buf = rest[n + 1:]

    def wait_event(self, kind: str, timeout: float = 10.0) -> dict:
        """Wait for an event of type `kind` (e.g. REGISTER_OK, CALL_ESTABLISHED)."""
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            for ev in self.events[seen:]:
                if ev.get("type") == kind:
                    return ev
            seen = len(self.events)
            self._read()
        raise AssertionError(f"{self.user}: no {kind} in {timeout}s; events "
                             f"{[e.get('type') for e in self.events]}\n{self.log()}")

    def wait_registered(self, timeout: float = 10.0) -> None:
        """Registration often completes before ctrl_tcp is connected (no event
        then): its log line says it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "200 OK" in self.log() and "binding]" in self.log():
                return
            time.sleep(0.1)
        raise AssertionError(f"{self.user} did not register:\n{self.log()}")

    def received_wav(self) -> Path | None:
        """The dump of what this phone heard (decoded), once written."""
        dumps = sorted(self.dir.glob("dump-*-dec.wav"))
        return dumps[-1] if dumps else None

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.command("quit")
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.ctrl.close()
        self._log.close()
