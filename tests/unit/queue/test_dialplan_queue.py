"""Queue() and the queue applications and functions in running dialplans: what the
dialplan sees (QUEUESTATUS, AQMSTATUS..., QUEUE_MEMBER(), QUEUE_WAITING_COUNT()...),
and the queue_log they write. The queue service runs on a fake clock; no member is
rung (the calls that reach a member are the B2BUA and e2e tests')."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dialplan.interpreter import Interpreter
from dialplan.services import DialplanServices
from pbx.channel import CallerId
from pbx.queue.devstate import DeviceState, FixedDeviceStates
from pbx.queue.engine import JoinRequest
from pbx.queue.music import ChannelMusic
from pbx.queue.service import QueueService
from pbx.sip.timers import TimerHeap
from tests.unit.dialplan.test_interpreter import FakeChannel, dialplan
from tests.unit.queue.harness import load

QUEUES = """\
[general]
persistentmembers=yes
[support]
maxlen=1
member => SIP/m1
member => SIP/m2
[closed]
joinempty=paused,unavailable
member => SIP/m3
"""


class Log:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add_queue_log(self, row: dict[str, Any]) -> None:
        self.rows.append(row)


class Db:
    """The AstDB port (what pbx.astdb.AstDb offers the service)."""

    def __init__(self) -> None:
        self.data: dict[str, str] = {}

    def get(self, family: str, key: str) -> str | None:
        return self.data.get(f"/{family}/{key}")

    def put(self, family: str, key: str, value: str) -> None:
        self.data[f"/{family}/{key}"] = value

    def delete(self, family: str, key: str) -> bool:
        return self.data.pop(f"/{family}/{key}", None) is not None

    def keys(self, prefix: str) -> list[str]:
        return sorted(k for k in self.data if k.startswith(f"/{prefix}/"))

    async def settle(self) -> None:
        pass


async def service(tmp: Path, db: Db | None = None) -> tuple[QueueService, Log]:
    log = Log()
    states = FixedDeviceStates({"SIP/m1": DeviceState.NOT_INUSE,
                                "SIP/m2": DeviceState.INUSE,
                                "SIP/m3": DeviceState.UNAVAILABLE})
    svc = QueueService(legs=None, timers=TimerHeap(), now=lambda: 100.0,  # type: ignore[arg-type]
                       devstate=states, music=ChannelMusic(), astdb=db, store=log)
    await svc.start(load(tmp, QUEUES))
    return svc, log


async def run(svc: QueueService, text: str) -> FakeChannel:
    ch = FakeChannel("SIP/6001-0000002a", context="test", exten="1",
                     callerid=CallerId(num="6001", name="Alice"))
    await Interpreter(dialplan(text), DialplanServices(queues=svc)).run(ch)
    return ch


async def test_queuestatus_when_the_caller_cannot_join(tmp_path: Path) -> None:
    svc, log = await service(tmp_path)
    # One caller already waits in `support` (maxlen=1).
    svc.engine.join("support", JoinRequest("SIP/x-1", "u-x"), 100.0)
    ch = await run(svc, """\
[test]
exten => 1,1,Queue(support)
 same => n,Set(FULL=${QUEUESTATUS})
 same => n,Queue(closed)
 same => n,Set(EMPTY=${QUEUESTATUS})
 same => n,Set(QUEUESTATUS=)
 same => n,Queue(nonesuch)
 same => n,Set(UNKNOWN=[${QUEUESTATUS}])
 same => n,Set(WAITING=${QUEUE_WAITING_COUNT(support)})
""")
    v = ch.variables
    assert (v["FULL"], v["EMPTY"], v["UNKNOWN"], v["WAITING"]) == \
        ("FULL", "JOINEMPTY", "[]", "1")
    # A refused caller never entered: no ENTERQUEUE for it.
    assert [r["event"] for r in log.rows] == ["QUEUESTART"]


async def test_queue_member_functions(tmp_path: Path) -> None:
    svc, _ = await service(tmp_path)
    ch = await run(svc, """\
[test]
exten => 1,1,Set(COUNT=${QUEUE_MEMBER(support,count)})
 same => n,Set(LOGGED=${QUEUE_MEMBER(closed,logged)}/${QUEUE_MEMBER_COUNT(support)})
 same => n,Set(FREE=${QUEUE_MEMBER(support,free)})
 same => n,Set(EXISTS=${QUEUE_EXISTS(support)}${QUEUE_EXISTS(nope)})
 same => n,Set(LIST=${QUEUE_MEMBER_LIST(support)})
 same => n,Set(QUEUE_MEMBER(support,penalty,SIP/m2)=3)
 same => n,Set(PENALTY=${QUEUE_MEMBER_PENALTY(support,SIP/m2)})
 same => n,Set(QUEUE_MEMBER(,paused,SIP/m1)=1)
 same => n,Set(PAUSED=${QUEUE_MEMBER(support,paused,SIP/m1)})
 same => n,Set(READY=${QUEUE_MEMBER(support,ready)})
