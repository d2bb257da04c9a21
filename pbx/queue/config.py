"""queues.conf as Asterisk's app_queue reads it.

`[general]` holds the global options; every other section is a queue (templates
`[name](!)` and `[q](tmpl)` and `#include` as in every .conf file). Defaults are
Asterisk's init_queue ones (timeout 15, retry 5, ringinuse yes, announce-position
yes, announce-holdtime yes, autofill no...). Problems are `file:line:col`
diagnostics: an unknown option is a warning (Asterisk logs it and loads); a value
Asterisk would misread (`timeout=abc`, `strategy=fastest`) is an error it loads
anyway (`pbx run` warns and takes Asterisk's reading; `pbx check` refuses it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pbx.conffile import Entry, Section, read_conf
from pbx.diagnostics import Diagnostic
from pbx.queue.members import MemberSpec, atoi, parse_bool, parse_member

STRATEGIES = ("ringall", "leastrecent", "fewestcalls", "random", "rrmemory", "rrordered",
              "linear", "wrandom")
# Asterisk's old name for rrmemory.
_STRATEGY_ALIASES = {"roundrobin": "rrmemory"}

# joinempty / leavewhenempty conditions (app_queue.c parse_empty_options).
EMPTY_CONDITIONS = ("paused", "penalty", "inuse", "ringing", "unavailable", "invalid",
                    "unknown", "wrapup")
_LOOSE = frozenset({"penalty", "invalid"})
_STRICT = frozenset({"penalty", "invalid", "paused", "unavailable"})
_YES_NO_EMPTY = frozenset({"penalty", "invalid", "paused"})

# The prompts of position/hold-time announcements and their queues.conf keys.
SOUND_KEYS = {
    "queue-youarenext": "queue-youarenext", "queue-thereare": "queue-thereare",
    "queue-callswaiting": "queue-callswaiting", "queue-quantity1": "queue-quantity1",
    "queue-quantity2": "queue-quantity2", "queue-holdtime": "queue-holdtime",
    "queue-minutes": "queue-minutes", "queue-minute": "queue-minute",
    "queue-seconds": "queue-seconds", "queue-thankyou": "queue-thankyou",
    "queue-reporthold": "queue-reporthold", "queue-callerannounce": "",
}

# Options Asterisk has that this PBX accepts and does not act on (a warning says so).
_NOT_ACTED_ON = {
    "monitor-format", "monitor-type", "membergosub", "defaultrule", "log-restricted-caller-id",
    "setinterfacevar-realtime", "servicelevel-realtime",
}
_GENERAL_KNOWN = {"persistentmembers", "autofill", "monitor-type", "shared_lastcall",
                  "updatecdr", "negative_penalty_invalid", "log_membername_as_agent",
                  "force_longest_waiting_caller", "log-caller-id-name",
                  "log-restricted-caller-id", "log_unpause_on_reason_change", "keepstats"}
_GENERAL_ACTED_ON = {"persistentmembers", "autofill", "shared_lastcall", "log-caller-id-name",
                     "log_membername_as_agent", "monitor-type"}


@dataclass(slots=True)
class QueueGeneral:
    """[general]; Asterisk's defaults (queue_reset_global_params)."""

    persistentmembers: bool = False
    autofill: bool = False
    shared_lastcall: bool = False
    log_caller_id_name: bool = False
    log_membername_as_agent: bool = False


@dataclass(slots=True)
class EmptyRule:
    """A joinempty/leavewhenempty setting: the member conditions that make a member
    count as absent. `legacy_strict` remembers Asterisk 1.4's `strict`, whose
    refusals were reported as JOINUNAVAIL/LEAVEUNAVAIL when nobody was reachable."""

    conditions: frozenset[str] = frozenset()
    legacy_strict: bool = False

    def __bool__(self) -> bool:
        return bool(self.conditions)


