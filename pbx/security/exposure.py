"""Toll-fraud checks on a loaded configuration.

* :func:`insecure_problems`: when the PBX listens on an address other than
  loopback, a peer anyone may register as (no secret) or a mailbox with a
  well-known PIN is an open door: these are errors (`pbx run` and `pbx reload`
  refuse, `pbx check` fails) unless pbx.yaml says `security: {allow_insecure: true}`.
* :func:`toll_fraud_warnings`: a context reachable without authentication (guests,
  peers without a secret, peers identified by address only) that can Dial a
  trunk, or that has an open pattern such as `_X.` leading to Dial, is a warning
  at the Dial.
"""

from __future__ import annotations

import ipaddress
import sqlite3
from collections import deque
from pathlib import Path
from typing import Any

from pbx.diagnostics import Diagnostic

__all__ = ["WELL_KNOWN_PINS", "insecure_problems", "is_public", "stored_pins",
           "toll_fraud_warnings"]

WELL_KNOWN_PINS = frozenset({"1234", "0000"})  # and the mailbox's own number


def is_public(host: str) -> bool:
    """False only for loopback addresses (and `localhost`)."""
    if host.lower() == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True  # a host name: it may resolve to anything


def stored_pins(db_path: Path) -> dict[str, str]:
    """PINs changed from the phone menu (voicemail's vm_pins), `box@context` -> PIN.

    Read-only and best effort: no database yet, or no table, is no changed PIN.
    """
    if not db_path.exists():
        return {}
    try:
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=1.0)
        try:
            rows = db.execute("SELECT context, mailbox, pin FROM vm_pins").fetchall()
        finally:
            db.close()
    except sqlite3.Error:
        return {}
    return {f"{box}@{ctx}": str(pin) for ctx, box, pin in rows}


def insecure_problems(config: Any, changed_pins: dict[str, str] | None = None) -> list[Diagnostic]:
    """Errors for open doors when any `sip.listen` address is not loopback."""
    settings = config.settings
    public = [spec for spec in settings.listen if is_public(spec.host)]
    if not public or settings.security.allow_insecure:
        return []
    where = ", ".join(str(spec) for spec in public)
    hint = "or set security: {allow_insecure: true} in pbx.yaml"
    out = []
    for peer in config.sip.peers.values():
        if peer.dynamic and not peer.authenticates:
            out.append(Diagnostic(peer.file, peer.line, peer.col,
                                  f"[{peer.name}] has no secret while the PBX listens "
                                  f"on {where}: anyone could register as it and call; "
                                  f"give it a secret= {hint}"))
    changed = changed_pins or {}
    voicemail = config.voicemail
    for mb in (voicemail.mailboxes.values() if voicemail is not None else ()):
        pin = changed.get(mb.key, mb.pin)
        if pin in WELL_KNOWN_PINS or pin == mb.mailbox:
            source = " (set from the phone menu)" if mb.key in changed else ""
            out.append(Diagnostic(mb.file, mb.line, getattr(mb, "pin_col", 0) or 1,
                                  f"mailbox {mb.key} has a well-known PIN{source} while the "
                                  f"PBX listens on {where}: anyone may listen to its messages; "
                                  f"choose another PIN {hint}"))
    return out


# --- dialplan --------------------------------------------------------------------

_JUMP_APPS = {"goto", "gosub", "gotoif", "gosubif", "gotoiftime"}


def exposed_contexts(config: Any) -> dict[str, str]:
    """Contexts reachable without authentication -> how (via includes and jumps)."""
    sip = config.sip
    dialplan = config.dialplan
    if dialplan is None:
        return {}
    starts: dict[str, str] = {}
    if sip.general.allowguest:
        starts.setdefault(sip.general.context, "guests are allowed (allowguest=yes)")
    for peer in sip.peers.values():
        if not peer.can_call or peer.authenticates:
            continue
        why = (f"peer [{peer.name}] has no secret" if peer.dynamic
               else f"peer [{peer.name}] is identified by its address only")
        starts.setdefault(peer.context, why)
    reached: dict[str, str] = {}
    queue = deque(starts.items())
    while queue:
        name, why = queue.popleft()
        if name in reached or name not in dialplan.contexts:
            continue
        reached[name] = why
        context = dialplan.contexts[name]
        nxt = [inc.context for inc in context.includes]
        for ext in context.extensions.values():
            for step in ext.steps.values():
                nxt.extend(_jump_contexts(step))
        for other in nxt:
            if other not in reached:
                queue.append((other, f"{why}, via context '{name}'"))
    return reached


def _jump_contexts(step: Any) -> list[str]:
    from dialplan.check import split_top_level

    app = step.app.lower()
    if app == "dial":  # a Local/exten@context channel runs that context's dialplan
        first = split_top_level(step.args, ",")[0][0]
        return [part.strip().split("@", 1)[1].split("/", 1)[0]
                for part in first.split("&")
                if part.strip().lower().startswith("local/") and "@" in part
                and "$" not in part.split("@", 1)[1]]
    if app == "macro":
        name = split_top_level(step.args, ",")[0][0].strip()
        return [f"macro-{name}"] if name and "$" not in name else []
    if app not in _JUMP_APPS:
        return []
    text = step.args
    if app in ("gotoif", "gosubif", "gotoiftime"):
        parts = split_top_level(text, "?")
        if len(parts) < 2:
            return []
        text = text[parts[1][1]:]
        targets = [t for t, _ in split_top_level(text, ":")]
    else:
        targets = [text]
    out = []
    for target in targets:
        target = target.split("(", 1)[0]
        pieces = [p.strip() for p, _ in split_top_level(target, ",")]
        if len(pieces) == 3 and pieces[0] and "$" not in pieces[0]:
            out.append(pieces[0])
    return out


def toll_fraud_warnings(config: Any) -> list[Diagnostic]:
    """Warnings at each Dial an unauthenticated caller could use to call out."""
    from dialplan.check import split_top_level

    dialplan = config.dialplan
    if dialplan is None:
        return []
    peers = config.sip.peers
    out = []
    for name, why in exposed_contexts(config).items():
        for ext in dialplan.contexts[name].extensions.values():
            open_pattern = ext.is_pattern and ext.name.endswith((".", "!"))
            for step in ext.steps.values():
                if step.app.lower() != "dial":
                    continue
                first = split_top_level(step.args, ",")[0][0]
                trunks = []
                for part in first.split("&"):
                    tech, _, rest = part.strip().partition("/")
                    if not rest or tech.lower() == "local":  # followed as a jump instead
                        continue
                    peer, number = rest, None
                    if "/" in rest:
                        peer, number = rest.split("/", 1)
                    elif "@" in rest:
                        number, peer = rest.split("@", 1)
                    known = peers.get(peer)
                    if number is not None or (known is not None and not known.dynamic):
                        trunks.append(peer)
                if not trunks and not open_pattern:
                    continue
                what = (f"Dial trunk '{trunks[0]}'" if trunks
                        else f"Dial any number through the pattern '{ext.name}'")
                pos = step.app_pos
                out.append(Diagnostic(pos.file, pos.line, pos.col,
                                      f"context '{name}' is reachable without authentication "
                                      f"({why}) and can {what}: anyone reaching it calls at "
                                      "your cost (toll fraud)", "warning"))
    return out
