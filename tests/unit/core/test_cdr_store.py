"""The CDR row (pbx.cdr) and the store: new columns, upgrade of an old database."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from pbx.cdr import CdrError, CdrVars, cdr_row, disposition, field_value
from pbx.channel import CallerId, Channel
from pbx.store import Store


def channel(**kw: object) -> Channel:
    ch = Channel("SIP/6001-00000001", context="internal", exten="6002",
                 callerid=CallerId(num="6001", name="Alice"), **kw)  # type: ignore[arg-type]
    ch.created_at = 1000.0
    return ch


def test_row_of_an_answered_call() -> None:
    ch = channel()
    ch.answered_at = 1010.0
    ch.hangup_cause = 16
    ch.lastapp, ch.lastdata = "Dial", "SIP/6002,20"
    ch.cdr.set("userfield", "note")
    ch.cdr.set("project", "x1")
    row = cdr_row(ch, 1070.4)
    assert row is not None
    assert (row["duration"], row["billsec"], row["disposition"]) == (70, 60, "ANSWERED")
    assert row["clid"] == '"Alice" <6001>' and row["dstchannel"] == ""
    assert (row["userfield"], row["vars"], row["amaflags"]) == ("note", {"project": "x1"},
                                                               "DOCUMENTATION")


@pytest.mark.parametrize(("status", "cause", "want"), [
    ("BUSY", 17, "BUSY"), ("NOANSWER", 16, "NO ANSWER"), ("CHANUNAVAIL", 16, "FAILED"),
    ("", 34, "FAILED"), ("", 16, "NO ANSWER")])
def test_disposition(status: str, cause: int, want: str) -> None:
    ch = channel()
    ch.variables["DIALSTATUS"] = status
    ch.hangup_cause = cause
    assert disposition(ch) == want


def test_cdr_vars_rules() -> None:
    v = CdrVars()
    with pytest.raises(CdrError, match="read-only"):
        v.set("billsec", "5")
    with pytest.raises(CdrError, match="OMIT, BILLING or DOCUMENTATION"):
        v.set("amaflags", "SOMETIMES")
    v.set("amaflags", "1")
    assert v.amaflags == "OMIT"
    ch = channel()
    ch.cdr = v
    assert field_value(ch, "amaflags", 0.0, unparsed=True) == "1"
    assert field_value(ch, "disposition", 0.0, unparsed=True) == "0"  # NO ANSWER
    assert field_value(ch, "start", 0.0, unparsed=True) == "1000.000000"


async def test_store_keeps_the_new_columns(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "pbx.sqlite3")
    ch = channel()
    ch.cdr.set("accountcode", "acme")
    ch.cdr.set("campaign", "spring")
    row = cdr_row(ch, 1005.0)
    assert row is not None
    await store.add_cdr(row)
    [got] = await store.cdrs()
    await store.close()
    assert (got["accountcode"], got["vars"], got["dst"]) == ("acme", {"campaign": "spring"},
                                                            "6002")


async def test_an_old_database_is_upgraded_and_keeps_its_records(tmp_path: Path) -> None:
    path = tmp_path / "pbx.sqlite3"
    old = sqlite3.connect(path)
    old.executescript("""
        CREATE TABLE cdr (id INTEGER PRIMARY KEY AUTOINCREMENT, uniqueid TEXT NOT NULL,
            start REAL NOT NULL, answer REAL, end REAL NOT NULL, src TEXT, dst TEXT,
            dcontext TEXT, clid TEXT, channel TEXT, dstchannel TEXT, lastapp TEXT,
            lastdata TEXT, duration INTEGER, billsec INTEGER, disposition TEXT,
            hangupcause INTEGER, rtp TEXT);
        INSERT INTO cdr(uniqueid, start, end, src, dst, disposition)
            VALUES ('1.1', 5.0, 6.0, '6001', '999', 'ANSWERED');
    """)
    old.commit()
    old.close()
    store = await Store.open(path)
    rows = await store.cdrs()
    await store.close()
    assert len(rows) == 1 and rows[0]["dst"] == "999" and rows[0]["userfield"] is None