@dataclass(slots=True)
class QueueSpec:
    """One queue as configured: Asterisk's init_queue defaults."""

    name: str
    file: str = ""
    line: int = 0
    col: int = 0
    strategy: str = "ringall"
    timeout: int = 15  # how long one member rings (0: until the caller's Queue timeout)
    retry: int = 5  # pause between ring attempts
    timeoutpriority: str = "app"  # app: Queue()'s timeout wins; conf: this timeout
    timeoutrestart: bool = False
    wrapuptime: int = 0
    maxlen: int = 0  # 0: unlimited
    weight: int = 0
    ringinuse: bool = True
    autofill: bool | None = None  # None: [general]'s
    joinempty: EmptyRule = field(default_factory=EmptyRule)
    leavewhenempty: EmptyRule = field(default_factory=EmptyRule)
    musicclass: str = ""
    announce: str = ""  # played to the member before the bridge
    context: str = ""  # a digit dialled while waiting exits to this context
    announce_frequency: int = 0
    min_announce_frequency: int = 15
    announce_holdtime: str = "yes"  # yes | no | once
    announce_position: str = "yes"  # yes | no | limit | more
    announce_position_limit: int = 10
    announce_position_only_up: bool = False
    announce_round_seconds: int = 0
    announce_to_first_user: bool = False
    periodic_announce: list[str] = field(default_factory=lambda: ["queue-periodic-announce"])
    periodic_announce_frequency: int = 0
    periodic_announce_startdelay: int = -1
    random_periodic_announce: bool = False
    relative_periodic_announce: bool = False
    sounds: dict[str, str] = field(default_factory=lambda: dict(SOUND_KEYS))
    servicelevel: int = 0
    penaltymemberslimit: int = 0
    setinterfacevar: bool = False
    setqueueentryvar: bool = False
    setqueuevar: bool = False
    reportholdtime: bool = False
    memberdelay: int = 0
    autopause: str = "no"  # no | yes | all
    autopausedelay: int = 0
    autopausebusy: bool = False
    autopauseunavail: bool = False
    members: list[MemberSpec] = field(default_factory=list)

    def sound(self, key: str) -> str:
        return self.sounds.get(key, "")


@dataclass(slots=True)
class QueuesConfig:
    general: QueueGeneral = field(default_factory=QueueGeneral)
    queues: dict[str, QueueSpec] = field(default_factory=dict)
    path: str = ""


def load_queues_conf(path: Path, diagnostics: list[Diagnostic]) -> QueuesConfig:
    """Read queues.conf; problems are appended to `diagnostics`."""
    conf = read_conf(path, diagnostics)
    out = QueuesConfig(path=str(path))
    for section in conf.sections:
        if section.is_template:
            continue
        if section.name.lower() == "general":
            _load_general(section, out.general, diagnostics)
            continue
        if section.name in out.queues:
            diagnostics.append(Diagnostic(section.file, section.line, section.col,
                                          f"queue [{section.name}] is defined twice "
                                          "(Asterisk keeps the last)", "warning"))
        out.queues[section.name] = _load_queue(section, diagnostics)
    return out


def _load_general(section: Section, general: QueueGeneral, diags: list[Diagnostic]) -> None:
    for entry in section.entries:
        key = entry.key
        if key not in _GENERAL_KNOWN:
            diags.append(entry.diag(f"unknown option '{key}' in [general] of queues.conf",
                                    on_value=False, severity="warning"))
            continue
        if key not in _GENERAL_ACTED_ON:
            diags.append(entry.diag(f"'{key}' is accepted but this PBX does not act on it",
                                    on_value=False, severity="warning"))
            continue
        if key == "monitor-type":
            continue  # MixMonitor is the only kind Asterisk still has
        flag = _bool(entry, diags)
        attr = {"log-caller-id-name": "log_caller_id_name"}.get(key, key)
        setattr(general, attr, flag)


def _bool(entry: Entry, diags: list[Diagnostic]) -> bool:
    flag = parse_bool(entry.value)
    if flag is None:
        diags.append(Diagnostic(entry.file, entry.line, entry.value_col,
                                f"{entry.key}: '{entry.value}' is not yes or no "
                                "(Asterisk takes it as no)", loadable=True))
        return False
    return flag


def _int(entry: Entry, diags: list[Diagnostic], *, minimum: int | None = None,
         default: int | None = None) -> int:
    value = atoi(entry.value)
    if value is None:
        diags.append(Diagnostic(entry.file, entry.line, entry.value_col,
                                f"{entry.key}: '{entry.value}' is not a whole number",
                                loadable=True))
        return default if default is not None else 0
    if minimum is not None and value < minimum:
        return default if default is not None else minimum
    return value


def _empty_rule(entry: Entry, diags: list[Diagnostic], joinempty: bool) -> EmptyRule:
    """parse_empty_options: a list of conditions, or the old yes/no/strict/loose."""
    conditions: set[str] = set()
    strict = False
    for option in (o.strip().lower() for o in entry.value.split(",")):
        if option in EMPTY_CONDITIONS:
            conditions.add(option)
        elif option == "loose":
            conditions = set(_LOOSE)
        elif option == "strict":
            conditions = set(_STRICT)
            strict = True
        elif (parse_bool(option) is False and joinempty) or \
                (parse_bool(option) is True and not joinempty):
            conditions = set(_YES_NO_EMPTY)
        elif parse_bool(option) is not None:
            conditions = set()
        else:
            diags.append(Diagnostic(entry.file, entry.line, entry.value_col,
                                    f"{entry.key}: unknown condition '{option}' (use "
                                    f"{', '.join(EMPTY_CONDITIONS)}, or yes/no/strict/loose)",
                                    loadable=True))
    return EmptyRule(frozenset(conditions), strict)


