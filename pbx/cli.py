"""The `pbx` command: run, check, dialplan show/trace, peers, registry, channels, hints,
reload, bans, cdr, database, queue, mail, confbridge."""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import logging
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from pbx.diagnostics import ConfigError

DEFAULT_CONFIG_DIR = "etc"


def _add_config_dir(parser: argparse.ArgumentParser, *, top: bool) -> None:
    # On the top parser it sets the default; on subcommands SUPPRESS keeps an
    # earlier `pbx --config-dir X sub` from being reset, so it works both ways.
    parser.add_argument("--config-dir", "-C", metavar="DIR",
                        default=DEFAULT_CONFIG_DIR if top else argparse.SUPPRESS,
                        help="folder holding pbx.yaml, sip.conf, extensions.conf, "
                             "voicemail.conf (default ./etc)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests)."""
    parser = argparse.ArgumentParser(prog="pbx", description="An Asterisk-style IP-PBX.")
    _add_config_dir(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="start the PBX in the foreground")
    _add_config_dir(run, top=False)
    run.add_argument("-v", "--verbose", action="count", default=0,
                     help="more logging: -v info, -vv and -vvv debug (like Asterisk)")
    run.add_argument("--sip-trace", action="store_true",
                     help="print every SIP message sent and received")
    run.add_argument("--strict", action="store_true",
                     help="refuse to start on what Asterisk loads but `pbx check` calls an "
                          "error (an unknown application, an include of a missing context...)")

    check = sub.add_parser("check", help="validate the configuration; exit 1 on any error")
    _add_config_dir(check, top=False)
    check.add_argument("-v", "--verbose", action="count", default=0,
                       help="also list every prompt the dialplan plays, with its duration")

    dp = sub.add_parser("dialplan", help="show or trace the dialplan")
    dp_sub = dp.add_subparsers(dest="dialplan_command", required=True)
    show = dp_sub.add_parser("show", help="print the dialplan as Asterisk's `dialplan show`")
    _add_config_dir(show, top=False)
    show.add_argument("context", nargs="?", help="only this context (and what it includes)")
    trace = dp_sub.add_parser("trace", help="dry-run a call through the dialplan")
    _add_config_dir(trace, top=False)
    trace.add_argument("exten", help="the number dialled")
    trace.add_argument("--context", default=None,
                       help="starting context (default: the general context of sip.conf)")
    trace.add_argument("--callerid", default=None, help="caller number")
    trace.add_argument("--var", action="append", default=[], metavar="K=V",
                       help="set a channel variable before the call")
    trace.add_argument("--result", action="append", default=[], metavar="App=VALUE",
                       help="simulated application result, e.g. Dial=NOANSWER")

    for name, help_text in (("peers", "list peers with registrations and reachability"),
                            ("registry", "list the PBX's registrations to providers"),
                            ("channels", "list active channels"),
                            ("hints", "list hints with their state and watchers (busy lamps)"),
                            ("reload", "reload configuration in the running PBX")):
        p = sub.add_parser(name, help=help_text)
        _add_config_dir(p, top=False)

    bans = sub.add_parser("bans", help="list banned addresses, or lift bans")
    _add_config_dir(bans, top=False)
    bans.add_argument("action", nargs="?", choices=("list", "lift"), default="list",
                      help="list (default) or lift")
    bans.add_argument("sources", nargs="*", metavar="ADDRESS",
                      help="with lift: the addresses (or IPv6 /64s) to let back in; 'all' for all")

    cdr = sub.add_parser("cdr", help="print call detail records")
    _add_config_dir(cdr, top=False)
    cdr.add_argument("--since", default=None,
                     help="only calls since: epoch seconds, ISO date/time, or e.g. 2h, 30m, 1d")
    cdr.add_argument("--csv", action="store_true", help="CSV output")

    db = sub.add_parser("database", help="the AstDB (DB() in the dialplan): show, put, del")
    db_sub = db.add_subparsers(dest="database_command", required=True)
    db_show = db_sub.add_parser("show", help="list keys and values, all or under a family")
    db_show.add_argument("family", nargs="?", default="")
    db_show.add_argument("keytree", nargs="?", default="")
    db_get = db_sub.add_parser("get", help="print one value")
    db_put = db_sub.add_parser("put", help="set a value (committed at once)")
    db_del = db_sub.add_parser("del", help="delete one key")
    for p in (db_get, db_put, db_del):
        p.add_argument("family")
        p.add_argument("key")
    db_put.add_argument("value")
    db_deltree = db_sub.add_parser("deltree", help="delete a family (or a key tree in it)")
    db_deltree.add_argument("family")
    db_deltree.add_argument("keytree", nargs="?", default="")
    for p in (db_show, db_get, db_put, db_del, db_deltree):
        _add_config_dir(p, top=False)

    from pbx.queue import cli as queue_cli

    queue_cli.add_parser(sub, lambda p: _add_config_dir(p, top=False))

    from pbx.conference import cli as confbridge_cli

    confbridge_cli.add_parser(sub, _add_config_dir)

    mail = sub.add_parser("mail", help="voicemail email outbox")
    mail_sub = mail.add_subparsers(dest="mail_command", required=True)
    queue = mail_sub.add_parser("queue", help="show mail waiting to be sent and why")
    _add_config_dir(queue, top=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `pbx` console script."""
    args = build_parser().parse_args(argv)
    handler = {
        "run": cmd_run, "check": cmd_check, "dialplan": cmd_dialplan, "peers": cmd_peers,
        "channels": cmd_channels, "reload": cmd_reload, "bans": cmd_bans, "cdr": cmd_cdr,
        "mail": cmd_mail, "registry": cmd_registry, "hints": cmd_hints,
        "database": cmd_database, "queue": cmd_queue, "confbridge": cmd_confbridge,
    }[args.command]
    try:
        return handler(args) or 0
    except KeyboardInterrupt:
        return 130


def _load(args: argparse.Namespace):
    from pbx.config import load_config

    return load_config(Path(args.config_dir))


def _print_config_error(exc: ConfigError) -> None:
    for diag in exc.diagnostics:
        print(diag, file=sys.stderr)
    n = len(exc.errors)
    print(f"{n} error{'s' if n != 1 else ''} found", file=sys.stderr)


def cmd_check(args: argparse.Namespace) -> int:
    try:
        config = _load(args)
    except ConfigError as exc:
        _print_config_error(exc)
        return 1
    for warning in config.warnings:
        print(warning, file=sys.stderr)
    contexts = len(config.dialplan.contexts) if config.dialplan else 0
    regs = len(config.sip.registrations)
    for name, file, seconds in config.prompts if args.verbose else ():
        print(f"prompt {name}: {file} ({seconds:.2f} s)")
    prompts = (f", {len(config.prompts)} prompt files decoded "
               f"({sum(s for _, _, s in config.prompts):.1f} s)" if config.prompts else "")
    print(f"configuration OK: {len(config.sip.peers)} peers, "
          + (f"{regs} registration{'s' if regs != 1 else ''}, " if regs else "")
          + f"{contexts} dialplan contexts"
          + prompts + (f", {len(config.warnings)} warnings" if config.warnings else ""))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from pbx.config import load_config
    from pbx.logging_setup import add_log_file, setup_logging
    from pbx.server import run_server

    setup_logging(args.verbose, sip_trace=args.sip_trace)
    try:
        config = load_config(Path(args.config_dir), strict=args.strict)
    except ConfigError as exc:
        _print_config_error(exc)
        return 1
    if config.settings.log_file is not None:
        try:
            add_log_file(config.settings.log_file)
        except OSError as exc:
            print(f"pbx: cannot write the log file {config.settings.log_file}: {exc}",
                  file=sys.stderr)
            return 1
    for warning in config.warnings:
        logging.getLogger("pbx").warning("%s", warning)
    return run_server(config, sip_trace=args.sip_trace)


def cmd_dialplan(args: argparse.Namespace) -> int:
    from pbx.config import load_config

    try:
        # As `pbx run` loads it: an unknown application fails only where it is reached.
        config = load_config(Path(args.config_dir), strict=False)
    except ConfigError as exc:
        _print_config_error(exc)
        return 1
    if args.dialplan_command == "show":
        from dialplan.show import show_dialplan

        if args.context and args.context not in config.dialplan.contexts:
            print(f"There is no existence of '{args.context}' context", file=sys.stderr)
            return 1
        print(show_dialplan(config.dialplan, args.context), end="")
        return 0
    from dialplan.trace import trace_call

    variables = dict(_pair(v, "--var") for v in args.var)
    results = dict(_pair(r, "--result") for r in args.result)
    context = args.context or config.sip.general.context
    for line in trace_call(config.dialplan, args.exten, context=context,
                           callerid=args.callerid, variables=variables, results=results,
                           astdb_path=config.settings.db_path,
                           indications=config.indications):
        print(line)
    return 0


def _pair(text: str, option: str) -> tuple[str, str]:
    if "=" not in text:
        raise SystemExit(f"pbx: {option} {text!r}: expected NAME=VALUE")
    key, value = text.split("=", 1)
    return key.strip(), value


def _mgmt(args: argparse.Namespace, path: str, method: str = "GET") -> dict:
    """Ask the running PBX's management endpoint (http.listen of pbx.yaml)."""
    from pbx.config import load_settings
    from pbx.security.token import TokenError, read_token

    settings = load_settings(Path(args.config_dir), [])
    url = f"http://{settings.http_listen}{path}"
    try:
        token = read_token(settings.storage_dir)
    except TokenError as exc:
        raise SystemExit(f"pbx: {exc}") from exc
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None,
                                     headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        if exc.code == 401:
            raise SystemExit(f"pbx: the PBX at {url} refused the token of "
                             f"{settings.storage_dir}: it is another PBX, or it was started "
                             "with another config dir") from exc
        try:
            return json.loads(exc.read() or b"{}") or {"error": str(exc)}
        except ValueError:
            return {"error": str(exc)}
    except OSError as exc:
        raise SystemExit(f"pbx: cannot reach the running PBX at {url}: {exc}. "
                         "Is `pbx run` running with this --config-dir?") from exc


def cmd_peers(args: argparse.Namespace) -> int:
    data = _mgmt(args, "/peers")
    rows = data.get("peers", [])
    print(f"{'Name':<20} {'Host':<28} {'Status':<16} {'Contact'}")
    for p in rows:
        contacts = p.get("contacts") or [{}]
        for c in contacts:
            host = c.get("source", p.get("host", ""))
            status = c.get("status") or ("Unregistered" if p.get("dynamic") else "Static")
            print(f"{p['name']:<20} {host:<28} {status:<16} {c.get('contact', '')}")
    # chan_sip's summary line: qualify=yes peers are monitored, the others are not.
    counts = {(m, o): 0 for m in (True, False) for o in (True, False)}
    for p in rows:
        statuses = [c.get("status", "") for c in p.get("contacts") or []]
        online = any(s.startswith(("OK", "LAGGED")) for s in statuses) or (
            not p.get("dynamic") and not p.get("qualify"))  # a static host is taken as there
        counts[(bool(p.get("qualify")), online)] += 1
    print(f"{len(rows)} sip peers [Monitored: {counts[(True, True)]} online, "
          f"{counts[(True, False)]} offline Unmonitored: {counts[(False, True)]} online, "
          f"{counts[(False, False)]} offline]")
    return 0


def cmd_registry(args: argparse.Namespace) -> int:
    """Like Asterisk's `sip show registry` / `pjsip show registrations`."""
    rows = _mgmt(args, "/registry").get("registrations", [])
    name_w = max([len("Name"), *(len(r["name"]) for r in rows)])
    user_w = max([len("Username"), *(len(r["username"]) for r in rows)])
    print(f"{'Name':<{name_w}}  {'Username':<{user_w}}  {'State':<17}  {'Expires':>9}  "
          "Last error")
    for r in rows:
        expires = r.get("expires_in")
        if expires is None and r.get("next_attempt_in") is not None:
            expires_text = f"retry {r['next_attempt_in']}s"
        else:
            expires_text = f"{expires}s" if expires is not None else "-"
        print(f"{r['name']:<{name_w}}  {r['username']:<{user_w}}  {r['state']:<17}  "
              f"{expires_text:>9}  {r.get('last_error') or '-'}")
    registered = sum(1 for r in rows if r["state"] == "Registered")
    print(f"{len(rows)} SIP registration{'s' if len(rows) != 1 else ''}, {registered} registered")
    return 0


def cmd_channels(args: argparse.Namespace) -> int:
    data = _mgmt(args, "/channels")
    rows = data.get("channels", [])
    print(f"{'Channel':<28} {'Location':<28} {'State':<8} {'Application(Data)'}")
    for c in rows:
        loc = f"{c['exten']}@{c['context']}:{c['priority']}"
        print(f"{c['name']:<28} {loc:<28} {c['state']:<8} {c['lastapp']}({c['lastdata']})")
    print(f"{len(rows)} active channel{'s' if len(rows) != 1 else ''}")
    return 0


def cmd_hints(args: argparse.Namespace) -> int:
    """Like Asterisk's `core show hints`."""
    rows = _mgmt(args, "/hints").get("hints", [])
    print("    -= Registered Asterisk Dial Plan Hints =-")
    for r in rows:
        where = f"{r['exten']}@{r['context']}"
        print(f"{where:>30}: {r['hint']:<22} State:{r['state']:<15} "
              f"Watchers {r['watchers']:>2}")
    print("----------------")
    print(f"- {len(rows)} hint{'s' if len(rows) != 1 else ''} registered")
    return 0
def cmd_confbridge(args: argparse.Namespace) -> int:
    from pbx.conference import cli as confbridge_cli

    return confbridge_cli.run(args, lambda a, path, method: _mgmt(a, path, method))


def cmd_reload(args: argparse.Namespace) -> int:
    data = _mgmt(args, "/reload", method="POST")
    if data.get("ok"):
        print("reloaded: " + data.get("summary", ""))
        return 0
    for line in data.get("errors", [data.get("error", "reload failed")]):
        print(line, file=sys.stderr)
    print("reload failed: nothing was changed", file=sys.stderr)
    return 1


def cmd_bans(args: argparse.Namespace) -> int:
    if args.action == "lift":
        if not args.sources:
            print("pbx bans lift: name the addresses to let back in (or 'all')",
                  file=sys.stderr)
            return 2
        lifted = 0
        for source in args.sources:
            data = _mgmt(args, "/bans/lift/" + urllib.parse.quote(source, safe=""),
                         method="POST")
            count = int(data.get("lifted", 0))
            lifted += count
            if not count:
                print(f"{source}: not banned", file=sys.stderr)
        print(f"{lifted} ban{'s' if lifted != 1 else ''} lifted")
        return 0 if lifted else 1
    rows = _mgmt(args, "/bans").get("bans", [])
    print(f"{'Address':<28} {'Reason':<8} {'Count':>6} {'Left':>6} {'Dropped':>8}  Since")
    for b in rows:
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(b["since"]))
        print(f"{b['source']:<28} {b['reason']:<8} {b['count']:>6} {b['remaining']:>5}s "
              f"{b['dropped']:>8}  {since}")
    print(f"{len(rows)} banned")
    return 0


def parse_since(text: str | None, now: float | None = None) -> float:
    """`--since` as epoch seconds: a number, an ISO date/time, or 30m/2h/1d ago."""
    if not text:
        return 0.0
    now = time.time() if now is None else now
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if text[-1] in units and text[:-1].isdigit():
        return now - int(text[:-1]) * units[text[-1]]
    try:
        return float(text)
    except ValueError:
        pass
    from datetime import datetime

    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError as exc:
        raise SystemExit(f"pbx: --since {text!r}: use epoch seconds, an ISO date, "
                         "or 30m/2h/1d") from exc


def _query_store(args: argparse.Namespace, query: Any) -> Any:
    """Open the store of the config dir (the PBX may be running), run `query`, close."""
    from pbx.config import load_settings
    from pbx.store import Store

    settings = load_settings(Path(args.config_dir), [])

    async def run() -> Any:
        store = await Store.open(settings.db_path)
        try:
            return await query(store)
        finally:
            await store.close()

    return asyncio.run(run())


def cmd_cdr(args: argparse.Namespace) -> int:
    from pbx.store import CDR_FIELDS

    since = parse_since(args.since)
    rows = _query_store(args, lambda store: store.cdrs(since))
    if args.csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(CDR_FIELDS)
        for row in rows:
            writer.writerow([json.dumps(row[f]) if isinstance(row[f], (dict, list)) else row[f]
                             for f in CDR_FIELDS])
        return 0
    for row in rows:
        start = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row["start"]))
        print(f"{start} {row['src'] or '':>10} -> {row['dst'] or '':<10} "
              f"{row['disposition']:<10} {row['duration']:>4}s billsec={row['billsec']:<4} "
              f"{row['channel']} {row['dstchannel'] or ''} {row['lastapp']}({row['lastdata']})"
              + "".join(f" {k}={row[k]}" for k in ("accountcode", "userfield") if row.get(k))
              + "".join(f" recording={path}" for path in row.get("recordings") or ())
              + _transfer_text(row.get("transfer")))
    print(f"{len(rows)} call{'s' if len(rows) != 1 else ''}")
    return 0


