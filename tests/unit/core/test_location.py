"""Bindings: kept in memory, written behind to SQLite, restored, expired."""

from __future__ import annotations

from pathlib import Path

from pbx.location import Binding, Location
from pbx.store import Store


async def test_bindings_survive_a_restart_and_expire(tmp_path: Path) -> None:
    db = tmp_path / "pbx.sqlite3"
    store = await Store.open(db)
    loc = Location(store)
    loc.put(Binding("6001", "sip:6001@127.0.0.1:5062", expires_at=1000.0, call_id="a", cseq=1,
                    source_host="127.0.0.1", source_port=5062, user_agent="phone"))
    loc.put(Binding("6001", "sip:6001@127.0.0.1:5064", expires_at=50.0))
    loc.put(Binding("6002", "sip:6002@[::1]:5070", expires_at=900.0, transport="tcp"))
    loc.remove("6002", "sip:6002@[::1]:5070")
    await store.close()  # flushes what was written behind

    store = await Store.open(db)
    loc = Location(store)
    assert await loc.load(now=100.0) == 1  # the binding that expired at 50 is gone
    (b,) = loc.lookup("6001", now=100.0)
    assert (b.contact, b.source_port, b.user_agent, b.call_id) == \
        ("sip:6001@127.0.0.1:5062", 5062, "phone", "a")
    assert loc.lookup("6002", now=100.0) == []
    assert loc.expire(now=2000.0) == 1 and len(loc) == 0
    await store.close()


async def test_cdr_round_trip(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "pbx.sqlite3")
    await store.add_cdr({"uniqueid": "1.1", "start": 10.0, "answer": 12.0, "end": 20.0,
                         "src": "6001", "dst": "999", "disposition": "ANSWERED",
                         "duration": 10, "billsec": 8, "rtp": {"a": {"lost": 0}}})
    rows = await store.cdrs(since=5.0)
    assert rows[0]["disposition"] == "ANSWERED" and rows[0]["rtp"] == {"a": {"lost": 0}}
    assert await store.cdrs(since=11.0) == []
    await store.close()
