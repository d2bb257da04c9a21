"""Fakes for the IVR application tests: a channel whose caller presses keys at
given moments and that records tones, a voicemail service holding a real
voicemail.conf, a clock the test sets."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dialplan.interpreter import Interpreter, RunResult
from dialplan.services import DialplanServices
from pbx.channel import CallerId, Hangup
from pbx.diagnostics import Diagnostic
from tests.unit.dialplan.test_interpreter import FakeChannel, dialplan
from voicemail.config import VoicemailConfig, load_voicemail_conf

# In a script, "_" is a moment the caller lets pass: the prompt playing then
# ends, the digit wait then times out.
PASS = "_"


class IvrChannel(FakeChannel):
    """FakeChannel plus tones; `script` digits are taken by the next prompt or wait."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tonezone = ""

    async def play(self, prompts: list[str], interrupt: str = "") -> str:
        self.check_hangup()
        self.calls.append(("play", list(prompts)))
        if self.hang_up_on_play:
            await self.hangup(16)
            raise Hangup(self.name)
        if self.script and self.script[0] == PASS:
            self.script.pop(0)
            return ""
        if interrupt and self.script and self.script[0] in interrupt:
            return self.script.pop(0)
        return ""

    async def wait_digit(self, timeout: float) -> str | None:
        self.check_hangup()
        self.calls.append(("wait_digit", timeout))
        if not self.script:
            return None
        d = self.script.pop(0)
        return None if d == PASS else d

    async def start_tones(self, tones: Any) -> None:
        self.check_hangup()
        self.calls.append(("tones", tones.text))

    def stop_tones(self) -> None:
        self.calls.append(("stop_tones", None))

    def plays(self) -> list[list[str]]:
        """Each play request (one application call), in order."""
        return [list(ps) for kind, ps in self.calls if kind == "play"]  # type: ignore[arg-type]


@dataclass
class Clock:
    wall: float = 1_700_000_000.0
    mono: float = 100.0

    def time(self) -> float:
        return self.wall

    def monotonic(self) -> float:
        return self.mono


@dataclass
class FakeMailboxes:
    spool: Path

    def greeting(self, context: str, mailbox: str, kind: str) -> Path | None:
        p = self.spool / context / mailbox / f"{kind}.wav"
        return p if p.is_file() else None


@dataclass
class FakeVoicemail:
    """What Directory uses of voicemail.service.VoicemailService."""

    config: VoicemailConfig
    mailboxes: FakeMailboxes
    diagnostics: list[Diagnostic] = field(default_factory=list)


def voicemail(tmp: Path, text: str) -> FakeVoicemail:
    path = tmp / "voicemail.conf"
    path.write_text(text)
    diags: list[Diagnostic] = []
    config = load_voicemail_conf(path, diags)
    assert not [d for d in diags if d.severity == "error"], diags
    return FakeVoicemail(config, FakeMailboxes(tmp / "spool"), diags)


def call(text: str, exten: str, *, script: str | list[str] = "", context: str = "test",
         services: DialplanServices | None = None) -> tuple[RunResult, IvrChannel]:
    ch = IvrChannel("SIP/alice-00000001", context=context, exten=exten,
                    callerid=CallerId(num="100"), script=list(script))
    interp = Interpreter(dialplan(text), services or DialplanServices(), max_steps=200)
    result = asyncio.run(interp.run(ch))
    return result, ch
