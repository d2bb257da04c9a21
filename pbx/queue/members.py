"""Queue members as written: a `member =>` line, and dynamic members in the AstDB.

`member => interface[,penalty][,membername][,state_interface][,ringinuse][,wrapuptime]
[,paused]` is Asterisk's reload_single_member: a penalty below 0 is 0, the name
defaults to the interface, ringinuse to the queue's. Dynamic members (AddQueueMember,
`pbx queue add`) persist as Asterisk's dump_queue_members writes them, under
`Queue/PersistentMembers/<queue>`:
`interface;penalty;paused;membername;state_interface;reason_paused;wrapuptime`, one
member after another separated by `|`.
"""

from __future__ import annotations

from dataclasses import dataclass

PERSIST_FAMILY = "Queue/PersistentMembers"  # app_queue.c pm_family

_TRUE = {"yes", "true", "y", "t", "1", "on"}
_FALSE = {"no", "false", "n", "f", "0", "off"}


def parse_bool(text: str) -> bool | None:
    """ast_true/ast_false: None when it is neither."""
    t = text.strip().lower()
    if t in _TRUE:
        return True
    if t in _FALSE:
        return False
    return None


@dataclass(slots=True)
class MemberSpec:
    """A member as configured (or added): what the engine builds its Member from."""

    interface: str  # what is rung: PJSIP/1101, SIP/6001
    penalty: int = 0
    name: str = ""  # membername; the interface when empty
    state_interface: str = ""  # whose device state counts; the interface when empty
    ringinuse: bool | None = None  # None: the queue's
    wrapuptime: int = 0  # 0: the queue's
    paused: bool = False
    reason: str = ""  # why it is paused
    dynamic: bool = False
    # Where a static member is written (for `pbx check` messages).
    file: str = ""
    line: int = 0
    col: int = 0

    @property
    def membername(self) -> str:
        return self.name or self.interface

    @property
    def device(self) -> str:
        return self.state_interface or self.interface


def split_args(text: str) -> list[str]:
    """Split at commas as AST_STANDARD_APP_ARGS does: double quotes group (and are
    removed), a backslash escapes the next character."""
    return [field for field, _ in split_args_at(text)]


def split_args_at(text: str) -> list[tuple[str, int]]:
    """split_args with the offset in `text` where each field's text starts."""
    out: list[tuple[str, int]] = []
    cur: list[str] = []
    start = 0
    quoted = False
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            cur.append(text[i + 1])
            i += 2
            continue
        if c == '"':
            quoted = not quoted
        elif c == "," and not quoted:
            out.append(_field(cur, text, start))
            cur = []
            start = i + 1
        else:
            cur.append(c)
        i += 1
    out.append(_field(cur, text, start))
    return out


def _field(chars: list[str], text: str, start: int) -> tuple[str, int]:
    raw = "".join(chars)
    lead = len(text[start:]) - len(text[start:].lstrip())
    return raw.strip(), start + lead


def parse_member(text: str) -> tuple[MemberSpec | None, list[tuple[int, str]]]:
    """A `member =>` value -> (spec, problems as (offset in text, message)). Problems
    are what Asterisk logs and then loads anyway (a bad number is taken as atoi would)."""
    problems: list[tuple[int, str]] = []
    parts = split_args_at(text)
    interface = parts[0][0] if parts else ""
    if not interface:
        return None, [(0, "empty queue member definition")]
    if "/" not in interface and not interface.lower().startswith(("local", "agent")):
        problems.append((0, f"member {interface!r} is not an interface such as PJSIP/1101"))
    spec = MemberSpec(interface=interface)
    fields = parts[1:] + [("", len(text))] * max(0, 6 - len(parts[1:]))
    (penalty, p_at), (name, _), (state_if, _), (ringinuse, r_at), (wrapup, w_at), \
        (paused, pa_at) = fields[:6]
    if len(parts) > 7:
        problems.append((parts[7][1], f"member {interface}: too many fields (interface, "
                         "penalty, membername, state_interface, ringinuse, wrapuptime, paused)"))
    if penalty:
        value = atoi(penalty)
        if value is None:
            problems.append((p_at, f"member {interface}: penalty {penalty!r} is not a number"))
        spec.penalty = max(0, value or 0)
    spec.name = name
    spec.state_interface = state_if
    if ringinuse:
        spec.ringinuse = parse_bool(ringinuse)
        if spec.ringinuse is None:
            problems.append((r_at, f"member {interface}: ringinuse {ringinuse!r} is not yes "
                             "or no"))
    if wrapup:
        value = atoi(wrapup)
        if value is None:
            problems.append((w_at, f"member {interface}: wrapuptime {wrapup!r} is not a "
                             "number"))
        spec.wrapuptime = max(0, value or 0)
    if paused:
        flag = parse_bool(paused)
        if flag is None:
            problems.append((pa_at, f"member {interface}: paused {paused!r} is not yes or no"))
        spec.paused = bool(flag)
    return spec, problems


def atoi(text: str) -> int | None:
    """The integer in `text`, or None when there is none (C's atoi would give 0)."""
    t = text.strip()
    try:
        return int(t)
    except ValueError:
        return None


# --- the AstDB form of dynamic members ---------------------------------------------

def encode_members(members: list[MemberSpec]) -> str:
    """dump_queue_members: `iface;penalty;paused;name;state_iface;reason;wrapuptime|...`."""
    return "|".join(
        f"{m.interface};{m.penalty};{int(m.paused)};{m.membername};{m.device};"
        f"{m.reason};{m.wrapuptime}" for m in members)


def decode_members(value: str) -> tuple[list[MemberSpec], list[str]]:
    """reload_queue_members: the members of one AstDB value, and what was unreadable."""
    out: list[MemberSpec] = []
    problems: list[str] = []
    for item in value.replace(",", "|").split("|"):
        if not item:
            continue
        fields = item.split(";")
        interface = fields[0]
        if len(fields) < 3:
            problems.append(f"persistent member {item!r}: no penalty or paused field")
            continue
        penalty = atoi(fields[1])
        paused = atoi(fields[2])
        if penalty is None or paused not in (0, 1):
            problems.append(f"persistent member {item!r}: bad penalty or paused field")
            continue
        name = fields[3] if len(fields) > 3 else ""
        state_if = fields[4] if len(fields) > 4 else ""
        reason = fields[5] if len(fields) > 5 else ""
        wrapup = atoi(fields[6]) if len(fields) > 6 and fields[6] else 0
        out.append(MemberSpec(interface=interface, penalty=max(0, penalty),
                              name="" if name == interface else name,
                              state_interface="" if state_if == interface else state_if,
                              paused=bool(paused), reason=reason,
                              wrapuptime=max(0, wrapup or 0), dynamic=True))
    return out, problems
