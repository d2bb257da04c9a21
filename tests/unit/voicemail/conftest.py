"""Fixtures for voicemail tests: a scripted fake channel, a store, a service."""

from __future__ import annotations

import socket
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from pbx.channel import CallerId, Channel, ChannelState, Hangup, RecordResult
from pbx.config import Settings, SmtpSettings
from pbx.diagnostics import Diagnostic
from pbx.store import Store
from voicemail.config import VoicemailConfig, load_voicemail_conf
from voicemail.mwi import MwiNotifier
from voicemail.service import VoicemailService

SEED = """\
[general]
format=wav49|gsm
serveremail=Asterisk
attach=yes
maxmessage=300
mailcmd=/usr/sbin/ssmtp -t

[default]
123 => 1234,User1,user@example.com
"""

RATE = 8000


def tone(freq: float, seconds: float, amplitude: int = 8000) -> np.ndarray:
    """Known audio: a sine with a little chirp so correlation has one clear peak."""
    t = np.arange(int(RATE * seconds)) / RATE
    return (amplitude * np.sin(2 * np.pi * (freq + 200 * t) * t)).astype(np.int16)


def write_wav(path: Path, samples: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with wave.open(str(tmp), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(samples.tobytes())
    tmp.replace(path)


def read_wav_bytes(data: bytes) -> np.ndarray:
    import io

    with wave.open(io.BytesIO(data), "rb") as w:
        assert (w.getframerate(), w.getsampwidth(), w.getnchannels()) == (RATE, 2, 1)
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)


class FakeChannel(Channel):
    """Scripted caller: digits are typed ahead; a prompt that accepts the next
    digit is interrupted by it; when the script runs out, the caller hangs up."""

    def __init__(self, *args: object, script: str = "",
                 recordings: list[tuple[np.ndarray, str]] | None = None,
                 **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.script = list(script)
        self.recordings = list(recordings or [])
        self.played: list[str] = []
        self.record_calls: list[dict[str, object]] = []

    async def play(self, prompts: list[str], interrupt: str = "") -> str:
        self.check_hangup()
        self.played.extend(prompts)
        if interrupt and self.script and self.script[0] in interrupt:
            return self.script.pop(0)
        return ""

    async def wait_digit(self, timeout: float) -> str | None:
        self.check_hangup()
        if not self.script:
            await self.hangup(16)
            raise Hangup(self.name)
        d = self.script.pop(0)
        return None if d == "_" else d  # "_" is a timeout

    async def record(self, path: str, *, max_seconds: float = 0, silence_seconds: float = 0,
                     silence_threshold: int = 256, stop_digits: str = "#") -> RecordResult:
        self.check_hangup()
        self.record_calls.append({"path": path, "max_seconds": max_seconds,
                                  "silence_seconds": silence_seconds,
                                  "stop_digits": stop_digits})
        samples, stopped_by = self.recordings.pop(0) if self.recordings else \
            (tone(440, 1.0), "dtmf:#")
        write_wav(Path(path), samples)
        if stopped_by == "hangup":
            await self.hangup(16)
        return RecordResult(path=path, seconds=len(samples) / RATE, stopped_by=stopped_by)


def make_channel(script: str = "", recordings: list[tuple[np.ndarray, str]] | None = None,
                 num: str = "6001", name: str = "Alice") -> FakeChannel:
    ch = FakeChannel("SIP/6001-00000001", context="internal", exten="123",
                     callerid=CallerId(num=num, name=name), script=script,
                     recordings=recordings)
    ch.state = ChannelState.UP
    return ch


def load_conf(tmp_path: Path, text: str) -> tuple[VoicemailConfig, list[Diagnostic]]:
    p = tmp_path / "voicemail.conf"
    p.write_text(text)
    diags: list[Diagnostic] = []
    return load_voicemail_conf(p, diags), diags


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


CONF = """\
[general]
serveremail=pbx@example.com
attach=yes
maxsecs=300
emaildateformat=%Y-%m-%d %H:%M

[default]
123 => 1234,User1,user@example.com
124 => 1111,User2,user2@example.com
125 => 2222,NoMail
"""


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(tmp_path / "pbx.sqlite3")
    yield s
    await s.close()


def make_settings(tmp_path: Path, smtp_host: str | None = None, port: int = 25) -> Settings:
    return Settings(config_dir=tmp_path, storage_dir=tmp_path / "var",
                    smtp=SmtpSettings(host=smtp_host, port=port, timeout=5))


async def make_service(store: Store, tmp_path: Path, conf: str = CONF,
                       smtp_host: str | None = None, port: int = 25,
                       mwi: MwiNotifier | None = None, **kw: float) -> VoicemailService:
    config, diags = load_conf(tmp_path, conf)
    assert not [d for d in diags if d.severity == "error"], diags
    svc = VoicemailService(store, make_settings(tmp_path, smtp_host, port), config, mwi,
                           hostname="pbx.test", **kw)
    await svc.init()
    return svc


@pytest.fixture
async def service(store: Store, tmp_path: Path) -> VoicemailService:
    return await make_service(store, tmp_path)
