"""CDR(), CDR_PROP(), ARRAY(), DB(), DB_EXISTS(), DB_DELETE() in running dialplans,
and what Set() and the interpreter do with an unknown function or application."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dialplan.interpreter import Interpreter, RunResult
from dialplan.services import DialplanServices
from pbx.astdb import AstDb
from pbx.cdr import cdr_row
from pbx.channel import CallerId, ChannelState
from pbx.store import Store
from tests.unit.dialplan.test_interpreter import FakeChannel, dialplan


class Clock:
    def __init__(self, wall: float = 1_700_000_000.0) -> None:
        self.wall = wall

    def time(self) -> float:
        return self.wall

    def monotonic(self) -> float:
        return 50.0


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(tmp_path / "pbx.sqlite3")
    yield s
    await s.close()


async def call(text: str, exten: str = "1", services: DialplanServices | None = None,
               **kw: object) -> tuple[RunResult, FakeChannel]:
    ch = FakeChannel("SIP/alice-00000001", context="test", exten=exten,
                     callerid=CallerId(num="6001", name="Alice"), **kw)
    result = await Interpreter(dialplan(text), services).run(ch)
    return result, ch


# --- CDR ------------------------------------------------------------------------------


async def test_cdr_write_read_and_row() -> None:
    clock = Clock()
    text = """[test]
exten => 1,1,Set(CDR(userfield)=vip)
 same => n,Set(CDR(accountcode)=sales)
 same => n,Set(CDR(campaign)=spring)
 same => n,Set(CDR(amaflags)=BILLING)
 same => n,Playback(${CDR(userfield)}-${CDR(campaign)}-${CDR(src)}-${CDR(dst)})
 same => n,Playback(${CDR(amaflags)}-${CDR(amaflags,u)}-${CDR(disposition)})
 same => n,Playback(${CDR(nothing)}x)
 same => n,Hangup()
"""
    result, ch = await call(text, services=DialplanServices(clock=clock))
    assert ch.played() == ["vip-spring-6001-1", "BILLING-2-ANSWERED", "x"]
    assert result.reason == "hangup"
    row = cdr_row(ch, clock.wall)
    assert row is not None
    assert (row["userfield"], row["accountcode"], row["amaflags"]) == ("vip", "sales", "BILLING")
    assert row["vars"] == {"campaign": "spring"}
    assert row["src"] == "6001" and row["dst"] == "1" and row["disposition"] == "ANSWERED"


async def test_cdr_times_and_durations_follow_the_clock() -> None:
    clock = Clock(wall=1_000_100.5)
    text = ("[test]\nexten => 1,1,Playback(${CDR(duration)}|${CDR(billsec)}|"
            "${CDR(start,u)}|${CDR(answer,u)}|${CDR(duration,f)})\n")
    ch = FakeChannel("SIP/a-1", context="test", exten="1")
    ch.created_at = 1_000_000.0
    ch.state, ch.answered_at = ChannelState.UP, 1_000_040.0
    await Interpreter(dialplan(text), DialplanServices(clock=clock)).run(ch)
    assert ch.played() == ["100|60|1000000.000000|1000040.000000|100.500000"]
    _, ch = await call("[test]\nexten => 1,1,NoOp()\n same => n,Set(A=${CDR(answer)}|"
                       "${CDR(answer,u)}|${CDR(billsec)})\n")
    assert ch.variables["A"] == "|0.000000|0"  # not answered


async def test_cdr_read_only_field_is_a_warning_and_the_call_goes_on(
        caplog: pytest.LogCaptureFixture) -> None:
    text = "[test]\nexten => 1,1,Set(CDR(src)=999)\n same => n,Playback(${CDR(src)})\n"
    with caplog.at_level(logging.WARNING):
        _, ch = await call(text)
    assert ch.played() == ["6001"]
    assert "extensions.conf:2:18: Set(CDR(src)=...): CDR(src) is read-only" in caplog.text


async def test_cdr_prop_disable_and_nocdr() -> None:
    _, ch = await call("[test]\nexten => 1,1,Set(CDR_PROP(disable)=1)\n same => n,Hangup()\n")
    assert ch.cdr.disabled and cdr_row(ch, 0.0) is None
    _, ch = await call("[test]\nexten => 1,1,Set(CDR_PROP(disable)=0)\n")
    assert cdr_row(ch, 0.0) is not None
    _, ch = await call("[test]\nexten => 1,1,NoCDR()\n")
    assert cdr_row(ch, 0.0) is None


async def test_channel_writes_language_and_accountcode() -> None:
    _, ch = await call("[test]\nexten => 1,1,Set(CHANNEL(language)=fr)\n"
                       " same => n,Set(CHANNEL(accountcode)=acme)\n")
    assert ch.language == "fr" and ch.cdr.accountcode == "acme"


# --- ARRAY ----------------------------------------------------------------------------


async def test_array_sets_several_variables() -> None:
    text = ('[test]\nexten => 1,1,Set(ARRAY(A,B,C)=1,"two,2",3,4)\n'
            " same => n,Set(ARRAY(X,Y)=only)\n"
            " same => n,Set(ARRAY(P,Q)=a|b)\n")
    _, ch = await call(text)
    got = {k: ch.variables.get(k) for k in ("A", "B", "C", "X", "Y", "P", "Q")}
    assert got == {"A": "1", "B": "two,2", "C": "3", "X": "only", "Y": "", "P": "a", "Q": "b"}


async def test_array_cannot_be_read() -> None:
    result, _ = await call("[test]\nexten => 1,1,Playback(${ARRAY(A)})\n")
    assert result.reason == "error" and "ARRAY cannot be read" in result.message


# --- DB -------------------------------------------------------------------------------


async def test_db_functions_on_the_store(store: Store) -> None:
    db = AstDb.open(store)
    await store.astdb_apply({"/cidname/6001": "Alice Smith"})  # e.g. `pbx database put`
    text = """[test]
