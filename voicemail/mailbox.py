"""Mailboxes on disk and in the store.

Spool layout (Asterisk's): ``<storage>/voicemail/<context>/<mailbox>/`` holds
the folders ``INBOX``, ``Old``, ... with ``msg0000.wav`` + ``msg0000.txt``
(Asterisk's metadata file), the greetings ``unavail.wav``, ``busy.wav``,
``greet.wav`` (the name), ``temp.wav``, and ``tmp/`` for recordings in
progress. The index in the store (``vm_messages``) is the source of truth for
counts and metadata; message numbers in a folder are kept contiguous (a
delete renumbers the files after it), as Asterisk does.

Every change to a mailbox runs under that mailbox's lock, moves the files
first and then changes the index in one transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pbx.store import Store

FOLDERS = ("INBOX", "Old", "Work", "Family", "Friends", "Urgent")
GREETINGS = ("unavail", "busy", "greet", "temp")

SCHEMA = """
CREATE TABLE IF NOT EXISTS vm_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    context TEXT NOT NULL,
    mailbox TEXT NOT NULL,
    folder TEXT NOT NULL,
    msgnum INTEGER NOT NULL,
    callerid TEXT NOT NULL DEFAULT '',
    cidnum TEXT NOT NULL DEFAULT '',
    cidname TEXT NOT NULL DEFAULT '',
    origtime REAL NOT NULL,
    duration INTEGER NOT NULL,
    origmailbox TEXT NOT NULL DEFAULT '',
    exten TEXT NOT NULL DEFAULT '',
    priority INTEGER NOT NULL DEFAULT 0,
    channel TEXT NOT NULL DEFAULT '',
    uniqueid TEXT NOT NULL DEFAULT '',
    flag TEXT NOT NULL DEFAULT '',
    msg_id TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS vm_messages_box ON vm_messages(context, mailbox, folder, msgnum);
CREATE TABLE IF NOT EXISTS vm_pins (
    context TEXT NOT NULL,
    mailbox TEXT NOT NULL,
    pin TEXT NOT NULL,
    changed REAL NOT NULL,
    PRIMARY KEY (context, mailbox)
);
"""

_COLUMNS = ("id", "context", "mailbox", "folder", "msgnum", "callerid", "cidnum", "cidname",
            "origtime", "duration", "origmailbox", "exten", "priority", "channel", "uniqueid",
            "flag", "msg_id")

# Placeholder for "the id of the message just inserted" in extra statements.
MESSAGE_ID = object()

Statement = tuple[str, Sequence[Any]]


@dataclass(slots=True)
class Message:
    """One stored message (a row of the index)."""

    context: str
    mailbox: str
    folder: str
    msgnum: int
    origtime: float
    duration: int
    callerid: str = ""
    cidnum: str = ""
    cidname: str = ""
    origmailbox: str = ""
    exten: str = ""
    priority: int = 0
    channel: str = ""
    uniqueid: str = ""
    flag: str = ""
    msg_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    id: int | None = None

    @property
    def basename(self) -> str:
        """`msg0000`, Asterisk's file name without extension."""
        return f"msg{self.msgnum:04d}"


def callerid_string(name: str, num: str, unknown: str = "Unknown") -> str:
    """Asterisk's ast_callerid_merge: `"Name" <num>`, or whichever part exists."""
    if name and num:
        return f'"{name}" <{num}>'
    return name or num or unknown


async def run_atomic(store: Store, fn: Callable[[sqlite3.Connection], Any]) -> Any:
    """Run `fn(conn)` and commit, as one transaction no other writer can interleave with.

    aiosqlite runs every call of a connection on one worker thread; queuing
    the whole function there keeps other coroutines' statements (and their
    commits) out of the middle of this transaction."""
    db: Any = store.db

    def work() -> Any:
        conn = db._connection
        try:
            result = fn(conn)
            conn.commit()
            return result
        except BaseException:
            conn.rollback()
            raise

    return await db._execute(work)