def _load_queue(section: Section, diags: list[Diagnostic]) -> QueueSpec:
    q = QueueSpec(section.name, section.file, section.line, section.col)
    member_entries: list[Entry] = []
    for entry in section.entries:
        key = entry.key
        if key == "member":
            member_entries.append(entry)
            continue
        if not _set_param(q, entry, diags):
            if key in _NOT_ACTED_ON:
                diags.append(entry.diag(f"'{key}' is accepted but this PBX does not act on it",
                                        on_value=False, severity="warning"))
            else:
                diags.append(entry.diag(f"unknown option '{key}' in queue [{section.name}]",
                                        on_value=False, severity="warning"))
    # Members after the options, whatever the order they were written in: a member's
    # ringinuse follows the queue's (Asterisk reads the options first as well).
    seen: dict[str, Entry] = {}
    for entry in member_entries:
        spec, problems = parse_member(entry.value)
        for offset, problem in problems:
            diags.append(Diagnostic(entry.file, entry.line, entry.value_col + offset, problem,
                                    loadable=True))
        if spec is None:
            continue
        spec.file, spec.line, spec.col = entry.file, entry.line, entry.value_col
        if spec.interface in seen:
            first = seen[spec.interface]
            diags.append(Diagnostic(entry.file, entry.line, entry.value_col,
                                    f"member {spec.interface} is already in queue "
                                    f"[{section.name}] (line {first.line}); the last one counts",
                                    "warning"))
            q.members = [m for m in q.members if m.interface != spec.interface]
        seen[spec.interface] = entry
        q.members.append(spec)
    return q


def _set_param(q: QueueSpec, entry: Entry, diags: list[Diagnostic]) -> bool:
    """queue_set_param: False for a key it does not know."""
    key, value = entry.key, entry.value
    if key in ("musicclass", "music", "musiconhold"):
        q.musicclass = value
    elif key == "announce":
        q.announce = value
    elif key == "context":
        q.context = value
    elif key == "timeout":
        q.timeout = _int(entry, diags, minimum=0, default=15)
    elif key == "retry":
        q.retry = _int(entry, diags, default=5)
        if q.retry <= 0:
            q.retry = 5
    elif key == "timeoutpriority":
        q.timeoutpriority = "conf" if value.lower() == "conf" else "app"
        if value.lower() not in ("app", "conf"):
            diags.append(Diagnostic(entry.file, entry.line, entry.value_col,
                                    f"timeoutpriority: '{value}' is not app or conf",
                                    loadable=True))
    elif key == "timeoutrestart":
        q.timeoutrestart = _bool(entry, diags)
    elif key == "wrapuptime":
        q.wrapuptime = max(0, _int(entry, diags))
    elif key == "maxlen":
        q.maxlen = max(0, _int(entry, diags))
    elif key == "weight":
        q.weight = _int(entry, diags)
    elif key == "ringinuse":
        q.ringinuse = _bool(entry, diags)
    elif key == "autofill":
        q.autofill = _bool(entry, diags)
    elif key == "strategy":
        name = _STRATEGY_ALIASES.get(value.lower(), value.lower())
        if name not in STRATEGIES:
            diags.append(Diagnostic(entry.file, entry.line, entry.value_col,
                                    f"'{value}' isn't a valid strategy ({', '.join(STRATEGIES)});"
                                    " Asterisk uses ringall", loadable=True))
            name = "ringall"
        q.strategy = name
    elif key == "joinempty":
        q.joinempty = _empty_rule(entry, diags, True)
    elif key == "leavewhenempty":
        q.leavewhenempty = _empty_rule(entry, diags, False)
    elif key == "announce-frequency":
        q.announce_frequency = max(0, _int(entry, diags))
    elif key == "min-announce-frequency":
        q.min_announce_frequency = max(0, _int(entry, diags))
    elif key == "announce-holdtime":
        v = value.lower()
        q.announce_holdtime = "once" if v == "once" else ("yes" if parse_bool(v) else "no")
    elif key == "announce-position":
        v = value.lower()
        q.announce_position = v if v in ("limit", "more") else (
            "yes" if parse_bool(v) else "no")
    elif key == "announce-position-limit":
        q.announce_position_limit = _int(entry, diags)
    elif key == "announce-position-only-up":
        q.announce_position_only_up = _bool(entry, diags)
    elif key == "announce-round-seconds":
        q.announce_round_seconds = _int(entry, diags)
        if q.announce_round_seconds not in (0, 5, 10, 15, 20, 30):
            diags.append(Diagnostic(entry.file, entry.line, entry.value_col,
                                    f"announce-round-seconds: '{value}' isn't 0, 5, 10, 15, "
                                    "20 or 30; Asterisk uses 0", loadable=True))
            q.announce_round_seconds = 0
    elif key == "announce-to-first-user":
        q.announce_to_first_user = _bool(entry, diags)
    elif key == "periodic-announce":
        q.periodic_announce = [s.strip() for s in value.replace("|", ",").split(",")][:10]
    elif key == "periodic-announce-frequency":
        q.periodic_announce_frequency = max(0, _int(entry, diags))
    elif key == "periodic-announce-startdelay":
        q.periodic_announce_startdelay = _int(entry, diags)
    elif key == "random-periodic-announce":
        q.random_periodic_announce = _bool(entry, diags)
    elif key == "relative-periodic-announce":
        q.relative_periodic_announce = _bool(entry, diags)
    elif key in SOUND_KEYS:
        q.sounds[key] = value
    elif key == "servicelevel":
        q.servicelevel = _int(entry, diags)
    elif key == "penaltymemberslimit":
        q.penaltymemberslimit = _int(entry, diags)
    elif key in ("setinterfacevar", "setqueueentryvar", "setqueuevar", "reportholdtime",
                 "autopausebusy", "autopauseunavail"):
        setattr(q, key, _bool(entry, diags))
    elif key == "memberdelay":
        q.memberdelay = max(0, _int(entry, diags))
    elif key == "autopause":
        v = value.lower()
        q.autopause = "all" if v == "all" else ("yes" if parse_bool(v) else "no")
    elif key == "autopausedelay":
        q.autopausedelay = max(0, _int(entry, diags))
    else:
        return False
    return True


