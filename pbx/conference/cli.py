"""`pbx confbridge list|kick|mute|unmute|lock|unlock`: Asterisk's `confbridge` CLI
commands, asked of the running PBX through the management endpoint."""

from __future__ import annotations

import argparse
import sys
import urllib.parse
from collections.abc import Callable

Mgmt = Callable[[argparse.Namespace, str, str], dict]


def add_parser(sub: argparse._SubParsersAction, add_config_dir: Callable) -> None:
    cb = sub.add_parser("confbridge", help="conferences in progress: list, kick, mute, lock")
    cb_sub = cb.add_subparsers(dest="confbridge_command", required=True)
    ls = cb_sub.add_parser("list", help="rooms, or the members of one (with their flags)")
    ls.add_argument("room", nargs="?")
    for name, what in (("kick", "remove"), ("mute", "mute"), ("unmute", "unmute")):
        p = cb_sub.add_parser(name, help=f"{what} a channel (all: everyone, participants: "
                                         "non-admins)")
        p.add_argument("room")
        p.add_argument("channel")
    for name in ("lock", "unlock"):
        p = cb_sub.add_parser(name, help=f"{name} a room (a locked room takes only admins)")
        p.add_argument("room")
    for p in (ls, *(cb_sub.choices[n] for n in ("kick", "mute", "unmute", "lock", "unlock"))):
        add_config_dir(p, top=False)


def _q(text: str) -> str:
    return urllib.parse.quote(text, safe="")


def run(args: argparse.Namespace, mgmt: Mgmt) -> int:
    cmd = args.confbridge_command
    if cmd == "list":
        return _list(args, mgmt)
    room = args.room
    if cmd in ("lock", "unlock"):
        data = mgmt(args, f"/confbridge/{_q(room)}/{cmd}", "POST")
    else:
        data = mgmt(args, f"/confbridge/{_q(room)}/{cmd}/{_q(args.channel)}", "POST")
    if not data.get("ok"):
        print(data.get("error", f"{cmd} failed"), file=sys.stderr)
        return 1
    if cmd == "kick":
        print(f"Kicked '{args.channel}' out of conference '{room}'")
    elif cmd in ("mute", "unmute"):
        print(f"{'Muting' if cmd == 'mute' else 'Unmuting'} {args.channel} from confbridge "
              f"{room}")
    else:
        print(f"Conference {room} {cmd}ed")
    return 0


def _list(args: argparse.Namespace, mgmt: Mgmt) -> int:
    if args.room is None:
        rows = mgmt(args, "/confbridge", "GET").get("rooms", [])
        print("Conference Bridge Name           Users  Marked Locked Muted")
        print("================================ ====== ====== ====== =====")
        for r in rows:
            print(f"{r['name']:<32} {r['users']:>6} {r['marked']:>6} "
                  f"{'Yes' if r['locked'] else 'No':<6} {'Yes' if r['muted'] else 'No'}")
        return 0
    data = mgmt(args, f"/confbridge/{_q(args.room)}", "GET")
    if "members" not in data:
        print(data.get("error", "no such conference"), file=sys.stderr)
        return 1
    print("Channel                        Flags  User Profile     Bridge Profile   Menu"
          "             CallerID")
    print("============================== ====== ================ ================ "
          "================ ================")
    for m in data["members"]:
        print(f"{m['channel']:<30} {m['flags']:<6} {m['user_profile']:<16} "
              f"{m['bridge_profile']:<16} {m['menu']:<16} {m['callerid']}")
    return 0
