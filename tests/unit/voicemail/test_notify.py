"""Email: content, SMTP delivery to a real aiosmtpd, the outbox across restarts."""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from aiosmtpd.controller import Controller

from pbx.store import Store
from tests.unit.voicemail.conftest import (
    free_port,
    make_channel,
    make_service,
    read_wav_bytes,
    tone,
)
from voicemail.deposit import leave_voicemail
from voicemail.notify import duration_text, outbox_rows, substitute


class Collector:
    """aiosmtpd handler keeping every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.event = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos),
                              bytes(envelope.original_content or envelope.content)))
        self.event.set()
        return "250 OK"


def start_smtp(port: int | None = None) -> tuple[Controller, Collector]:
    handler = Collector()
    controller = Controller(handler, hostname="127.0.0.1", port=port or free_port())
    controller.start()
    return controller, handler


async def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    n = min(len(a), len(b))
    return float(np.dot(a[:n], b[:n]) / (np.linalg.norm(a[:n]) * np.linalg.norm(b[:n])))


async def test_email_to_smtp_server(store: Store, tmp_path: Path) -> None:
    controller, handler = start_smtp()
    try:
        svc = await make_service(store, tmp_path, smtp_host="127.0.0.1",
                                 port=controller.port)
        audio = tone(600, 3.0)
        ch = make_channel(recordings=[(audio, "dtmf:#")])
        await leave_voicemail(svc, ch, "123", "u")
        assert await svc.outbox.deliver_due() == 1
        [(mail_from, rcpt, raw)] = handler.messages
        assert mail_from == "pbx@example.com" and rcpt == ["user@example.com"]
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        assert msg["Subject"] == "[PBX]: New message 1 in mailbox 123"
        assert msg["From"] == "Asterisk PBX <pbx@example.com>"
        assert msg["To"] == "User1 <user@example.com>"
        body = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
        date = time.strftime("%Y-%m-%d %H:%M")[:-1]  # emaildateformat, minute may tick
        assert body.startswith("Dear User1:\n\n\tJust wanted to let you know you were just "
                               "left a 0:03 long message (number 1)\nin mailbox 123 from Alice, "
                               "on ")
        assert date in body
        [att] = list(msg.iter_attachments())
        assert att.get_content_type() == "audio/x-wav"
        assert att.get_filename() == "msg0000.wav"
        got = read_wav_bytes(att.get_content())
        assert len(got) == len(audio)
        assert correlation(got, audio) > 0.99
        assert await outbox_rows(store) == []
        # Sent once: another pass sends nothing.
        assert await svc.outbox.deliver_due() == 0
        assert len(handler.messages) == 1
    finally:
        controller.stop()


async def test_templates(store: Store, tmp_path: Path) -> None:
    conf = r"""[general]
serveremail=vm@example.com
fromstring=Voicemail for ${VM_NAME}
attach=no
emailsubject=${VM_MSGNUM}|${VM_MAILBOX}|${VM_NAME}|${VM_DUR}
emailbody=N=${VM_NAME}\nD=${VM_DUR}\nM=${VM_MSGNUM}\nB=${VM_MAILBOX}\nC=${VM_CALLERID}\nCN=${VM_CIDNUM}\nCA=${VM_CIDNAME}\nT=${VM_DATE}\tX=${NOPE}
emaildateformat=%Y
[default]
123 => 1234,User One,user@example.com
"""
    svc = await make_service(store, tmp_path, conf)  # no SMTP host: .eml files
    await leave_voicemail(svc, make_channel(recordings=[(tone(400, 65.0), "dtmf:#")],
                                            num="5551234", name=""), "123", "")
    assert await svc.outbox.deliver_due() == 1
    [eml] = list((tmp_path / "var" / "outbox").glob("*.eml"))
    assert eml.name == "000001-123@default.eml"
    msg = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert msg["Subject"] == "1|123|User One|1:05"
    assert msg["From"] == "Voicemail for User One <vm@example.com>"
    assert not list(msg.iter_attachments())
    year = time.strftime("%Y")
    assert msg.get_content() == (
        f"N=User One\nD=1:05\nM=1\nB=123\nC=5551234\nCN=5551234\nCA=an unknown caller\n"
        f"T={year}\tX=\n")


def test_helpers() -> None:
    assert duration_text(5) == "0:05" and duration_text(125) == "2:05"
    assert substitute("a ${X} b ${Y} ${", {"X": "1"}) == "a 1 b  ${"


async def test_outbox_survives_restart_and_delivers_once(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there yet: the server is "down"
    store1 = await Store.open(tmp_path / "pbx.sqlite3")
    svc1 = await make_service(store1, tmp_path, smtp_host="127.0.0.1", port=port,
                              retry_min=0.2, retry_max=0.4)
    await leave_voicemail(svc1, make_channel(), "123", "u")
    assert await svc1.outbox.deliver_due() == 0
    [row] = await outbox_rows(store1)
    assert row["attempts"] == 1 and row["last_error"]
    assert row["to"] == "user@example.com" and row["mailbox"] == "123@default"
    await store1.close()  # the PBX stops

    controller, handler = start_smtp(port)  # the server comes up
    try:
        store2 = await Store.open(tmp_path / "pbx.sqlite3")  # the PBX restarts
        svc2 = await make_service(store2, tmp_path, smtp_host="127.0.0.1", port=port,
                                  retry_min=0.2, retry_max=0.4)
        await svc2.start()
        try:
            await asyncio.to_thread(handler.event.wait, 10)
            await asyncio.sleep(0.6)  # let another retry period pass: nothing more is sent
            assert len(handler.messages) == 1
            assert await outbox_rows(store2) == []
        finally:
            await svc2.stop()
            await store2.close()
    finally:
        controller.stop()


async def test_mailcmd_pipe_and_failure(store: Store, tmp_path: Path) -> None:
    out = tmp_path / "piped.eml"
    conf = f"[general]\nmailcmd=cat > {out}\n[default]\n123 => 1,U,u@example.com\n"
    svc = await make_service(store, tmp_path, conf)
    await leave_voicemail(svc, make_channel(), "123", "")
    assert await svc.outbox.deliver_due() == 1
    assert b"Subject: [PBX]: New message 1 in mailbox 123" in out.read_bytes()

    svc.config.general.mailcmd = "echo broken >&2; exit 3"
    await leave_voicemail(svc, make_channel(), "123", "")
    assert await svc.outbox.deliver_due() == 0
    [row] = await outbox_rows(store)
    assert "exited with 3: broken" in row["last_error"]


async def test_delete_after_sending(store: Store, tmp_path: Path) -> None:
    conf = "[general]\ndelete=yes\n[default]\n123 => 1,U,u@example.com\n"
    svc = await make_service(store, tmp_path, conf)
    await leave_voicemail(svc, make_channel(), "123", "")
    assert await svc.mailboxes.counts("default", "123") == (1, 0)
    assert await svc.outbox.deliver_due() == 1
    assert await svc.mailboxes.counts("default", "123") == (0, 0)
    assert not list((svc.mailboxes.spool / "default" / "123" / "INBOX").glob("*.wav"))


async def test_background_sender_kicked_by_deposit(store: Store, tmp_path: Path) -> None:
    controller, handler = start_smtp()
    try:
        svc = await make_service(store, tmp_path, smtp_host="127.0.0.1", port=controller.port)
        await svc.start()
        try:
            await leave_voicemail(svc, make_channel(), "123", "u")
            await asyncio.to_thread(handler.event.wait, 10)
            assert len(handler.messages) == 1
        finally:
            await svc.stop()
    finally:
        controller.stop()