""")
    v = ch.variables
    assert (v["COUNT"], v["LOGGED"], v["FREE"], v["EXISTS"]) == ("2", "0/2", "1", "10")
    assert (v["LIST"], v["PENALTY"], v["PAUSED"], v["READY"]) == \
        ("SIP/m1,SIP/m2", "3", "1", "0")


async def test_member_applications_statuses_log_and_astdb(tmp_path: Path) -> None:
    db = Db()
    svc, log = await service(tmp_path, db)
    ch = await run(svc, """\
[test]
exten => 1,1,AddQueueMember(support)
 same => n,Set(A1=${AQMSTATUS})
 same => n,AddQueueMember(support)
 same => n,Set(A2=${AQMSTATUS})
 same => n,AddQueueMember(nope,SIP/7000)
 same => n,Set(A3=${AQMSTATUS})
 same => n,AddQueueMember(support,PJSIP/7000,2,pr(training),Trainee)
 same => n,PauseQueueMember(,SIP/6001,,coffee)
 same => n,Set(P1=${PQMSTATUS})
 same => n,UnpauseQueueMember(support,SIP/nobody)
 same => n,Set(P2=${UPQMSTATUS})
 same => n,RemoveQueueMember(support,SIP/m1)
 same => n,Set(R1=${RQMSTATUS})
 same => n,RemoveQueueMember(support)
 same => n,Set(R2=${RQMSTATUS})
 same => n,QueueLog(support,${UNIQUEID},NONE,WENTONBREAK,600)
""")
    v = ch.variables
    assert (v["A1"], v["A2"], v["A3"]) == ("ADDED", "MEMBERALREADY", "NOSUCHQUEUE")
    assert (v["P1"], v["P2"], v["R1"], v["R2"]) == ("PAUSED", "NOTFOUND", "NOTDYNAMIC",
                                                    "REMOVED")
    uid = ch.uniqueid
    lines = [f"{r['callid']}|{r['queuename']}|{r['agent']}|{r['event']}|{r['data']}"
             for r in log.rows]
    assert lines == [
        "NONE|NONE|NONE|QUEUESTART|",
        f"{uid}|support|SIP/6001|ADDMEMBER|",
        f"{uid}|support|PJSIP/7000|ADDMEMBER|PAUSED",
        "NONE|NONE|SIP/6001|PAUSEALL|coffee",
        "NONE|support|SIP/6001|PAUSE|coffee",
        f"{uid}|support|SIP/6001|REMOVEMEMBER|",
        f"{uid}|support|NONE|WENTONBREAK|600",
    ]
    # What is left dynamic is in the AstDB, as Asterisk's dump_queue_members writes it.
    assert db.data == {"/Queue/PersistentMembers/support":
                       "PJSIP/7000;2;1;Trainee;PJSIP/7000;training;0"}
    # ... and a new start reads it back (paused, with its reason), silently.
    svc2, log2 = await service(tmp_path, db)
    m = svc2.queue("support").by_iface["PJSIP/7000"]  # type: ignore[union-attr]
    assert (m.dynamic, m.paused, m.reason, m.penalty, m.name) == \
        (True, True, "training", 2, "Trainee")
    assert [r["event"] for r in log2.rows] == ["QUEUESTART"]


async def test_saved_members_of_a_queue_that_is_gone_are_dropped(tmp_path: Path) -> None:
    db = Db()
    db.put("Queue/PersistentMembers", "oldqueue", "SIP/1;0;0;SIP/1;SIP/1;;0")
    await service(tmp_path, db)
    assert db.data == {}


async def test_a_channel_out_of_max_forwards_cannot_enter(tmp_path: Path) -> None:
    """app_queue: a Local member whose dialplan queues again ends up with no forwards
    left: Queue() hangs up instead of joining (no ENTERQUEUE)."""
    svc, log = await service(tmp_path)
    ch = FakeChannel("Local/6001@loop-00000001;2", context="test", exten="1",
                     callerid=CallerId(num="6001", name="Alice"))
    ch.max_forwards = 0  # type: ignore[attr-defined]
    await Interpreter(dialplan("""\
[test]
exten => 1,1,Queue(support)
 same => n,Set(AFTER=yes)
"""), DialplanServices(queues=svc)).run(ch)
    assert "AFTER" not in ch.variables and "QUEUESTATUS" not in ch.variables
    assert [r["event"] for r in log.rows] == ["QUEUESTART"]