class MailboxStore:
    """Files and index of every mailbox."""

    def __init__(self, store: Store, spool: Path) -> None:
        self.store = store
        self.spool = Path(spool)
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    async def init(self) -> None:
        """Create the tables."""
        await self.store.add_schema(SCHEMA)

    # --- paths -------------------------------------------------------------
    def dir(self, context: str, mailbox: str) -> Path:
        """The mailbox's spool folder."""
        return self.spool / context / mailbox

    def folder_dir(self, context: str, mailbox: str, folder: str) -> Path:
        return self.dir(context, mailbox) / folder

    def wav_path(self, msg: Message) -> Path:
        """The message's WAV file."""
        return self.folder_dir(msg.context, msg.mailbox, msg.folder) / f"{msg.basename}.wav"

    def greeting_path(self, context: str, mailbox: str, kind: str) -> Path:
        """`unavail`, `busy`, `greet` (the name) or `temp` greeting WAV file."""
        if kind not in GREETINGS:
            raise ValueError(f"unknown greeting {kind!r}")
        return self.dir(context, mailbox) / f"{kind}.wav"

    def greeting(self, context: str, mailbox: str, kind: str) -> Path | None:
        """The greeting file if recorded."""
        p = self.greeting_path(context, mailbox, kind)
        return p if p.is_file() else None

    def tmp_path(self, context: str, mailbox: str) -> Path:
        """A fresh path for a recording in progress (renamed into place when kept)."""
        d = self.dir(context, mailbox) / "tmp"
        d.mkdir(parents=True, exist_ok=True)
        return d / f"rec-{uuid.uuid4().hex}.wav"

    def lock(self, context: str, mailbox: str) -> asyncio.Lock:
        """Serialises changes to one mailbox (two callers leaving messages at once)."""
        return self._locks.setdefault((context, mailbox), asyncio.Lock())

    # --- reading -----------------------------------------------------------
    async def counts(self, context: str, mailbox: str) -> tuple[int, int]:
        """(new, old) message counts: INBOX, and every other folder."""
        async with self.store.db.execute(
                "SELECT folder, COUNT(*) FROM vm_messages WHERE context=? AND mailbox=? "
                "GROUP BY folder", (context, mailbox)) as cur:
            rows = await cur.fetchall()
        new = sum(n for f, n in rows if f == "INBOX")
        old = sum(n for f, n in rows if f != "INBOX")
        return new, old

    async def messages(self, context: str, mailbox: str, folder: str) -> list[Message]:
        """Messages of a folder in number order."""
        async with self.store.db.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM vm_messages WHERE context=? AND mailbox=? "
                "AND folder=? ORDER BY msgnum", (context, mailbox, folder)) as cur:
            rows = await cur.fetchall()
        return [_row(r) for r in rows]

    async def get(self, message_id: int) -> Message | None:
        """A message by its index id (None once deleted)."""
        async with self.store.db.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM vm_messages WHERE id=?",
                (message_id,)) as cur:
            row = await cur.fetchone()
        return None if row is None else _row(row)

    # --- changing ----------------------------------------------------------
    async def deposit(self, msg: Message, recording: Path, *, keep_source: bool = False,
                      extra: Callable[[Message], list[Statement]] | None = None) -> Message:
        """Put a recording into the mailbox's INBOX as the next message.

        The WAV is renamed (or copied, with keep_source) into place first; then
        the index row and the `extra` statements (the mail outbox row) are
        written in one transaction. `extra` gets the message with its number
        and file in place; MESSAGE_ID in its parameters becomes the new row id.
        """
        msg.folder = "INBOX"
        async with self.lock(msg.context, msg.mailbox):
            folder = self.folder_dir(msg.context, msg.mailbox, "INBOX")
            folder.mkdir(parents=True, exist_ok=True)
            existing = await self.messages(msg.context, msg.mailbox, "INBOX")
            msg.msgnum = (existing[-1].msgnum + 1) if existing else 0
            wav = self.wav_path(msg)
            if keep_source:
                tmp = wav.with_suffix(".part")
                await asyncio.to_thread(_copy, recording, tmp)
                os.replace(tmp, wav)
            else:
                os.replace(recording, wav)
            _write_txt(wav.with_suffix(".txt"), msg)
            statements = extra(msg) if extra is not None else []
            try:
                msg.id = await run_atomic(self.store, lambda c: _insert(c, msg, statements))
            except BaseException:
                # The index does not know the file: take it away again.
                for p in (wav, wav.with_suffix(".txt")):
                    with contextlib.suppress(OSError):
                        p.unlink()
                raise
        return msg

    async def move(self, msg: Message, folder: str) -> Message:
        """Move a message to the end of another folder (INBOX -> Old when heard)."""
        if folder not in FOLDERS:
            raise ValueError(f"unknown folder {folder!r}")
        if folder == msg.folder:
            return msg
        async with self.lock(msg.context, msg.mailbox):
            current = await self._reload(msg)
            if current is None:
                return msg
            target = await self.messages(msg.context, msg.mailbox, folder)
            new_num = (target[-1].msgnum + 1) if target else 0
            dest_dir = self.folder_dir(msg.context, msg.mailbox, folder)
            dest_dir.mkdir(parents=True, exist_ok=True)
            src_wav = self.wav_path(current)
            moved = Message(**{k: getattr(current, k) for k in _COLUMNS})
            moved.folder, moved.msgnum = folder, new_num
            _rename_pair(src_wav, self.wav_path(moved))
            _write_txt(self.wav_path(moved).with_suffix(".txt"), moved)
            self._shift_files(current)

            def work(conn: sqlite3.Connection) -> None:
                conn.execute("UPDATE vm_messages SET folder=?, msgnum=? WHERE id=?",
                             (folder, new_num, current.id))
                _renumber(conn, current)

            await run_atomic(self.store, work)
        return moved

    async def delete(self, msg: Message) -> None:
        """Delete a message and renumber the ones after it in its folder."""
        async with self.lock(msg.context, msg.mailbox):
            current = await self._reload(msg)
            if current is None:
                return
            wav = self.wav_path(current)
            for p in (wav, wav.with_suffix(".txt")):
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
            self._shift_files(current)

            def work(conn: sqlite3.Connection) -> None:
                conn.execute("DELETE FROM vm_messages WHERE id=?", (current.id,))
                _renumber(conn, current)

            await run_atomic(self.store, work)

    async def _reload(self, msg: Message) -> Message | None:
        return await self.get(msg.id) if msg.id is not None else None

    def _shift_files(self, gone: Message) -> None:
        """Renumber the files after `gone` (already moved away) down by one."""
        folder = self.folder_dir(gone.context, gone.mailbox, gone.folder)
        # Numbers above `gone` exist on disk in order; rename upwards so none collide.
        n = gone.msgnum + 1
        while (folder / f"msg{n:04d}.wav").exists():
            _rename_pair(folder / f"msg{n:04d}.wav", folder / f"msg{n - 1:04d}.wav")
            n += 1

    # --- PINs ----------------------------------------------------------------
    async def pin(self, context: str, mailbox: str) -> str | None:
        """The PIN the user set with VoiceMailMain (it overrides voicemail.conf)."""
        async with self.store.db.execute(
                "SELECT pin FROM vm_pins WHERE context=? AND mailbox=?",
                (context, mailbox)) as cur:
            row = await cur.fetchone()
        return None if row is None else str(row[0])

    async def set_pin(self, context: str, mailbox: str, pin: str) -> None:
        """Save a PIN chosen by the user."""
        await self.store.execute(
            "INSERT OR REPLACE INTO vm_pins(context, mailbox, pin, changed) VALUES (?,?,?,?)",
            (context, mailbox, pin, time.time()))


