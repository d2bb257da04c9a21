"""Persistent store (aiosqlite): registrations, CDRs, queue_log, the AstDB; voicemail adds
its tables.

Bindings, CDRs and queue_log records are queued in memory and written by one flusher
task, many changes per transaction (one commit per call took a quarter of a core at 200
calls/s). CDRs and queue_log records are written behind, within FLUSH_INTERVAL. A registration is
durable before it is confirmed: the registrar's 200 OK waits for
:meth:`Store.when_committed`, which wakes the flusher at once; REGISTERs that
arrive while a commit runs share the next one (group commit), so the REGISTER
rate holds while none is confirmed before it is on disk. Voicemail and the
AstDB (`astdb`, Asterisk's own table shape: one `/family/key` path per row)
commit at once: a message or a DB() value must not wait in memory.

The database runs in WAL mode (a commit is durable against a crash of the
process; synchronous=NORMAL leaves the last commits to the OS on power loss)
and is checked (PRAGMA quick_check) when opened: a damaged file stops the
start with a message, rather than losing data later.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite

log = logging.getLogger("pbx.store")

FLUSH_INTERVAL = 0.2
RETRY_INTERVAL = 2.0  # after a failed write (disk full, locked)


class StoreError(Exception):
    """The database cannot be used (damaged, not a database, unreadable): say why."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS bindings (
    aor TEXT NOT NULL,
    contact TEXT NOT NULL,
    expires_at REAL NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (aor, contact)
);
CREATE TABLE IF NOT EXISTS cdr (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uniqueid TEXT NOT NULL,
    start REAL NOT NULL,
    answer REAL,
    end REAL NOT NULL,
    src TEXT, dst TEXT, dcontext TEXT, clid TEXT,
    channel TEXT, dstchannel TEXT,
    lastapp TEXT, lastdata TEXT,
    duration INTEGER, billsec INTEGER,
    disposition TEXT,
    hangupcause INTEGER,
    rtp TEXT,
    accountcode TEXT, peeraccount TEXT, amaflags TEXT, userfield TEXT,
    vars TEXT, linkedid TEXT, transfer TEXT
);
CREATE INDEX IF NOT EXISTS cdr_start ON cdr(start);
CREATE TABLE IF NOT EXISTS astdb (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS queue_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL NOT NULL,
    callid TEXT NOT NULL,
    queuename TEXT NOT NULL,
    agent TEXT NOT NULL,
    event TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS queue_log_time ON queue_log(time);
"""

# Columns added to `cdr` after its first release: a database made before them
# gets them at open (ALTER TABLE), so an upgrade keeps every old record.
_CDR_ADDED = ("accountcode", "peeraccount", "amaflags", "userfield", "vars", "recordings",
              "linkedid", "transfer")


@dataclass(slots=True)
class StoredBinding:
    aor: str
    contact: str
    expires_at: float
    data: dict[str, Any]


CDR_FIELDS = ("uniqueid", "start", "answer", "end", "src", "dst", "dcontext", "clid", "channel",
              "dstchannel", "lastapp", "lastdata", "duration", "billsec", "disposition",
              "hangupcause", "rtp", *_CDR_ADDED)
_JSON_FIELDS = ("rtp", "vars", "recordings", "transfer")
_INSERT_CDR = (f"INSERT INTO cdr({', '.join(CDR_FIELDS)}) "
               f"VALUES ({', '.join('?' * len(CDR_FIELDS))})")
QUEUE_LOG_FIELDS = ("time", "callid", "queuename", "agent", "event", "data")
_INSERT_QUEUE_LOG = (f"INSERT INTO queue_log({', '.join(QUEUE_LOG_FIELDS)}) "
                     f"VALUES ({', '.join('?' * len(QUEUE_LOG_FIELDS))})")


class Store:
    """The PBX's SQLite database (behind this interface: PostgreSQL later)."""

    def __init__(self, db: aiosqlite.Connection, path: Path | None = None) -> None:
        self.db = db
        self.path = path  # the database file (the AstDB opens its own reader on it)
        self._pending: dict[tuple[str, str], StoredBinding | None] = {}
        self._cdrs: list[list[Any]] = []
        self._queue_log: list[tuple[Any, ...]] = []
        self._schemas: list[str] = []
        self._waiters: list[Callable[[bool], None]] = []
        self._lock = asyncio.Lock()  # one flush at a time: a waiter never overtakes a write
        self._wake = asyncio.Event()
        self._timer: asyncio.TimerHandle | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._busy = False  # the flusher is writing
        self.commits = 0

    @classmethod
    async def open(cls, path: str | Path) -> Store:
        """Open (creating) the database file; StoreError if it is damaged."""
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            db = await aiosqlite.connect(str(path))
        except sqlite3.Error as exc:
            raise StoreError(f"{path}: cannot open the database: {exc}") from exc
        try:
            async with db.execute("PRAGMA quick_check") as cur:
                rows = [r[0] for r in await cur.fetchall()]
            if rows != ["ok"]:
                raise StoreError(f"{path}: the database is damaged ({'; '.join(rows[:3])}); "
                                 "restore a backup or move it aside to start afresh")
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA synchronous=NORMAL")
            await db.executescript(SCHEMA)
            async with db.execute("PRAGMA table_info(cdr)") as cur:
                have = {row[1] for row in await cur.fetchall()}
            for column in _CDR_ADDED:
                if column not in have:
                    await db.execute(f"ALTER TABLE cdr ADD COLUMN {column} TEXT")
            await db.commit()
        except sqlite3.Error as exc:
            await db.close()
            raise StoreError(f"{path}: the database cannot be used ({exc}); restore a "
                             "backup or move it aside to start afresh") from exc
        except StoreError:
            await db.close()
            raise
        return cls(db, Path(path))

    async def add_schema(self, sql: str) -> None:
        """Let another package (voicemail) create its tables."""
        await self.db.executescript(sql)
        await self.db.commit()

    async def close(self) -> None:
        """Flush pending writes, answer every waiter, close."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        flusher = self._flusher
        if flusher is not None:
            async with self._lock:  # a write under way finishes first
                flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await flusher
        try:
            with contextlib.suppress(Exception):
                await self.flush()
        finally:
            waiters, self._waiters = self._waiters, []
            self._answer_waiters(waiters, not self._queued)
            await self.db.close()

    # --- bindings (group commit) -------------------------------------------
    def save_binding(self, binding: StoredBinding) -> None:
        """Queue an insert/update; written within FLUSH_INTERVAL, or sooner if awaited."""
        self._pending[(binding.aor, binding.contact)] = binding
        self._schedule()

    def delete_binding(self, aor: str, contact: str) -> None:
        """Queue a delete."""
        self._pending[(aor, contact)] = None
        self._schedule()

    def when_committed(self, callback: Callable[[bool], None]) -> None:
        """Call ``callback(True)`` once every change queued so far is committed.

        At once if nothing is queued or being written; ``callback(False)`` if the
        write failed (the changes stay queued and are retried).
        """
        if not self._queued and not self._busy:
            callback(True)
            return
        self._waiters.append(callback)
        self._start_flusher()
        self._wake.set()

    @property
    def _queued(self) -> bool:
        """Changes wait in memory (bindings, CDRs, queue_log records)."""
        return bool(self._pending or self._cdrs or self._queue_log)

    @property
    def has_pending(self) -> bool:
        return self._queued or self._busy

    def _schedule(self, delay: float = FLUSH_INTERVAL) -> None:
        if self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(delay, self._kick)

    def _kick(self) -> None:
        self._timer = None
        self._start_flusher()
        self._wake.set()

    def _start_flusher(self) -> None:
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._run_flusher())

    async def _run_flusher(self) -> None:
        while True:
            # No commit delay: changes arriving while a commit runs share the next
            # one anyway (waiting a few ms more made SIPp at 2,000/s retransmit).
            await self._wake.wait()
            self._wake.clear()
            waiters, self._waiters = self._waiters, []
            self._busy = True
            ok = False
            try:
                await self.flush()
                ok = True
            except asyncio.CancelledError:
                self._waiters[:0] = waiters  # close() answers them after its own flush
                raise
            except Exception:
                self._schedule(RETRY_INTERVAL)
            finally:
                self._busy = False
            self._answer_waiters(waiters, ok)

    @staticmethod
    def _answer_waiters(waiters: list[Callable[[bool], None]], ok: bool) -> None:
        for callback in waiters:
            try:
                callback(ok)
            except Exception:
                log.exception("error after a commit")

    async def flush(self) -> None:
        """Write every queued binding change, CDR and queue_log record in one transaction."""
        async with self._lock:
            await self._write()

    async def _write(self) -> None:
        if not self._queued:
            return
        pending, self._pending = self._pending, {}
        cdrs, self._cdrs = self._cdrs, []
        qlog, self._queue_log = self._queue_log, []
        upserts = [(b.aor, b.contact, b.expires_at, json.dumps(b.data))
                   for b in pending.values() if b is not None]
        deletes = [key for key, b in pending.items() if b is None]
        try:
            if deletes:
                await self.db.executemany("DELETE FROM bindings WHERE aor=? AND contact=?",
                                          deletes)
            if upserts:
                await self.db.executemany(
                    "INSERT OR REPLACE INTO bindings(aor, contact, expires_at, data) "
                    "VALUES (?,?,?,?)", upserts)
            if cdrs:
                await self.db.executemany(_INSERT_CDR, cdrs)
            if qlog:
                await self.db.executemany(_INSERT_QUEUE_LOG, qlog)
            await self.db.commit()
            self.commits += 1
        except Exception as exc:
            log.error("could not save registrations, CDRs and queue_log (%s); will retry", exc)
            with contextlib.suppress(Exception):
                await self.db.rollback()
            pending.update(self._pending)
            self._pending = pending
            self._cdrs[:0] = cdrs
            self._queue_log[:0] = qlog
            raise

    async def load_bindings(self, now: float) -> list[StoredBinding]:
        """Every unexpired binding; expired ones are deleted."""
        await self.db.execute("DELETE FROM bindings WHERE expires_at <= ?", (now,))
        await self.db.commit()
        async with self.db.execute("SELECT aor, contact, expires_at, data FROM bindings") as cur:
            rows = await cur.fetchall()
        return [StoredBinding(r[0], r[1], r[2], json.loads(r[3])) for r in rows]

    # --- CDR -----------------------------------------------------------------
    async def add_cdr(self, row: dict[str, Any]) -> None:
        """Queue one call detail record (written within FLUSH_INTERVAL)."""
        values = [row.get(f) for f in CDR_FIELDS]
        for name in _JSON_FIELDS:
            if isinstance(row.get(name), (dict, list)):
                values[CDR_FIELDS.index(name)] = json.dumps(row[name])
        self._cdrs.append(values)
        self._schedule()

    async def cdrs(self, since: float = 0.0) -> list[dict[str, Any]]:
        """CDR rows started at or after `since`, oldest first."""
        await self.flush()
        async with self.db.execute(
                f"SELECT {', '.join(CDR_FIELDS)} FROM cdr WHERE start >= ? ORDER BY id",
                (since,)) as cur:
            rows = await cur.fetchall()
        out = []
        for r in rows:
            d = dict(zip(CDR_FIELDS, r, strict=True))
            for name in _JSON_FIELDS:
                if d.get(name):
                    d[name] = json.loads(d[name])
            out.append(d)
        return out

    # --- queue_log (written behind, as CDRs) ------------------------------------
    def add_queue_log(self, row: dict[str, Any]) -> None:
        """Queue one queue_log record (written within FLUSH_INTERVAL by the flusher);
        not a coroutine: the queue engine logs from synchronous code."""
        self._queue_log.append(tuple(row[f] for f in QUEUE_LOG_FIELDS))
        self._schedule()

    async def queue_log(self, since: float = 0.0) -> list[dict[str, Any]]:
        """queue_log records at or after `since`, oldest first."""
        await self.flush()
        async with self.db.execute(
                f"SELECT {', '.join(QUEUE_LOG_FIELDS)} FROM queue_log WHERE time >= ? "
                "ORDER BY id", (since,)) as cur:
            rows = await cur.fetchall()
        return [dict(zip(QUEUE_LOG_FIELDS, r, strict=True)) for r in rows]

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> None:
        """Run one statement and commit (for small writers such as voicemail)."""
        await self.db.execute(sql, tuple(params))
        await self.db.commit()

    # --- AstDB (committed at once) ---------------------------------------------
    async def astdb_get(self, key: str) -> str | None:
        """The value at a full `/family/key` path, or None."""
        async with self.db.execute("SELECT value FROM astdb WHERE key = ?", (key,)) as cur:
            row = await cur.fetchone()
        return None if row is None else row[0]

    async def astdb_apply(self, changes: dict[str, str | None]) -> None:
        """Write `/family/key` -> value (None deletes) and commit, in one transaction."""
        puts = [(k, v) for k, v in changes.items() if v is not None]
        deletes = [(k,) for k, v in changes.items() if v is None]
        if puts:
            await self.db.executemany(
                "INSERT OR REPLACE INTO astdb(key, value) VALUES (?, ?)", puts)
        if deletes:
            await self.db.executemany("DELETE FROM astdb WHERE key = ?", deletes)
        await self.db.commit()

    async def astdb_tree(self, prefix: str = "") -> list[tuple[str, str]]:
        """(key, value) at `/prefix` and below it, sorted by key ('' for every key)."""
        sql, params = astdb_prefix_query("SELECT key, value FROM astdb", prefix)
        async with self.db.execute(sql + " ORDER BY key", params) as cur:
            return [(r[0], r[1]) for r in await cur.fetchall()]

    async def astdb_deltree(self, prefix: str) -> int:
        """Delete `/prefix` and everything below it; how many entries went."""
        sql, params = astdb_prefix_query("DELETE FROM astdb", prefix)
        cur = await self.db.execute(sql, params)
        await self.db.commit()
        return cur.rowcount


def astdb_key(family: str, key: str) -> str:
    """The full AstDB path of family/key, as Asterisk stores it: `/family/key`."""
    return f"/{family}/{key}"


def astdb_prefix_query(base: str, prefix: str) -> tuple[str, tuple[Any, ...]]:
    """`base` restricted to the keys at `/prefix` or under `/prefix/` (all when empty).

    Compared with substr, not LIKE: `_` and `%` are ordinary characters in keys."""
    prefix = prefix.strip("/")
    if not prefix:
        return base, ()
    path = "/" + prefix
    return (f"{base} WHERE key = ? OR substr(key, 1, ?) = ?",
            (path, len(path) + 1, path + "/"))
