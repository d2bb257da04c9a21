"""Nothing lost: recordings a stop interrupted are filed at the next start,
the spool is checked before the greeting, and a failure to store is told to
the caller (the prompt) and to the log in one line."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from pbx.channel import RecordResult
from pbx.media.recorder import StorageError
from pbx.media.wav import read_wav
from pbx.media.wavstream import WavStream
from pbx.store import Store
from tests.unit.voicemail.conftest import make_channel, make_service, tone
from voicemail import safety
from voicemail.deposit import STORAGE_FAILED_PROMPTS, leave_voicemail
from voicemail.notify import outbox_rows
from voicemail.safety import PendingMessage, check_spool, write_pending


def interrupted(svc: object, samples: np.ndarray, *, flushed: bool = True) -> Path:
    """What a killed PBX leaves: the sidecar, and the .part with a header
    updated at the last flush (or never, when killed before the first)."""
    tmp = svc.mailboxes.tmp_path("default", "123")  # type: ignore[attr-defined]
    write_pending(PendingMessage(mailboxes=[("default", "123")], origtime=1_700_000_000.0,
                                 callerid='"Alice" <6001>', cidnum="6001", cidname="Alice",
                                 channel="SIP/6001-00000001", recording=str(tmp)))
    w = WavStream(str(tmp) + ".part")
    half = len(samples) // 2
    w.write(samples[:half].tobytes())
    if flushed:
        w.flush()
    w.write(samples[half:].tobytes())
    w._file.flush()  # in the kernel, header not updated: then SIGKILL
    w.abandon()
    return tmp


async def test_interrupted_recording_becomes_a_message(store: Store, tmp_path: Path) -> None:
    svc = await make_service(store, tmp_path)
    audio = tone(440, 3.0)
    tmp = interrupted(svc, audio, flushed=False)
    assert await svc.recover() == 1
    [msg] = await svc.mailboxes.messages("default", "123", "INBOX")
    assert (msg.duration, msg.cidnum, msg.origtime) == (3, "6001", 1_700_000_000.0)
    got = np.frombuffer(read_wav(svc.mailboxes.wav_path(msg)), dtype=np.int16)
    assert np.array_equal(got, audio)  # all of it, the unflushed half too
    assert [r["mailbox"] for r in await outbox_rows(store)] == ["123@default"]
    assert list(tmp.parent.iterdir()) == []  # sidecar and .part gone
    assert await svc.recover() == 0  # and nothing is filed twice


async def test_interrupted_recording_shorter_than_minsecs_is_dropped(
        store: Store, tmp_path: Path) -> None:
    conf = "[general]\nminsecs=2\n[default]\n123 => 1234,U,u@example.com\n"
    svc = await make_service(store, tmp_path, conf)
    tmp = interrupted(svc, tone(440, 1.0))
    assert await svc.recover() == 0
    assert await svc.mailboxes.counts("default", "123") == (0, 0)
    assert list(tmp.parent.iterdir()) == []


def test_check_spool(tmp_path: Path) -> None:
    assert check_spool(tmp_path / "spool", 60) is None
    blocker = tmp_path / "file"
    blocker.write_text("")  # a file where the folder should be: even root cannot write
    problem = check_spool(blocker / "tmp", 60)
    assert problem is not None and "is not writable" in problem
    free = shutil.disk_usage(tmp_path).free
    problem = check_spool(tmp_path / "spool", free // 16000 + 10)
    assert problem is not None and "KB free" in problem


async def test_unwritable_spool_is_told_before_the_greeting(
        store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    svc = await make_service(store, tmp_path)
    box = svc.mailboxes.dir("default", "123")
    box.mkdir(parents=True)
    (box / "tmp").write_text("")  # the tmp folder cannot be created
    ch = make_channel()
    with caplog.at_level(logging.ERROR, logger="voicemail"):
        result = await leave_voicemail(svc, ch, "123", "u")
    assert result.status == "FAILED" and ch.variables["VMSTATUS"] == "FAILED"
    assert ch.played == STORAGE_FAILED_PROMPTS  # no greeting, no beep
    assert ch.record_calls == []
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "cannot take a message for 123@default" in errors[0].message


async def test_disk_full_while_recording_is_told_and_what_was_written_is_kept(
        store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    svc = await make_service(store, tmp_path)
    audio = tone(440, 2.0)

    class FullDisk:
        async def __call__(self, path: str, **kw: object) -> RecordResult:
            # The real recorder's behaviour on ENOSPC: the .part holds what was
            # written up to the failure, and StorageError is raised at once.
            w = WavStream(path + ".part")
            w.write(audio.tobytes())
            w.flush()
            w.abandon()
            raise StorageError(28, f"cannot write {path}: No space left on device")

    ch = make_channel()
    ch.record = FullDisk()  # type: ignore[method-assign]
    with caplog.at_level(logging.INFO, logger="voicemail"):
        result = await leave_voicemail(svc, ch, "123", "us")
    assert result.status == "FAILED" and result.reason.startswith("storage:")
    assert ch.played[-2:] == STORAGE_FAILED_PROMPTS
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "No space left on device" in errors[0].message
    # The 2 s that reached the disk became a message right away.
    [msg] = await svc.mailboxes.messages("default", "123", "INBOX")
    assert msg.duration == 2
    assert safety.leftovers(svc.mailboxes.spool) == []
