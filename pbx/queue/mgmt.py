"""The management endpoint's queue routes (what `pbx queue ...` asks the running PBX).

- `GET /queues`: every queue, its members and callers (QueueService.rows)
- `POST /queues/member?action=add&queue=Q&interface=I[&penalty=N][&name=NAME][&paused=1]
  [&reason=R]`, `action=remove`, `action=pause|unpause` (queue empty: every queue)
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from pbx.queue.members import MemberSpec


async def queue_route(service: Any, method: str, target: str) -> tuple[int, dict]:
    """(HTTP status, JSON body) for a /queues request."""
    url = urlsplit(target)
    if service is None:
        return 503, {"error": "queues are not running"}
    if url.path == "/queues" and method == "GET":
        return 200, {"queues": service.rows()}
    if url.path != "/queues/member" or method != "POST":
        return 404, {"error": f"no route {method} {url.path}"}
    q = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
    action = q.get("action", "")
    queue = q.get("queue", "")
    interface = q.get("interface", "")
    if not interface:
        return 400, {"error": "an interface is needed (e.g. PJSIP/1101)"}
    if action == "add":
        try:
            penalty = int(q.get("penalty") or 0)
        except ValueError:
            return 400, {"error": f"penalty {q['penalty']!r} is not a number"}
        spec = MemberSpec(interface=interface, penalty=max(0, penalty), name=q.get("name", ""),
                          state_interface=q.get("state_interface", ""),
                          paused=q.get("paused") == "1", reason=q.get("reason", ""))
        status = service.add_member(queue, spec, "CLI")
        return (200 if status == "ADDED" else 409), {"status": status}
    if action == "remove":
        status = service.remove_member(queue, interface, "CLI")
        return (200 if status == "REMOVED" else 409), {"status": status}
    if action in ("pause", "unpause"):
        found = service.set_paused(queue, interface, action == "pause", q.get("reason", ""))
        status = ("PAUSED" if action == "pause" else "UNPAUSED") if found else "NOTFOUND"
        return (200 if found else 404), {"status": status, "queues": found}
    return 400, {"error": f"unknown action {action!r} (add, remove, pause, unpause)"}
