"""`${...}` and `$[...]` substitution, variable lookup and assignment.

Asterisk substitutes an application's argument text before the application
sees it: `${VAR}`, `${VAR:offset:length}`, `${FUNC(args)}` (optionally with an
offset too), nested `${FOO${BAR}}`, and `$[expression]`. Lookup order for a
plain name: built-in channel values (EXTEN, CONTEXT, ...), then channel
variables, then globals; an unknown variable is the empty string. An unknown
*function* is an error (DialplanError), not an empty string.

`Scope` carries what substitution reads and writes for one call: the channel,
the PBX's services (function registry, globals, clock, AstDB), the dialplan
snapshot, the call's timeouts and its Gosub stack.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from dialplan.expressions import evaluate

if TYPE_CHECKING:
    from dialplan.model import Dialplan
    from dialplan.services import DialplanServices
    from pbx.channel import Channel

log = logging.getLogger(__name__)


class DialplanError(Exception):
    """A dialplan error that stops the call (unknown function, bad Goto, ...)."""

    def __init__(self, message: str, pos: object = None) -> None:
        self.message = message
        self.pos = pos
        super().__init__(f"{pos}: {message}" if pos is not None else message)


class Replay:
    """The values the functions of one step returned, in call order (see
    dialplan.functions: async functions)."""

    __slots__ = ("pos", "values")

    def __init__(self) -> None:
        self.values: list[str] = []
        self.pos = 0


@dataclass
class Frame:
    """One Gosub level: where Return goes, and the variables to restore then."""

    context: str
    exten: str
    priority: int  # the priority to return to (the one after the Gosub)
    saved: dict[str, str | None] = field(default_factory=dict)


def _services() -> DialplanServices:
    from dialplan.services import DialplanServices

    return DialplanServices()


@dataclass
class Scope:
    """What substitution and functions act on for one call."""

    channel: Channel | None = None
    # The globals of the PBX running the call (the interpreter passes
    # services.globals); a Scope made alone gets its own.
    globals: dict[str, str] = field(default_factory=dict)
    dialplan: Dialplan | None = None
    digit_timeout: float = 5.0  # TIMEOUT(digit): between digits of an extension
    response_timeout: float = 10.0  # TIMEOUT(response): waiting for the first digit
    absolute_deadline: float | None = None  # clock.monotonic() when TIMEOUT(absolute) fires
    frames: list[Frame] = field(default_factory=list)  # Gosub stack
    interpreter: Any = None  # set by the interpreter (for functions that need it)
    # Variables when there is no channel (evaluating outside a call).
    local_vars: dict[str, str] = field(default_factory=dict)
    services: DialplanServices = field(default_factory=_services)
    # Per-call state of functions (ENUMQUERY's results...), by function: Asterisk's
    # channel datastores.
    datastores: dict[str, Any] = field(default_factory=dict)
    # Set while substitute_awaiting runs: the function values of this step so far.
    replay: Replay | None = None

    @property
    def variables(self) -> dict[str, str]:
        return self.channel.variables if self.channel is not None else self.local_vars


# --- lookup ---------------------------------------------------------------


def _builtin(scope: Scope, name: str) -> str | None:
    ch = scope.channel
    if name == "EPOCH":
        return str(int(scope.services.clock.time()))
    if ch is None:
        return None
    if name == "EXTEN":
        return ch.exten
    if name == "CONTEXT":
        return ch.context
    if name == "PRIORITY":
        return str(ch.priority)
    if name == "CHANNEL":
        return ch.name
    if name == "UNIQUEID":
        return ch.uniqueid
    if name == "HANGUPCAUSE":
        if ch.hangup_cause:
            return str(ch.hangup_cause)
        return ch.variables.get("HANGUPCAUSE", "")
    if name == "CALLERIDNUM":
        return ch.callerid.num
    if name == "CALLERIDNAME":
        return ch.callerid.name
    if name == "LANGUAGE":
        return ch.language
    return None


_BUILTINS = frozenset({"EPOCH", "EXTEN", "CONTEXT", "PRIORITY", "CHANNEL", "UNIQUEID",
                       "HANGUPCAUSE", "CALLERIDNUM", "CALLERIDNAME", "LANGUAGE"})


def get_variable(scope: Scope, name: str) -> str | None:
    """A variable's value (builtins, channel, globals), or None if unset."""
    if name in _BUILTINS:
        v = _builtin(scope, name)
        if v is not None:
            return v
    vars_ = scope.variables
    v = vars_.get(name)
    if v is not None:
        return v
    # Inheritable variables are stored with their `_`/`__` prefix (as Set
    # wrote them) but read by their bare name.
    if "_" + name in vars_:
        return vars_["_" + name]
    if "__" + name in vars_:
        return vars_["__" + name]
    return scope.globals.get(name)


