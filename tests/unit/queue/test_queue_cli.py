"""`pbx queue show` prints what Asterisk's `queue show` prints; the management routes
behind `pbx queue add|remove|pause|unpause` answer with the applications' statuses."""

from __future__ import annotations

from pathlib import Path

from pbx.queue.cli import format_queue
from pbx.queue.mgmt import queue_route
from tests.unit.queue.test_dialplan_queue import service


async def test_show_and_member_routes(tmp_path: Path) -> None:
    svc, log = await service(tmp_path)
    status, body = await queue_route(
        svc, "POST", "/queues/member?action=add&queue=support&interface=PJSIP/7000"
                     "&penalty=2&name=Carol%20K&paused=1&reason=training")
    assert (status, body) == (200, {"status": "ADDED"})
    status, body = await queue_route(svc, "POST", "/queues/member?action=add&queue=support"
                                                  "&interface=PJSIP/7000")
    assert (status, body) == (409, {"status": "MEMBERALREADY"})
    status, body = await queue_route(svc, "POST", "/queues/member?action=unpause"
                                                  "&interface=PJSIP/7000")
    assert (status, body["status"]) == (200, "UNPAUSED")
    status, body = await queue_route(svc, "POST", "/queues/member?action=pause&queue=nope"
                                                  "&interface=PJSIP/7000")
    assert (status, body["status"]) == (404, "NOTFOUND")
    status, body = await queue_route(svc, "POST", "/queues/member?action=add&queue=support"
                                                  "&interface=SIP/1&penalty=x")
    assert status == 400 and "penalty" in body["error"]
    status, body = await queue_route(svc, "GET", "/queues")
    assert status == 200
    support = next(q for q in body["queues"] if q["name"] == "support")
    text = "\n".join(format_queue(support))
    assert text.splitlines()[0] == (
        "support has 0 calls (max 1) in 'ringall' strategy (0s holdtime, 0s talktime), "
        "W:0, C:0, A:0, SL:0.0%, SL2:0.0% within 0s")
    lines = text.splitlines()
    assert lines[1] == "   Members: "
    assert lines[2].startswith("      SIP/m1 (ringinuse enabled) (Not in use) has taken no "
                               "calls yet (login was ")
    assert lines[3].startswith("      SIP/m2 (ringinuse enabled) (In use) has taken no calls")
    assert lines[4].startswith("      Carol K (PJSIP/7000) with penalty 2 (ringinuse enabled) "
                               "(dynamic) (Unknown) has taken no calls yet")
    assert lines[5:] == ["   No Callers"]
    assert [r["event"] for r in log.rows] == ["QUEUESTART", "ADDMEMBER", "UNPAUSEALL",
                                              "UNPAUSE"]
    assert log.rows[1]["callid"] == "CLI"


async def test_without_a_running_queue_service() -> None:
    assert (await queue_route(None, "GET", "/queues"))[0] == 503
