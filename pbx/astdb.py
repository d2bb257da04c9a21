"""The AstDB as the running dialplan uses it: DB(), DB_EXISTS(), DB_DELETE().

Values live in the store's `astdb` table (pbx.store), so `pbx database
put` from the shell, another process on the same SQLite file, reaches a
running PBX at once. Dialplan functions are not coroutines, so this object
reads through its own read-only SQLite connection (WAL: a reader never waits
for a writer; a lookup by primary key costs microseconds, less than a hop
to a thread) and keeps what the dialplan writes in `pending` until
`settle()` commits it through the store's connection. The interpreter
awaits `settle()` after every step that wrote, so a value is committed
before the dialplan goes on, and a read sees the call's own writes meanwhile.
A blocking write here could wait on the store's own transaction, which only
the event loop can finish: hence writes go through the store.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from pbx.store import SCHEMA, astdb_key, astdb_prefix_query

if TYPE_CHECKING:
    from pbx.store import Store


class AstDb:
    """Reads now, writes committed by `settle()` (see the module docstring)."""

    def __init__(self, reader: sqlite3.Connection, store: Store | None) -> None:
        self._reader = reader
        self._store = store  # None: writes stay in memory (a dry run)
        self._pending: dict[str, str | None] = {}  # full key -> value, None: deleted
        self._lock = asyncio.Lock()

    @classmethod
    def open(cls, store: Store) -> AstDb:
        """The AstDB of a running PBX: reads from the store's file, writes through it."""
        if store.path is None:
            raise ValueError("the store has no file to read the AstDB from")
        return cls(_connect_read_only(store.path), store)

    @classmethod
    def dry_run(cls, path: Path | None) -> AstDb:
        """Reads from the database at `path` if there is one; writes are never
        saved (`pbx dialplan trace`)."""
        if path is not None and path.exists():
            return cls(_connect_read_only(path), None)
        db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        db.executescript(SCHEMA)
        return cls(db, None)

    def close(self) -> None:
        self._reader.close()

    @property
    def dirty(self) -> bool:
        """Whether writes wait for settle()."""
        return self._store is not None and bool(self._pending)

    # --- what the dialplan functions call ------------------------------------------
    def get(self, family: str, key: str) -> str | None:
        """The value of family/key, or None."""
        path = astdb_key(family, key)
        if path in self._pending:
            return self._pending[path]
        row = self._reader.execute("SELECT value FROM astdb WHERE key = ?", (path,)).fetchone()
        return None if row is None else row[0]

    def put(self, family: str, key: str, value: str) -> None:
        """Set family/key (committed by the next settle())."""
        self._pending[astdb_key(family, key)] = value

    def delete(self, family: str, key: str) -> bool:
        """Remove family/key; whether it was there."""
        existed = self.get(family, key) is not None
        self._pending[astdb_key(family, key)] = None
        return existed

    def keys(self, prefix: str) -> list[str]:
        """Full keys at `/prefix` and below, sorted (pending writes included)."""
        sql, params = astdb_prefix_query("SELECT key FROM astdb", prefix)
        found = {r[0] for r in self._reader.execute(sql, params)}
        path = "/" + prefix.strip("/")
        for k, v in self._pending.items():
            if prefix.strip("/") and k != path and not k.startswith(path + "/"):
                continue
            if v is None:
                found.discard(k)
            else:
                found.add(k)
        return sorted(found)

    async def settle(self) -> None:
        """Commit every pending write (in order with other settles)."""
        if self._store is None:
            return
        async with self._lock:
            changes = dict(self._pending)
            if not changes:
                return
            await self._store.astdb_apply(changes)
            for k, v in changes.items():
                if k in self._pending and self._pending[k] is v:
                    del self._pending[k]


def _connect_read_only(path: Path) -> sqlite3.Connection:
    # isolation_level=None: no implicit transaction, each SELECT sees the last commit.
    # as_uri() percent-encodes the path (a space or `?` in a folder name).
    return sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True,
                           isolation_level=None, check_same_thread=False, timeout=1.0)
