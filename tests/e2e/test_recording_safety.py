"""Nothing lost, end to end: the PBX is SIGKILLed while a caller leaves a
voicemail and the message is there (audio by content, index, mail) after the
restart; a spool with no room (a small tmpfs) is told to the caller before the
greeting, and a spool that fills up while the caller speaks is told at once,
with one log line each time. The tmpfs needs root, as CI has."""

from __future__ import annotations

import contextlib
import re
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import tests.e2e.test_voicemail as vm
from tests.e2e.harness import PbxProcess
from tests.e2e.media import RtpEndpoint, correlation, g711_roundtrip

pytestmark = pytest.mark.e2e


@pytest.fixture
def smtp() -> Iterator[vm.SmtpServer]:
    server = vm.SmtpServer(vm.free_port(vm.socket.SOCK_STREAM, both=False)).start()
    try:
        yield server
    finally:
        server.stop()


def index_rows(pbx: PbxProcess) -> list[tuple]:
    db = sqlite3.connect(pbx.config_dir / "var" / "pbx.sqlite3")
    try:
        return db.execute("SELECT mailbox, folder, msgnum, duration, cidnum FROM vm_messages"
                          ).fetchall()
    finally:
        db.close()


def test_sigkill_while_recording_keeps_the_message(tmp_path: Path,
                                                   smtp: vm.SmtpServer) -> None:
    pbx = vm.start(vm.vm_config(tmp_path, smtp.port))
    audio = vm.message_audio(3.0)
    with RtpEndpoint() as rtp:
        c = vm.call(pbx, tmp_path, "6002", rtp, "caller")
        try:
            dest = c.media()
            greeting = vm.wait_prompt_end(rtp, 0, "greeting", quiet=0.4)
            assert vm.heard(greeting, "beep")
            rtp.send_audio(dest, audio, 0, background=False)
            time.sleep(0.5)  # recorded and flushed; maxsilence (2 s) not reached
            assert pbx.proc is not None
            pbx.proc.send_signal(signal.SIGKILL)
            pbx.proc.wait(5)
        finally:
            c.proc.kill()
            c.proc.communicate()
    box = pbx.config_dir / "var" / "voicemail" / "default" / "6002"
    assert sorted(p.suffix for p in (box / "tmp").iterdir()) == [".json", ".part"]
    assert vm.spool(pbx, "INBOX") == [] and index_rows(pbx) == []
    pbx.start()  # same config, same storage
    try:
        vm.wait_log(pbx, r"recovered an interrupted \d+\.\d s message")
        assert vm.spool(pbx, "INBOX") == ["msg0000.wav"]
        [(mailbox, folder, msgnum, duration, cidnum)] = index_rows(pbx)
        assert (mailbox, folder, msgnum, cidnum) == ("6002", "INBOX", 0, "6001")
        assert 3 <= duration <= 4, duration
        wav = (box / "INBOX" / "msg0000.wav").read_bytes()
        assert correlation(vm.wav_pcm(wav), g711_roundtrip(audio)) > 0.9
        assert list((box / "tmp").iterdir()) == []
        [mail] = smtp.bag.wait(1, timeout=15)  # the mail goes out as for any message
        assert mail["Subject"] == "[PBX]: New message 1 in mailbox 6002"
    finally:
        pbx.stop()


@contextlib.contextmanager
def tmpfs(path: Path, size_kb: int) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs",
                           str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs (this test needs root, as CI has): "
                    f"{done.stderr.strip()}", pytrace=False)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def errors_about(pbx: PbxProcess, what: str) -> list[str]:
    return [line for line in pbx.log().splitlines() if " ERROR " in line and what in line]


def test_full_spool_is_told_before_the_greeting(tmp_path: Path, smtp: vm.SmtpServer) -> None:
    proc = vm.vm_config(tmp_path, smtp.port)
    with tmpfs(tmp_path / "var" / "voicemail", 64):
        pbx = vm.start(proc)
        try:
            with RtpEndpoint() as rtp:
                c = vm.call(pbx, tmp_path, "6002", rtp, "caller")
                c.media()
                c.finish(pbx)  # the PBX hangs up after telling the caller
                said = vm.pcm_since(rtp, 0)
            assert vm.heard(said, "an-error-has-occurred") and vm.heard(said, "vm-goodbye")
            assert not vm.heard(said, "vm-isunavail") and not vm.heard(said, "beep")
            lines = errors_about(pbx, "cannot take a message for 6002@default")
            assert len(lines) == 1 and "KB free" in lines[0], pbx.log()[-3000:]
        finally:
            pbx.stop()


def test_spool_filling_up_while_recording_is_told_at_once(tmp_path: Path,
                                                          smtp: vm.SmtpServer) -> None:
    proc = vm.vm_config(tmp_path, smtp.port)
    conf = (tmp_path / "voicemail.conf").read_text().replace("minsecs=1", "minsecs=1\nmaxsecs=4")
    (tmp_path / "voicemail.conf").write_text(conf)
    with tmpfs(tmp_path / "var" / "voicemail", 256) as spool:
        pbx = vm.start(proc)
        try:
            with RtpEndpoint() as rtp:
                c = vm.call(pbx, tmp_path, "6002", rtp, "caller")
                dest = c.media()
                vm.wait_prompt_end(rtp, 0, "greeting", quiet=0.4)
                since = vm.mark(rtp)
                started = time.monotonic()
                rtp.send_audio(dest, vm.message_audio(3.0), 0)
                time.sleep(0.5)  # recording; now something else fills the disk
                with contextlib.suppress(OSError), open(spool / "filler", "wb") as f:
                    while True:
                        f.write(bytes(4096))
                        f.flush()
                told = vm.wait_prompt_end(rtp, since, "the failure prompt", quiet=0.4)
                assert time.monotonic() - started < 3.0, "told only after the caller finished"
                c.finish(pbx)
            assert vm.heard(told, "an-error-has-occurred")
            lines = errors_about(pbx, "message for 6002@default not stored")
            assert len(lines) == 1 and re.search(r"No space left|File too large", lines[0]), \
                pbx.log()[-3000:]
        finally:
            pbx.stop()