exten => 1,1,Playback(${DB(cidname/${CALLERID(num)})}|${DB_RESULT})
 same => n,Set(DB(seen/${CALLERID(num)}/last)=${EPOCH})
 same => n,Playback(${DB_EXISTS(seen/6001/last)}|${DB_EXISTS(seen/nobody)})
 same => n,Playback(${DB_KEYS(seen)}|${DB_KEYCOUNT(seen/6001)})
 same => n,Playback(${DB_DELETE(cidname/6001)}|${DB_EXISTS(cidname/6001)})
 same => n,Playback(${DB(nofamily/nokey)}none)
"""
    try:
        _, ch = await call(text, services=DialplanServices(astdb=db, clock=Clock()))
        assert ch.played() == ["Alice Smith|Alice Smith", "1|0", "6001|1", "Alice Smith|0",
                               "none"]
        assert not db.dirty
    finally:
        db.close()
    # Committed: another connection (another process: `pbx database show`) sees it.
    other = sqlite3.connect(store.path)  # type: ignore[arg-type]
    rows = dict(other.execute("SELECT key, value FROM astdb").fetchall())
    other.close()
    assert rows == {"/seen/6001/last": "1700000000"}


async def test_db_sees_what_another_process_commits(store: Store) -> None:
    db = AstDb.open(store)
    try:
        assert db.get("cfwd", "6001") is None
        other = sqlite3.connect(store.path)  # type: ignore[arg-type]
        other.execute("INSERT INTO astdb(key, value) VALUES ('/cfwd/6001', '6002')")
        other.commit()
        other.close()
        assert db.get("cfwd", "6001") == "6002"
    finally:
        db.close()


async def test_db_writes_wait_for_settle_but_are_read_back_at_once(store: Store) -> None:
    db = AstDb.open(store)
    try:
        db.put("a", "b", "1")
        assert db.dirty and db.get("a", "b") == "1"
        assert await store.astdb_get("/a/b") is None  # not committed yet
        await db.settle()
        assert not db.dirty and await store.astdb_get("/a/b") == "1"
        assert db.delete("a", "b") and db.get("a", "b") is None and db.keys("a") == []
        await db.settle()
        assert await store.astdb_tree("a") == []
    finally:
        db.close()


async def test_db_without_a_store_fails_the_call_with_its_position(
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        result, _ = await call("[test]\nexten => 1,1,NoOp(${DB(a/b)})\n")
    assert result.reason == "error"
    assert "extensions.conf:2:14: the AstDB is not available here" in caplog.text


async def test_bad_db_argument() -> None:
    result, _ = await call("[test]\nexten => 1,1,NoOp(${DB(nofamily)})\n")
    assert result.reason == "error" and "DB requires an argument" in result.message


# --- unknown things ---------------------------------------------------------------------


async def test_set_of_an_unknown_function_warns_with_position_and_goes_on(
        caplog: pytest.LogCaptureFixture) -> None:
    text = "[test]\nexten => 1,1,Set(  NOSUCH(x)=1)\n same => n,Playback(after)\n"
    with caplog.at_level(logging.WARNING):
        result, ch = await call(text)
    assert ch.played() == ["after"] and result.reason == "fell-through"
    assert ("extensions.conf:2:20: Set(NOSUCH(x)=...): Unknown function: NOSUCH "
            "(channel SIP/alice-00000001 goes on)") in caplog.text


async def test_unknown_application_fails_that_call_only(
        caplog: pytest.LogCaptureFixture) -> None:
    text = ("[test]\nexten => 1,1,Playback(first)\n same => n,NoSuchApp(busy)\n"
            " same => n,Playback(never)\nexten => 2,1,Playback(fine)\n")
    with caplog.at_level(logging.ERROR):
        result, ch = await call(text)
    assert result.reason == "error" and ch.played() == ["first"]
    assert "extensions.conf:3:12: Unknown application 'NoSuchApp'" in caplog.text
    result, ch = await call(text, exten="2")
    assert ch.played() == ["fine"]


async def test_reading_an_unknown_function_fails_the_call_with_its_position(
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        result, _ = await call("[test]\nexten => 1,1,NoOp(${TXTCIDNAME(+1)})\n")
    assert result.reason == "error"
    assert "extensions.conf:2:14: Unknown function: TXTCIDNAME" in caplog.text


async def test_astdb_in_a_folder_with_odd_characters(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "my pbx?#1" / "pbx.sqlite3")
    db = AstDb.open(store)
    try:
        db.put("f", "k", "v")
        await db.settle()
        assert db.get("f", "k") == "v" and await store.astdb_get("/f/k") == "v"
    finally:
        db.close()
        await store.close()


async def test_dry_run_reads_but_never_writes(store: Store) -> None:
    await store.astdb_apply({"/f/k": "stored"})
    db = AstDb.dry_run(store.path)
    try:
        assert db.get("f", "k") == "stored"
        db.put("f", "k", "changed")
        assert not db.dirty and db.get("f", "k") == "changed"
        await db.settle()
    finally:
        db.close()
    assert await store.astdb_get("/f/k") == "stored"
    empty = AstDb.dry_run(None)
    assert empty.get("f", "k") is None and empty.keys("") == []
    empty.close()