def _row(r: Sequence[Any]) -> Message:
    d = dict(zip(_COLUMNS, r, strict=True))
    return Message(**d)


def _insert(conn: sqlite3.Connection, msg: Message, statements: list[Statement]) -> int:
    cols = [c for c in _COLUMNS if c != "id"]
    cur = conn.execute(
        f"INSERT INTO vm_messages({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
        [getattr(msg, c) for c in cols])
    new_id = int(cur.lastrowid or 0)
    for sql, params in statements:
        conn.execute(sql, [new_id if p is MESSAGE_ID else p for p in params])
    return new_id


def _renumber(conn: sqlite3.Connection, gone: Message) -> None:
    # The files were renamed already; the index follows in the same order.
    conn.execute("UPDATE vm_messages SET msgnum = msgnum - 1 WHERE context=? AND mailbox=? "
                 "AND folder=? AND msgnum > ?",
                 (gone.context, gone.mailbox, gone.folder, gone.msgnum))


def _rename_pair(src_wav: Path, dst_wav: Path) -> None:
    os.replace(src_wav, dst_wav)
    src_txt, dst_txt = src_wav.with_suffix(".txt"), dst_wav.with_suffix(".txt")
    if src_txt.exists():
        os.replace(src_txt, dst_txt)


def _copy(src: Path, dst: Path) -> None:
    dst.write_bytes(src.read_bytes())


def _write_txt(path: Path, msg: Message) -> None:
    """Asterisk's msgNNNN.txt, so spool tools written for Asterisk can read it."""
    origdate = time.strftime("%a %b %d %I:%M:%S %p UTC %Y", time.gmtime(msg.origtime))
    lines = [
        ";", "; Message Information file", ";", "[message]",
        f"origmailbox={msg.origmailbox or msg.mailbox}", f"context={msg.context}",
        "macrocontext=", f"exten={msg.exten}", "rdnis=unknown", f"priority={msg.priority}",
        f"callerchan={msg.channel}", f"callerid={msg.callerid}", f"origdate={origdate}",
        f"origtime={int(msg.origtime)}", "category=", f"msg_id={msg.msg_id}",
        f"flag={msg.flag}", f"duration={msg.duration}",
    ]
    tmp = path.with_suffix(".txt.part")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, path)
