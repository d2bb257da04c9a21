"""`pbx queue show|add|remove|pause|unpause|log`: the command line side.

show/add/remove/pause/unpause ask the running PBX (management endpoint, pbx.queue.mgmt);
`log` reads the store, so it works with the PBX running or stopped, and prints
Asterisk's queue_log file format (`epoch|callid|queue|agent|event|data...`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode


def add_parser(sub: Any, add_config_dir: Callable[[argparse.ArgumentParser], None]) -> None:
    """The `queue` subcommand and its own subcommands."""
    queue = sub.add_parser("queue", help="call queues: show, add/remove/pause members, log")
    qs = queue.add_subparsers(dest="queue_command", required=True)
    show = qs.add_parser("show", help="queues, members and callers (as Asterisk's queue show)")
    show.add_argument("queue", nargs="?", default="")
    add = qs.add_parser("add", help="add a dynamic member (kept with persistentmembers=yes)")
    add.add_argument("queue")
    add.add_argument("interface", help="e.g. PJSIP/1101")
    add.add_argument("--penalty", type=int, default=0)
    add.add_argument("--name", default="", help="member name (queue_log agent, queue show)")
    add.add_argument("--state-interface", default="")
    add.add_argument("--paused", action="store_true")
    add.add_argument("--reason", default="", help="why it starts paused")
    remove = qs.add_parser("remove", help="remove a dynamic member")
    remove.add_argument("queue")
    remove.add_argument("interface")
    for name, verb in (("pause", "pause"), ("unpause", "unpause")):
        p = qs.add_parser(name, help=f"{verb} a member (in every queue without --queue)")
        p.add_argument("interface")
        p.add_argument("--queue", default="")
        p.add_argument("--reason", default="")
    qlog = qs.add_parser("log", help="queue_log records, in Asterisk's file format")
    qlog.add_argument("--since", default=None,
                      help="only records since: epoch seconds, ISO date/time, or 2h, 30m, 1d")
    for p in (show, add, remove, qlog, *[qs.choices[n] for n in ("pause", "unpause")]):
        add_config_dir(p)


def run(args: argparse.Namespace, mgmt: Callable[..., dict],
        query_store: Callable[[Any], Any], parse_since: Callable[[str | None], float]) -> int:
    cmd = args.queue_command
    if cmd == "log":
        from pbx.queue.qlog import format_row

        since = parse_since(args.since)
        for row in query_store(lambda store: store.queue_log(since)):
            print(format_row(row))
        return 0
    if cmd == "show":
        data = mgmt("/queues")
        if "error" in data:
            print(data["error"], file=sys.stderr)
            return 1
        rows = [q for q in data.get("queues", []) if not args.queue or q["name"] == args.queue]
        if args.queue and not rows:
            print(f"No such queue: {args.queue}.", file=sys.stderr)
            return 1
        if not rows:
            print("No queues.")
        for q in rows:
            print("\n".join(format_queue(q)))
        return 0
    params: dict[str, str] = {"action": cmd, "interface": args.interface}
    if cmd in ("add", "remove"):
        params["queue"] = args.queue
    else:
        params["queue"] = args.queue
        params["reason"] = args.reason
    if cmd == "add":
        params.update(penalty=str(args.penalty), name=args.name,
                      state_interface=args.state_interface, reason=args.reason,
                      paused="1" if args.paused else "0")
    data = mgmt("/queues/member?" + urlencode(params, quote_via=quote), method="POST")
    status = data.get("status")
    messages = {
        "ADDED": f"Added interface '{args.interface}' to queue '{getattr(args, 'queue', '')}'",
        "MEMBERALREADY": "Unable to add interface: Already there",
        "NOSUCHQUEUE": "Unable to add interface to queue: No such queue"
        if cmd == "add" else "Unable to remove interface from queue: No such queue",
        "REMOVED": f"Removed interface {args.interface} from queue "
                   f"'{getattr(args, 'queue', '')}'",
        "NOTINQUEUE": "Unable to remove interface: Not there",
        "NOTDYNAMIC": "Unable to remove interface: it is a queues.conf member (not dynamic)",
        "PAUSED": f"paused interface '{args.interface}'",
        "UNPAUSED": f"unpaused interface '{args.interface}'",
        "NOTFOUND": f"Unable to {cmd} interface '{args.interface}'",
    }
    if status is None:
        print(data.get("error", "request failed"), file=sys.stderr)
        return 1
    ok = status in ("ADDED", "REMOVED", "PAUSED", "UNPAUSED")
    print(messages.get(status, status), file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


def format_queue(q: dict) -> list[str]:
    """One queue as Asterisk's `queue show` prints it (app_queue.c print_queue)."""
    maxlen = str(q["maxlen"]) if q["maxlen"] else "unlimited"
    lines = [f"{q['name']} has {q['calls']} calls (max {maxlen}) in '{q['strategy']}' "
             f"strategy ({q['holdtime']}s holdtime, {q['talktime']}s talktime), "
             f"W:{q['weight']}, C:{q['completed']}, A:{q['abandoned']}, "
             f"SL:{q['sl']:.1f}%, SL2:{q['sl2']:.1f}% within {q['servicelevel']}s"]
    if not q["members"]:
        lines.append("   No Members")
    else:
        lines.append("   Members: ")
        for m in q["members"]:
            text = f"      {m['name']}"
            if m["name"].lower() != m["interface"].lower():
                text += f" ({m['interface']}"
                if m["state_interface"] and m["state_interface"] != m["interface"]:
                    text += f" from {m['state_interface']}"
                text += ")"
            if m["penalty"]:
                text += f" with penalty {m['penalty']}"
            text += f" (ringinuse {'enabled' if m['ringinuse'] else 'disabled'})"
            if m["dynamic"]:
                text += " (dynamic)"
            if m["in_call"]:
                text += " (in call)"
            if m["paused"]:
                reason = f":{m['reason']}" if m["reason"] else ""
                text += f" (paused{reason} was {m['paused_for']} secs ago)"
            text += f" ({m['status']})"
            if m["calls"]:
                text += f" has taken {m['calls']} calls (last was {m['last_call_ago']} secs ago)"
            else:
                text += " has taken no calls yet"
            text += f" (login was {m['login_ago']} secs ago)"
            lines.append(text)
    if not q["callers"]:
        lines.append("   No Callers")
    else:
        lines.append("   Callers: ")
        for i, c in enumerate(q["callers"], start=1):
            lines.append(f"      {i}. {c['channel']} (wait: {c['wait'] // 60}:"
                         f"{c['wait'] % 60:02d}, prio: {c['prio']})")
    lines.append("")
    return lines
