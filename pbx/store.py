"""Persistent store (aiosqlite): registrations, CDRs, queue_log, the AstDB; voicemail adds
its tables.

Bindings, CDRs and queue_log records are written behind: the registrar answers from memory and
finished calls queue their record; the store writes everything queued in one
transaction every FLUSH_INTERVAL, on shutdown, and before reading. A burst of
REGISTERs or short calls thus costs one commit per interval, not one per
message (one commit per call took a quarter of a core at 200 calls/s).
Voicemail and the AstDB (`astdb`, Asterisk's own table shape: one `/family/key`
path per row) commit at once: a message or a DB() value must not wait in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite

log = logging.getLogger("pbx.store")

FLUSH_INTERVAL = 0.2

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
    vars TEXT
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
_CDR_ADDED = ("accountcode", "peeraccount", "amaflags", "userfield", "vars")


@dataclass(slots=True)
class StoredBinding:
    aor: str
    contact: str
    expires_at: float
    data: dict[str, Any]


CDR_FIELDS = ("uniqueid", "start", "answer", "end", "src", "dst", "dcontext", "clid", "channel",
              "dstchannel", "lastapp", "lastdata", "duration", "billsec", "disposition",
              "hangupcause", "rtp", *_CDR_ADDED)
_JSON_FIELDS = ("rtp", "vars")
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
        self._flush_task: asyncio.Task[None] | None = None
        self._schemas: list[str] = []

    @classmethod
    async def open(cls, path: str | Path) -> Store:
        """Open (creating) the database file."""
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(str(path))
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA synchronous=NORMAL")
        await db.executescript(SCHEMA)
        async with db.execute("PRAGMA table_info(cdr)") as cur:
            have = {row[1] for row in await cur.fetchall()}
        for column in _CDR_ADDED:
            if column not in have:
                await db.execute(f"ALTER TABLE cdr ADD COLUMN {column} TEXT")
        await db.commit()
        return cls(db, Path(path))

    async def add_schema(self, sql: str) -> None:
        """Let another package (voicemail) create its tables."""
        await self.db.executescript(sql)
        await self.db.commit()

    async def close(self) -> None:
        """Flush pending writes and close."""
        await self.flush()
        if self._flush_task is not None:
            self._flush_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._flush_task
        await self.db.close()

    # --- bindings (write-behind) -------------------------------------------
    def save_binding(self, binding: StoredBinding) -> None:
        """Queue an insert/update; flushed within FLUSH_INTERVAL."""
        self._pending[(binding.aor, binding.contact)] = binding
        self._schedule()

    def delete_binding(self, aor: str, contact: str) -> None:
        """Queue a delete."""
        self._pending[(aor, contact)] = None
        self._schedule()

    def _schedule(self) -> None:
        if self._flush_task is None or self._flush_task.done():
            self._flush_task = asyncio.get_running_loop().create_task(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(FLUSH_INTERVAL)
        await self.flush()

    async def flush(self) -> None:
        """Write every queued binding change and CDR in one transaction."""
        if not self._pending and not self._cdrs and not self._queue_log:
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
        except Exception:
            log.exception("could not save registrations, CDRs and queue_log; will retry")
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

    # --- queue_log ---------------------------------------------------------------
    def add_queue_log(self, row: dict[str, Any]) -> None:
        """Queue one queue_log record (written within FLUSH_INTERVAL, as CDRs); not a
        coroutine: the queue engine logs from synchronous code."""
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
