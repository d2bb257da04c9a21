"""VoiceMail(): greetings, recording, storage, VMSTATUS, jumps."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from dialplan.apps import AppContext, AppRegistry
from dialplan.services import DialplanServices
from pbx.channel import AppError
from pbx.store import Store
from tests.unit.voicemail.conftest import make_channel, make_service, tone, write_wav
from voicemail.deposit import leave_voicemail, parse_options
from voicemail.notify import outbox_rows
from voicemail.service import VoicemailService


async def test_deposit_unavailable(service: VoicemailService) -> None:
    audio = tone(500, 2.0)
    ch = make_channel(recordings=[(audio, "dtmf:#")])
    result = await leave_voicemail(service, ch, "123@default", "u")
    assert result.status == "SUCCESS" and ch.variables["VMSTATUS"] == "SUCCESS"
    assert ch.played == ["vm-theperson", "digits/1", "digits/2", "digits/3", "vm-isunavail",
                         "vm-intro", "beep"]
    assert ch.record_calls[0]["max_seconds"] == 300
    assert await service.mailboxes.counts("default", "123") == (1, 0)
    [msg] = await service.mailboxes.messages("default", "123", "INBOX")
    assert (msg.msgnum, msg.duration, msg.cidnum, msg.cidname) == (0, 2, "6001", "Alice")
    assert msg.callerid == '"Alice" <6001>'
    wav = service.mailboxes.wav_path(msg)
    assert wav == service.mailboxes.spool / "default" / "123" / "INBOX" / "msg0000.wav"
    with wave.open(str(wav)) as w:
        got = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    assert np.array_equal(got, audio)
    txt = wav.with_suffix(".txt").read_text()
    assert "callerid=\"Alice\" <6001>" in txt and "duration=2" in txt
    # The outbox row was written with the message.
    rows = await outbox_rows(service.store)
    assert [(r["mailbox"], r["to"], r["attempts"]) for r in rows] == \
        [("123@default", "user@example.com", 0)]
    # No temporary recordings left behind.
    assert list((service.mailboxes.spool / "default" / "123" / "tmp").iterdir()) == []


async def test_second_message_numbered_and_busy_default(service: VoicemailService) -> None:
    await leave_voicemail(service, make_channel(), "123", "")
    ch = make_channel()
    await leave_voicemail(service, ch, "123", "bs")
    assert ch.played == ["vm-theperson", "digits/1", "digits/2", "digits/3", "vm-isonphone",
                         "beep"]
    msgs = await service.mailboxes.messages("default", "123", "INBOX")
    assert [m.msgnum for m in msgs] == [0, 1]


async def test_recorded_greetings_and_temp_override(service: VoicemailService) -> None:
    boxes = service.mailboxes
    write_wav(boxes.greeting_path("default", "123", "busy"), tone(300, 0.5))
    ch = make_channel()
    await leave_voicemail(service, ch, "123", "b")
    assert ch.played[0] == str(boxes.dir("default", "123") / "busy")
    write_wav(boxes.greeting_path("default", "123", "greet"), tone(300, 0.5))
    ch = make_channel()
    await leave_voicemail(service, ch, "123", "u")
    assert ch.played[:2] == [str(boxes.dir("default", "123") / "greet"), "vm-isunavail"]
    write_wav(boxes.greeting_path("default", "123", "temp"), tone(300, 0.5))
    ch = make_channel()
    await leave_voicemail(service, ch, "123", "b")
    assert ch.played[0] == str(boxes.dir("default", "123") / "temp")


async def test_too_short_is_discarded(store: Store, tmp_path: Path) -> None:
    conf = "[general]\nminmessage=3\n[default]\n123 => 1234,U,u@example.com\n"
    svc = await make_service(store, tmp_path, conf)
    ch = make_channel(recordings=[(tone(440, 1.0), "dtmf:#")])
    result = await leave_voicemail(svc, ch, "123", "")
    assert result.status == "FAILED" and ch.variables["VMSTATUS"] == "FAILED"
    assert await svc.mailboxes.counts("default", "123") == (0, 0)
    assert await outbox_rows(store) == []
    assert list((svc.mailboxes.spool / "default" / "123" / "tmp").iterdir()) == []


async def test_short_message_ended_by_silence_is_discarded(store: Store,
                                                             tmp_path: Path) -> None:
    conf = "[general]\nminsecs=2\nmaxsilence=3\n[default]\n123 => 1234,U,u@example.com\n"
    svc = await make_service(store, tmp_path, conf)
    # What the recorder keeps when silence ends it: the message and 0.2 s of the
    # silence (like Asterisk). 1.2 s is less than minsecs.
    ch = make_channel(recordings=[(np.concatenate([tone(440, 1.0), np.zeros(1600, np.int16)]),
                                   "silence")])
    assert (await leave_voicemail(svc, ch, "123", "")).status == "FAILED"
    assert ch.record_calls[0]["silence_seconds"] == 3


async def test_zero_and_star_leave(service: VoicemailService) -> None:
    ch = make_channel(script="0")
    result = await leave_voicemail(service, ch, "123", "u", has_exten=lambda e: e in "oa")
    assert (result.status, result.jump) == ("USEREXIT", "o")
    assert ch.variables["VMSTATUS"] == "USEREXIT" and ch.record_calls == []
    ch = make_channel(script="*")
    result = await leave_voicemail(service, ch, "123", "u", has_exten=lambda e: e in "oa")
    assert (result.status, result.jump) == ("USEREXIT", "a")
    # Without an `o` extension, 0 does not interrupt.
    ch = make_channel(script="0")
    result = await leave_voicemail(service, ch, "123", "u")
    assert result.status == "SUCCESS"


async def test_pound_skips_to_beep(service: VoicemailService) -> None:
    ch = make_channel(script="#")
    await leave_voicemail(service, ch, "123", "u")
    assert ch.played[-1] == "beep" and "vm-intro" not in ch.played


async def test_hangup_while_recording_keeps_message(service: VoicemailService) -> None:
    ch = make_channel(recordings=[(tone(440, 3.0), "hangup")])
    result = await leave_voicemail(service, ch, "123", "u")
    assert result.status == "SUCCESS"
    assert await service.mailboxes.counts("default", "123") == (1, 0)


async def test_several_mailboxes(service: VoicemailService) -> None:
    result = await leave_voicemail(service, make_channel(), "123&124@default&999", "")
    assert result.status == "SUCCESS" and len(result.messages) == 2
    assert await service.mailboxes.counts("default", "123") == (1, 0)
    assert await service.mailboxes.counts("default", "124") == (1, 0)
    assert len(await outbox_rows(service.store)) == 2


async def test_unknown_mailbox_and_full_mailbox(store: Store, tmp_path: Path) -> None:
    svc = await make_service(store, tmp_path, "[general]\nmaxmsg=1\n[default]\n1 => 1,A\n")
    ch = make_channel()
    assert (await leave_voicemail(svc, ch, "999", "")).status == "FAILED"
    assert (await leave_voicemail(svc, make_channel(), "1", "")).status == "SUCCESS"
    ch = make_channel()
    assert (await leave_voicemail(svc, ch, "1", "")).status == "FAILED"
    assert ch.played == ["vm-mailboxfull"]
    assert await outbox_rows(store) == []  # no email address: no mail


def test_parse_options() -> None:
    assert parse_options("sug(3)d(ctx)") == {"s": "", "u": "", "g": "3", "d": "ctx"}


class _Interp:
    """Answers AppContext.exists() for the extensions given."""

    def __init__(self, extens: set[str]) -> None:
        self.extens = extens

    def find_step(self, scope: object, context: str, exten: str, priority: int) -> object | None:
        return object() if exten in self.extens and priority == 1 else None


async def test_application_uses_the_service_of_its_pbx(service: VoicemailService) -> None:
    apps = AppRegistry.builtin()
    assert "voicemail" in apps and "voicemailmain" in apps
    services = DialplanServices(voicemail=service)
    ch = make_channel(script="0")
    ctx = AppContext(channel=ch, scope=None, interpreter=_Interp({"o"}),  # type: ignore[arg-type]
                     services=services)
    await apps.get("VoiceMail")(ctx, ["123@default", "u"])  # type: ignore[misc]
    assert ctx.jump_to is not None
    assert (ctx.jump_to.context, ctx.jump_to.exten, ctx.jump_to.priority) == \
        ("internal", "o", 1)
    ch = make_channel()
    ctx = AppContext(channel=ch, scope=None, interpreter=_Interp(set()),  # type: ignore[arg-type]
                     services=services)
    await apps.get("voicemail")(ctx, ["123", "u"])  # type: ignore[misc]
    assert ctx.jump_to is None and ch.variables["VMSTATUS"] == "SUCCESS"
    assert await service.mailboxes.counts("default", "123") == (1, 0)


async def test_application_without_a_voicemail_service_fails_the_call() -> None:
    ctx = AppContext(channel=make_channel(), scope=None,  # type: ignore[arg-type]
                     interpreter=_Interp(set()), services=DialplanServices())
    with pytest.raises(AppError, match="voicemail is not configured"):
        await AppRegistry.builtin().get("VoiceMail")(ctx, ["123"])  # type: ignore[misc]