def bare_name(name: str) -> str:
    """A variable name without its inheritance prefix."""
    if name.startswith("__"):
        return name[2:]
    if name.startswith("_"):
        return name[1:]
    return name


def set_variable(scope: Scope, name: str, value: str | None) -> None:
    """Set (or with None unset) a variable or write a function like `CALLERID(num)`.

    The name keeps its `_`/`__` prefix (the Dial code copies those to the
    called channel); any existing variable of the same bare name is replaced.
    """
    name = name.strip()
    if name.endswith(")") and "(" in name:
        paren = name.index("(")
        scope.services.functions.write(scope, name[:paren], name[paren + 1:-1], value or "")
        return
    vars_ = scope.variables
    bare = bare_name(name)
    for key in (bare, "_" + bare, "__" + bare):
        vars_.pop(key, None)
    if value is not None:
        vars_[name] = value


# --- substring ------------------------------------------------------------

_INT_RE = re.compile(r"\s*([-+]?\d+)")


def _atoi(s: str) -> int:
    m = _INT_RE.match(s)
    return int(m.group(1)) if m else 0


def substring(value: str, offset: int, length: int | None) -> str:
    """Asterisk's `${VAR:offset:length}` (negative offset from the end,
    negative length drops characters from the end)."""
    lr = len(value)
    if offset == 0 and (length is None or length >= lr):
        return value
    if offset < 0:
        offset = max(0, lr + offset)
    if offset >= lr:
        return ""
    if length is None:
        return value[offset:]
    if length >= 0:
        return value[offset:offset + length]
    end = lr + length
    return value[offset:end] if end > offset else ""


def _split_offset(inner: str) -> tuple[str, int, int | None] | None:
    """Split `NAME:off:len` at colons outside parentheses; None when there is none."""
    if ":" not in inner:
        return None
    depth = 0
    for i, c in enumerate(inner):
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == ":" and depth == 0:
            rest = inner[i + 1:]
            if ":" in rest:
                off, ln = rest.split(":", 1)
                return inner[:i], _atoi(off), _atoi(ln) if ln.strip() else None
            return inner[:i], _atoi(rest), None
    return None


def _resolve(scope: Scope, inner: str) -> str:
    """The value of the text inside `${...}` (already substituted)."""
    if ":" in inner:
        split = _split_offset(inner)
        if split is not None:
            name, off, ln = split
            return substring(_resolve(scope, name), off, ln)
    if inner.endswith(")"):
        paren = inner.find("(")
        if paren > 0:
            return scope.services.functions.read(scope, inner[:paren], inner[paren + 1:-1])
    v = get_variable(scope, inner)
    return "" if v is None else v


def _find_close(text: str, start: int, open_c: str, close_c: str) -> int:
    """Index of the bracket closing the one opened just before `start`, or -1."""
    depth = 1
    i = start
    n = len(text)
    while i < n:
        c = text[i]
        if c == open_c:
            depth += 1
        elif c == close_c:
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


Piece = Callable[["Scope"], str]


def _var_piece(inner: str) -> Piece:
    """A closure resolving a fixed `${inner}` (no `$` left inside)."""
    split = _split_offset(inner) if ":" in inner else None
    if split is not None:
        name, off, ln = split
        base = _var_piece(name)
        return lambda scope: substring(base(scope), off, ln)
    if inner.endswith(")") and inner.find("(") > 0:
        paren = inner.find("(")
        fname, fargs = inner[:paren], inner[paren + 1:-1]
        return lambda scope: scope.services.functions.read(scope, fname, fargs)

    def var(scope: Scope) -> str:
        v = get_variable(scope, inner)
        return "" if v is None else v
    return var