def _transfer_text(transfer: dict | None) -> str:
    """` transfer=blind:transferee by SIP/6001-00000001 to 6003@internal`, or ""."""
    if not transfer:
        return ""
    by = transfer.get("transferer", "")
    to = transfer.get("target", "")
    return (f" transfer={transfer.get('type', '?')}:{transfer.get('role', '?')}"
            + (f" by {by}" if by else "") + (f" to {to}" if to else ""))


def cmd_database(args: argparse.Namespace) -> int:
    """Asterisk's `database show|get|put|del|deltree`, on the store's SQLite file:
    it works with the PBX running (a DB() after a put sees the new value) or stopped."""
    from pbx.store import astdb_key

    cmd = args.database_command
    if cmd == "show":
        prefix = "/".join(p for p in (args.family, args.keytree) if p)
        rows = _query_store(args, lambda store: store.astdb_tree(prefix))
        for key, value in rows:
            print(f"{key:<50}: {value:<25}".rstrip())
        print(f"{len(rows)} result{'s' if len(rows) != 1 else ''} found.")
        return 0
    if cmd == "deltree":
        prefix = "/".join(p for p in (args.family, args.keytree) if p)
        n = _query_store(args, lambda store: store.astdb_deltree(prefix))
        print(f"{n} database entries removed." if n else "Database entries do not exist.")
        return 0 if n else 1
    key = astdb_key(args.family, args.key)
    if cmd == "put":
        _query_store(args, lambda store: store.astdb_apply({key: args.value}))
        print("Updated database successfully")
        return 0
    value = _query_store(args, lambda store: store.astdb_get(key))
    if value is None:
        print("Database entry not found." if cmd == "get" else "Database entry does not exist.",
              file=sys.stderr)
        return 1
    if cmd == "get":
        print(f"Value: {value}")
        return 0
    _query_store(args, lambda store: store.astdb_apply({key: None}))
    print("Database entry removed.")
    return 0


def cmd_queue(args: argparse.Namespace) -> int:
    """`pbx queue show|add|remove|pause|unpause` (running PBX), `pbx queue log` (store)."""
    from pbx.queue import cli as queue_cli

    return queue_cli.run(args, lambda path, method="GET": _mgmt(args, path, method),
                         lambda query: _query_store(args, query), parse_since)


def cmd_mail(args: argparse.Namespace) -> int:
    from voicemail.notify import outbox_rows

    rows = _query_store(args, outbox_rows)
    for row in rows:
        print(f"{row['id']:>5} {row['mailbox']:<16} {row['to']:<30} tries={row['attempts']} "
              f"next={row['next_try']} last error: {row['last_error'] or '-'}")
    print(f"{len(rows)} message{'s' if len(rows) != 1 else ''} waiting")
    return 0


if __name__ == "__main__":
    sys.exit(main())