# --- references from other files ----------------------------------------------------

_QUEUE_APPS = {"queue": 0, "addqueuemember": 0, "removequeuemember": 0,
               "pausequeuemember": 0, "unpausequeuemember": 0, "queuelog": 0}


def check_references(config: QueuesConfig | None, dialplan: Any, peers: dict,
                     moh_classes: Any = None) -> list[Diagnostic]:
    """Warnings for a Queue()/AddQueueMember()... naming a queue queues.conf does not
    define, a member naming a SIP/PJSIP peer no file defines or a Local extension the
    dialplan lacks, and a musicclass musiconhold.conf lacks (`moh_classes`: its class
    names). (Asterisk loads them all: the call then finds no queue, the member is never
    reachable, the callers hear `default`.)"""
    out: list[Diagnostic] = []
    queues = config.queues if config is not None else {}
    for context in getattr(dialplan, "contexts", {}).values():
        for extension in context.extensions.values():
            for step in extension.steps.values():
                app = step.app.lower()
                if app not in _QUEUE_APPS:
                    continue
                name = step.args.split(",", 1)[0].strip()
                if not name or "${" in name or "$[" in name:
                    continue
                if app in ("pausequeuemember", "unpausequeuemember") and not name:
                    continue
                if name not in queues:
                    pos = step.app_pos
                    where = "no queues.conf" if config is None else f"not in {config.path}"
                    out.append(Diagnostic(pos.file, pos.line, pos.col,
                                          f"{step.app}({name}): no queue '{name}' ({where})",
                                          "warning"))
    for q in queues.values():
        if moh_classes is not None and q.musicclass and q.musicclass not in moh_classes:
            out.append(Diagnostic(q.file, q.line, q.col,
                                  f"[{q.name}] musicclass={q.musicclass}: no such class in "
                                  "musiconhold.conf (default plays instead)", "warning"))
        for m in q.members:
            tech, slash, rest = m.interface.partition("/")
            if slash and tech.upper() == "LOCAL":
                out.extend(_check_local_member(m, rest, dialplan))
                continue
            if not slash or tech.upper() not in ("SIP", "PJSIP"):
                continue
            name = rest.split("/", 1)[0]
            if "@" in name:
                name = name.split("@", 1)[1]
            if name not in peers:
                kind = "endpoint" if tech.upper() == "PJSIP" else "peer"
                out.append(Diagnostic(m.file, m.line, m.col,
                                      f"member {m.interface}: no {kind} '{name}' in sip.conf or "
                                      "pjsip.conf", "warning"))
    return out


def _check_local_member(m: Any, resource: str, dialplan: Any) -> list[Diagnostic]:
    """A `Local/exten@context` member whose extension does not exist is INVALID (never
    rung), as in Asterisk."""
    from dialplan.interpreter import exists

    exten, at, context = resource.split("/", 1)[0].partition("@")
    if not at:
        return [Diagnostic(m.file, m.line, m.col, f"member {m.interface}: a Local member "
                           "needs exten@context", "warning")]
    if dialplan is None or "${" in resource or exists(dialplan, context, exten):
        return []
    return [Diagnostic(m.file, m.line, m.col, f"member {m.interface}: no extension {exten} "
                       f"in context [{context}] of extensions.conf", "warning")]