@lru_cache(maxsize=4096)
def _compile(text: str) -> tuple[Piece | str, ...]:
    """Split text once into literal strings and closures; cached by text because
    the same argument strings are substituted on every call."""
    pieces: list[Piece | str] = []
    i = 0
    n = len(text)
    while i < n:
        j = text.find("$", i)
        if j < 0 or j + 1 >= n:
            pieces.append(text[i:])
            break
        nxt = text[j + 1]
        if nxt not in "{[":
            pieces.append(text[i:j + 1])
            i = j + 1
            continue
        if j > i:
            pieces.append(text[i:j])
        close = "}" if nxt == "{" else "]"
        end = _find_close(text, j + 2, nxt, close)
        if end < 0:
            log.warning("missing '%s' in %r", close, text)
            end = n
        inner = text[j + 2:end]
        if nxt == "{":
            if "$" in inner:
                sub = _compile(inner)
                pieces.append(lambda scope, sub=sub: _resolve(scope, _run(sub, scope)))
            else:
                pieces.append(_var_piece(inner))
        elif "$" in inner:
            sub = _compile(inner)
            pieces.append(lambda scope, sub=sub: evaluate(_run(sub, scope)))
        else:
            pieces.append(lambda scope, inner=inner: evaluate(inner))
        i = end + 1
    return tuple(pieces)


def _run(pieces: tuple[Piece | str, ...], scope: Scope) -> str:
    if len(pieces) == 1:
        p = pieces[0]
        return p if isinstance(p, str) else p(scope)
    return "".join([p if isinstance(p, str) else p(scope) for p in pieces])


def substitute(text: str, scope: Scope) -> str:
    """Expand every `${...}` and `$[...]` in text."""
    if "$" not in text:
        return text  # the common case: nothing to do
    return _run(_compile(text), scope)


MAX_AWAITS = 16  # async functions awaited in one step's arguments


async def substitute_awaiting(text: str, scope: Scope) -> str:
    """substitute() for text that names a function that awaits (ENUMLOOKUP): each
    time one is reached its coroutine is awaited and the text substituted again,
    the values already computed replayed in order (dialplan.functions)."""
    from dialplan.functions import AwaitNeeded

    replay = scope.replay = Replay()
    try:
        for _ in range(MAX_AWAITS + 1):
            replay.pos = 0
            try:
                return substitute(text, scope)
            except AwaitNeeded as need:
                replay.values.append(await need.value)
        raise DialplanError(f"more than {MAX_AWAITS} network lookups in one step")
    finally:
        scope.replay = None


def check_condition(value: str) -> bool:
    """Asterisk's pbx_checkcondition: empty is false, an integer is itself, text is true."""
    v = value.strip()
    if not v:
        return False
    m = _INT_RE.match(v)
    if m:
        return int(m.group(1)) != 0
    return True


# --- argument splitting ----------------------------------------------------


def split_args(data: str, delim: str = ",", remove_chars: bool = True) -> list[str]:
    """Asterisk's ast_app_separate_args: split at top-level delimiters, respecting
    parentheses, brackets and double quotes; with remove_chars, quotes and
    backslashes (escapes) are removed. An empty string gives one empty argument."""
    args: list[str] = []
    cur: list[str] = []
    paren = bracket = 0
    quote = False
    i = 0
    n = len(data)
    while i < n:
        c = data[i]
        if c == "(":
            paren += 1
        elif c == ")":
            if paren:
                paren -= 1
        elif c == "[":
            bracket += 1
        elif c == "]":
            if bracket:
                bracket -= 1
        elif c == '"' and delim != '"':
            quote = not quote
            if remove_chars:
                i += 1
                continue
        elif c == "\\":
            if i + 1 < n:
                if not remove_chars:
                    cur.append(c)
                cur.append(data[i + 1])
                i += 2
                continue
        elif c == delim and not paren and not quote and not bracket:
            args.append("".join(cur))
            cur = []
            i += 1
            continue
        cur.append(c)
        i += 1
    args.append("".join(cur))
    return args
