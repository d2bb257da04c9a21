"""Group commit: a registration is on disk before its 200 OK; damaged files refused."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from pbx.store import Store, StoredBinding, StoreError


def binding(n: int) -> StoredBinding:
    return StoredBinding(f"u{n}", f"sip:u{n}@192.0.2.1", 10_000.0, {"call_id": str(n)})


def on_disk(path: Path) -> int:
    db = sqlite3.connect(path)  # another connection: sees only what is committed
    try:
        return db.execute("SELECT count(*) FROM bindings").fetchone()[0]
    finally:
        db.close()


async def test_waiter_answered_only_after_commit_and_bursts_share_commits(tmp_path: Path) -> None:
    path = tmp_path / "pbx.sqlite3"
    store = await Store.open(path)
    seen: list[tuple[int, bool, int]] = []
    for n in range(200):
        store.save_binding(binding(n))
        # Each registration checks that its own row is on disk when told so.
        store.when_committed(lambda ok, n=n: seen.append((n, ok, on_disk(path))))
        if n % 20 == 19:
            await asyncio.sleep(0)
    for _ in range(200):
        if len(seen) == 200:
            break
        await asyncio.sleep(0.01)
    assert [n for n, _, _ in seen] == list(range(200))
    assert all(ok and rows >= n + 1 for n, ok, rows in seen)
    assert store.commits < 200 / 2  # group commit: far fewer commits than registrations
    called: list[bool] = []
    store.when_committed(called.append)  # nothing queued: at once
    assert called == [True]
    await store.close()


async def test_a_failed_write_says_so_and_keeps_the_change(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "pbx.sqlite3")
    await store.db.execute("DROP TABLE bindings")  # every write now fails
    await store.db.commit()
    results: list[bool] = []
    store.save_binding(binding(1))
    store.when_committed(results.append)
    for _ in range(100):
        if results:
            break
        await asyncio.sleep(0.01)
    assert results == [False] and store.has_pending
    await store.db.executescript("CREATE TABLE bindings (aor TEXT NOT NULL, contact TEXT "
                                 "NOT NULL, expires_at REAL NOT NULL, data TEXT NOT NULL, "
                                 "PRIMARY KEY (aor, contact));")
    store.when_committed(results.append)
    for _ in range(100):
        if len(results) == 2:
            break
        await asyncio.sleep(0.01)
    assert results == [False, True]
    await store.close()
    assert on_disk(tmp_path / "pbx.sqlite3") == 1


async def test_close_answers_waiters_after_writing(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "pbx.sqlite3")
    results: list[bool] = []
    for n in range(5):
        store.save_binding(binding(n))
        store.when_committed(results.append)
    await store.close()
    assert results == [True] * 5 and on_disk(tmp_path / "pbx.sqlite3") == 5


async def test_damaged_or_foreign_files_stop_the_start(tmp_path: Path) -> None:
    bad = tmp_path / "pbx.sqlite3"
    bad.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(StoreError, match="the database cannot be used"):
        await Store.open(bad)
    good = tmp_path / "g.sqlite3"
    store = await Store.open(good)
    for n in range(300):
        store.save_binding(binding(n))
    await store.close()
    data = bytearray(good.read_bytes())
    for off in range(4096, len(data), 4096):  # scribble over every page but the header
        data[off + 100:off + 300] = b"\xa5" * 200
    good.write_bytes(bytes(data))
    with pytest.raises(StoreError, match=r"damaged|cannot be used"):
        await Store.open(good)


def queue_log_rows(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT count(*) FROM queue_log").fetchone()[0]
    finally:
        db.close()


async def test_queue_log_is_written_behind_by_the_flusher(tmp_path: Path) -> None:
    """queue_log records wait in memory (the engine logs from synchronous code), are
    committed by the flusher within FLUSH_INTERVAL, with a registration's group commit
    when one is waited for, and survive a failed write."""
    path = tmp_path / "pbx.sqlite3"
    store = await Store.open(path)

    def record(n: int, event: str = "ENTERQUEUE") -> dict:
        return {"time": 1000.0 + n, "callid": f"c{n}", "queuename": "sales",
                "agent": "NONE", "event": event, "data": "|6001|1"}

    store.add_queue_log(record(1))
    assert queue_log_rows(path) == 0 and store.has_pending
    for _ in range(100):  # written behind within FLUSH_INTERVAL
        if queue_log_rows(path) == 1:
            break
        await asyncio.sleep(0.01)
    assert queue_log_rows(path) == 1
    # Shared with a registration's commit: both on disk when the REGISTER may be answered.
    store.add_queue_log(record(2, "CONNECT"))
    store.save_binding(binding(1))
    done: list[tuple[bool, int]] = []
    store.when_committed(lambda ok: done.append((ok, queue_log_rows(path))))
    for _ in range(100):
        if done:
            break
        await asyncio.sleep(0.01)
    assert done == [(True, 2)]
    # A failed write keeps the records for the next one.
    await store.db.execute("ALTER TABLE queue_log RENAME TO queue_log_away")
    await store.db.commit()
    store.add_queue_log(record(3, "COMPLETECALLER"))
    with pytest.raises(sqlite3.Error):
        await store.flush()
    assert store.has_pending
    await store.db.execute("ALTER TABLE queue_log_away RENAME TO queue_log")
    await store.db.commit()
    rows = await store.queue_log(since=1002.0)  # flushes first
    assert [(r["callid"], r["event"]) for r in rows] == [("c2", "CONNECT"),
                                                         ("c3", "COMPLETECALLER")]
    await store.close()
