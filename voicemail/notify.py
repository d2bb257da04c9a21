"""Voicemail email: building the message, the outbox, and its sender.

The email is built when the message is deposited and stored, complete with
its WAV attachment, in the outbox table (``vm_outbox``) in the same
transaction as the message's index row: a message the caller left is never
without its email, even if the PBX stops right after. A background sender
(`Outbox.run`) delivers due rows, oldest first:

- ``mailcmd`` set in voicemail.conf: the message is piped to it (shell);
- else an SMTP host in pbx.yaml: aiosmtplib with TLS/STARTTLS and login;
- else the message is written as ``<storage>/outbox/<id>-<mailbox>@<context>.eml``.

A failure records ``last_error`` and retries after an exponential back-off
(``retry_min`` doubling up to ``retry_max``); `next_try` lives in the store,
so retries continue across restarts. A row is marked sent once the server
has accepted it (a crash between the two is the only way to send twice).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid, parseaddr
from pathlib import Path
from typing import Any

import aiosmtplib

from pbx.store import Store
from voicemail.config import MailboxConfig, VoicemailGeneral
from voicemail.mailbox import MESSAGE_ID, Message, Statement, callerid_string

log = logging.getLogger("voicemail.notify")

OUTBOX_SCHEMA = """
CREATE TABLE IF NOT EXISTS vm_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id INTEGER,
    context TEXT NOT NULL,
    mailbox TEXT NOT NULL,
    mail_from TEXT NOT NULL,
    rcpt TEXT NOT NULL,
    subject TEXT NOT NULL DEFAULT '',
    raw BLOB,
    delete_after INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_try REAL NOT NULL,
    last_error TEXT,
    sent_at REAL,
    sent_via TEXT
);
CREATE INDEX IF NOT EXISTS vm_outbox_due ON vm_outbox(sent_at, next_try);
"""

UNKNOWN_CALLER = "an unknown caller"
DEFAULT_FROMSTRING = "Asterisk PBX"


# --- building ---------------------------------------------------------------

def duration_text(seconds: int) -> str:
    """${VM_DUR}: `m:ss`, as Asterisk writes it."""
    return f"{seconds // 60}:{seconds % 60:02d}"


def template_vars(general: VoicemailGeneral, mb: MailboxConfig, msg: Message,
                  wav_path: Path | None = None) -> dict[str, str]:
    """The ${VM_*} variables of emailsubject/emailbody (Asterisk's prep_email_sub_vars)."""
    any_cid = bool(msg.cidname or msg.cidnum)
    return {
        "VM_NAME": mb.fullname,
        "VM_DUR": duration_text(msg.duration),
        "VM_MSGNUM": str(msg.msgnum + 1),
        "VM_MAILBOX": mb.mailbox,
        "VM_CONTEXT": mb.context,
        "VM_CALLERID": callerid_string(msg.cidname, msg.cidnum) if any_cid else UNKNOWN_CALLER,
        "VM_CIDNUM": msg.cidnum or UNKNOWN_CALLER,
        "VM_CIDNAME": msg.cidname or UNKNOWN_CALLER,
        "VM_DATE": time.strftime(general.emaildateformat, time.localtime(msg.origtime)),
        "VM_MESSAGEFILE": str(wav_path.with_suffix("")) if wav_path else "",
        "VM_CATEGORY": "",
        "VM_FLAG": msg.flag,
    }


def substitute(template: str, variables: Mapping[str, str]) -> str:
    """Replace `${NAME}` with its value ('' when unknown), like the dialplan does."""
    out: list[str] = []
    i = 0
    while i < len(template):
        if template.startswith("${", i):
            end = template.find("}", i + 2)
            if end > 0:
                out.append(variables.get(template[i + 2:end].strip(), ""))
                i = end + 1
                continue
        out.append(template[i])
        i += 1
    return "".join(out)


def default_subject(general: VoicemailGeneral, v: Mapping[str, str]) -> str:
    """Asterisk's subject when emailsubject is not set."""
    prefix = "" if general.pbxskip else "[PBX]: "
    return f"{prefix}New message {v['VM_MSGNUM']} in mailbox {v['VM_MAILBOX']}"


def default_body(v: Mapping[str, str]) -> str:
    """Asterisk's body when emailbody is not set (name, else number, else unknown)."""
    who = (v["VM_CIDNAME"] if v["VM_CIDNAME"] != UNKNOWN_CALLER else v["VM_CIDNUM"])
    return (f"Dear {v['VM_NAME']}:\n\n\tJust wanted to let you know you were just left a "
            f"{v['VM_DUR']} long message (number {v['VM_MSGNUM']})\n"
            f"in mailbox {v['VM_MAILBOX']} from {who}, on {v['VM_DATE']} so you might\n"
            "want to check it when you get a chance.  Thanks!\n\n\t\t\t\t--Asterisk\n")


def sender_address(general: VoicemailGeneral, hostname: str | None = None) -> str:
    """serveremail, with `@hostname` added when it has no domain (as Asterisk does)."""
    who = general.serveremail or "asterisk"
    if "@" not in who:
        who = f"{who}@{hostname or socket.gethostname()}"
    return who


def build_email(general: VoicemailGeneral, mb: MailboxConfig, msg: Message,
                wav_path: Path | None, *, hostname: str | None = None,
                now: float | None = None) -> EmailMessage:
    """The notification for one message; the WAV is attached when `mb.attach`."""
    host = hostname or socket.gethostname()
    v = template_vars(general, mb, msg, wav_path)
    who = sender_address(general, host)
    fromname = substitute(general.fromstring, v) if general.fromstring else DEFAULT_FROMSTRING
    em = EmailMessage()
    em["Date"] = format_datetime(datetime.fromtimestamp(now or time.time()).astimezone())
    em["From"] = formataddr((fromname, who))
    em["To"] = formataddr((mb.fullname, mb.email))
    em["Subject"] = (substitute(general.emailsubject, v) if general.emailsubject
                     else default_subject(general, v))
    em["Message-ID"] = make_msgid("Asterisk", domain=host)
    em["X-Asterisk-VM-Message-Num"] = v["VM_MSGNUM"]
    em["X-Asterisk-VM-Server-Name"] = who
    em["X-Asterisk-VM-Context"] = mb.context
    em["X-Asterisk-VM-Extension"] = mb.mailbox
    em["X-Asterisk-VM-Caller-ID-Num"] = msg.cidnum or "unknown"
    em["X-Asterisk-VM-Caller-ID-Name"] = msg.cidname or "unknown"
    em["X-Asterisk-VM-Duration"] = str(msg.duration)
    em["X-Asterisk-VM-Message-Type"] = "Message"
    em["X-Asterisk-VM-Orig-date"] = v["VM_DATE"]
    em["X-Asterisk-VM-Orig-time"] = str(int(msg.origtime))
    body = substitute(general.emailbody, v) if general.emailbody else default_body(v)
    em.set_content(body if body.endswith("\n") else body + "\n")
    if mb.attach and wav_path is not None and wav_path.is_file():
        em.add_attachment(wav_path.read_bytes(), maintype="audio", subtype="x-wav",
                          filename=f"{msg.basename}.wav")
    return em


def enqueue_statement(em: EmailMessage, msg: Message, *, delete_after: bool,
                      now: float | None = None) -> Statement:
    """The outbox INSERT to run in the deposit's transaction."""
    t = time.time() if now is None else now
    mail_from = parseaddr(str(em["From"]))[1]
    rcpt = parseaddr(str(em["To"]))[1]
    return ("INSERT INTO vm_outbox(message_id, context, mailbox, mail_from, rcpt, subject, raw, "
            "delete_after, created, attempts, next_try) VALUES (?,?,?,?,?,?,?,?,?,0,?)",
            [MESSAGE_ID, msg.context, msg.mailbox, mail_from, rcpt, str(em["Subject"]),
             em.as_bytes(), int(delete_after), t, t])


# --- sending ----------------------------------------------------------------

@dataclass(slots=True)
class OutboxRow:
    id: int
    message_id: int | None
    context: str
    mailbox: str
    mail_from: str
    rcpt: str
    raw: bytes
    delete_after: bool
    attempts: int


DeliveredHook = Callable[[OutboxRow], Awaitable[None]]


class Outbox:
    """Delivers the outbox with retries; one per process."""

    def __init__(self, store: Store, smtp: Any, outbox_dir: Path, *,
                 mailcmd: Callable[[], str] = lambda: "",
                 retry_min: float = 30.0, retry_max: float = 3600.0,
                 on_delivered: DeliveredHook | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.smtp = smtp  # pbx.config.SmtpSettings
        self.outbox_dir = Path(outbox_dir)
        self.mailcmd = mailcmd
        self.retry_min = retry_min
        self.retry_max = retry_max
        self.on_delivered = on_delivered
        self.clock = clock
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._pass_lock = asyncio.Lock()
        self._stopping = False

    async def init(self) -> None:
        """Create the table."""
        await self.store.add_schema(OUTBOX_SCHEMA)

    def kick(self) -> None:
        """Something was queued: look at the outbox now."""
        self._wake.set()

    def start(self) -> None:
        """Start the background sender."""
        self._stopping = False
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self.run(),
                                                                name="voicemail-outbox")

    async def stop(self) -> None:
        """Stop the sender (a delivery in progress is abandoned and retried later)."""
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            # asyncio.wait: a cancellation swallowed inside a library cannot hang us.
            await asyncio.wait({task}, timeout=5)

    async def run(self) -> None:
        """Deliver due rows; sleep until the next one is due or something is queued."""
        while not self._stopping:
            self._wake.clear()
            try:
                await self.deliver_due()
                wait = await self._next_wait()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("voicemail outbox pass failed; retrying")
                wait = self.retry_min or 1.0
            if self._stopping:
                return
            waiter = asyncio.ensure_future(self._wake.wait())
            try:
                # Not wait_for: on 3.11 it can swallow a cancellation racing the event.
                await asyncio.wait({waiter}, timeout=wait)
            finally:
                waiter.cancel()

    async def _next_wait(self) -> float | None:
        async with self.store.db.execute(
                "SELECT MIN(next_try) FROM vm_outbox WHERE sent_at IS NULL") as cur:
            row = await cur.fetchone()
        if row is None or row[0] is None:
            return None
        return max(0.05, float(row[0]) - self.clock())

    async def deliver_due(self) -> int:
        """One pass over the due rows; returns how many were delivered."""
        async with self._pass_lock:
            async with self.store.db.execute(
                    "SELECT id, message_id, context, mailbox, mail_from, rcpt, raw, "
                    "delete_after, attempts FROM vm_outbox WHERE sent_at IS NULL AND "
                    "next_try <= ? ORDER BY id", (self.clock(),)) as cur:
                rows = [OutboxRow(r[0], r[1], r[2], r[3], r[4], r[5], bytes(r[6] or b""),
                                  bool(r[7]), r[8]) for r in await cur.fetchall()]
            done = 0
            for row in rows:
                try:
                    via = await self.send(row)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    await self._failed(row, exc)
                    continue
                # Mark it sent before anything else: the server has it now.
                await self.store.execute(
                    "UPDATE vm_outbox SET sent_at=?, sent_via=?, raw=NULL, attempts=attempts+1, "
                    "last_error=NULL WHERE id=?", (self.clock(), via, row.id))
                done += 1
                log.info("voicemail mail %d for %s@%s delivered via %s", row.id, row.mailbox,
                         row.context, via)
                if self.on_delivered is not None:
                    try:
                        await self.on_delivered(row)
                    except Exception:
                        log.exception("after delivering voicemail mail %d", row.id)
            return done

    async def _failed(self, row: OutboxRow, exc: Exception) -> None:
        attempts = row.attempts + 1
        delay = min(self.retry_max, self.retry_min * (2 ** (attempts - 1)))
        error = f"{type(exc).__name__}: {exc}".strip()
        await self.store.execute(
            "UPDATE vm_outbox SET attempts=?, next_try=?, last_error=? WHERE id=?",
            (attempts, self.clock() + delay, error[:500], row.id))
        log.warning("voicemail mail %d for %s@%s not delivered (attempt %d, next in %.0fs): %s",
                    row.id, row.mailbox, row.context, attempts, delay, error)

    async def send(self, row: OutboxRow) -> str:
        """Hand one message to mailcmd, SMTP or the .eml folder; returns which."""
        mailcmd = self.mailcmd()
        if mailcmd:
            await self._pipe(mailcmd, row.raw)
            return "mailcmd"
        smtp = self.smtp
        if smtp is not None and smtp.host:
            await aiosmtplib.send(
                row.raw, sender=row.mail_from, recipients=[row.rcpt], hostname=smtp.host,
                port=smtp.port, username=smtp.username or None,
                password=smtp.password or None, use_tls=bool(smtp.tls),
                start_tls=bool(smtp.starttls) if not smtp.tls else False,
                timeout=smtp.timeout)
            return f"smtp {smtp.host}:{smtp.port}"
        path = self.eml_path(row)
        await asyncio.to_thread(_write_atomic, path, row.raw)
        return f"file {path}"

    def eml_path(self, row: OutboxRow) -> Path:
        """Where a message goes when no SMTP host is configured."""
        return self.outbox_dir / f"{row.id:06d}-{row.mailbox}@{row.context}.eml"

    async def _pipe(self, command: str, raw: bytes) -> None:
        proc = await asyncio.create_subprocess_shell(
            command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE)
        try:
            _, err = await asyncio.wait_for(proc.communicate(raw), timeout=60)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise RuntimeError(f"mailcmd {command!r} took more than 60 s") from None
        if proc.returncode != 0:
            text = err.decode(errors="replace").strip()
            raise RuntimeError(f"mailcmd {command!r} exited with {proc.returncode}"
                               + (f": {text}" if text else ""))


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".eml.part")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _when(ts: float, now: float) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))
    delta = ts - now
    return f"{stamp} (now)" if delta <= 0 else f"{stamp} (in {delta:.0f} s)"


async def outbox_rows(store: Store) -> list[dict[str, Any]]:
    """What waits in the outbox, for `pbx mail queue` (oldest first)."""
    try:
        async with store.db.execute(
                "SELECT id, mailbox, context, rcpt, attempts, next_try, last_error, subject "
                "FROM vm_outbox WHERE sent_at IS NULL ORDER BY id") as cur:
            rows = await cur.fetchall()
    except Exception as exc:  # no voicemail table yet: nothing was ever queued
        if "no such table" in str(exc):
            return []
        raise
    now = time.time()
    return [{"id": r[0], "mailbox": f"{r[1]}@{r[2]}", "to": r[3], "attempts": r[4],
             "next_try": _when(r[5], now), "last_error": r[6] or "", "subject": r[7]}
            for r in rows]
