"""The `$[...]` expression evaluator, following Asterisk's ast_expr2.

Precedence, lowest first (as in ast_expr2.y):

    ?  ::        ternary  ``cond ? a :: b``
    |            or: left if it is neither empty nor zero, else right
    &            and: left if both are non-empty and non-zero, else 0
    = != < > <= >=   numeric when both sides are numeric, else string comparison
    + -
    * / %
    ! -          unary (complement, negation)
    : =~         regex match anchored at the start / anywhere
    ( )

Values are strings or numbers; a token keeps its text until an operator makes a
number of it (so ``$[007]`` is ``007`` but ``$[007 + 0]`` is ``7``). Numbers print
like Asterisk's ``%.16Lg``. Errors (syntax, division by zero, bad regex) are logged
as warnings and give a sensible value instead of failing the call, as Asterisk does.

The tokenizer and parser are hand-written (precedence climbing) and parsed
trees are cached by text: this runs for every `$[...]` of every call, and a
lark parser would be an order of magnitude too slow for that hot path.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from functools import lru_cache

log = logging.getLogger(__name__)

Value = str | int | float

INT_MAX = 2147483647  # what Asterisk returns for a division by zero

# Operators, longest first so `==` wins over `=`, `::` over `:`.
_OPS = ("||", "&&", "==", "=~", ">=", "<=", "!=", "::",
        "|", "&", "=", ">", "<", "+", "-", "*", "/", "%", "?", "!", ":", "(", ")", ",")
_OP_CHARS = frozenset("|&=~><!+-*/%?:(),")
_NUMERIC_RE = re.compile(r"[-.0-9][.0-9]*\Z")
_STRTOD_RE = re.compile(r"\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)")


class ExpressionError(ValueError):
    """A `$[...]` expression that cannot be parsed."""


# --- values --------------------------------------------------------------


def is_numeric_string(s: str) -> bool:
    """Asterisk's make_str test: digits (with '-' or '.' allowed first, '.' after)."""
    return bool(s) and _NUMERIC_RE.match(s) is not None


def _strtod(s: str) -> int | float:
    """Parse the numeric prefix like C strtod; keep ints exact when there is no dot."""
    m = _STRTOD_RE.match(s)
    if not m:
        return 0
    text = m.group(1)
    if "." in text or "e" in text or "E" in text:
        f = float(text)
        return int(f) if f.is_integer() and abs(f) < 1e15 else f
    return int(text)


def _to_number(v: Value) -> int | float | None:
    """Number for arithmetic, or None when the value is a non-numeric string."""
    if isinstance(v, str):
        return _strtod(v) if is_numeric_string(v) else None
    return v


def format_value(v: Value) -> str:
    """Render a value as Asterisk prints an expression result (%.16Lg)."""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(v) if -(10**16) < v < 10**16 else f"{float(v):.16g}"
    if v != v:  # NaN
        return "nan"
    if v in (float("inf"), float("-inf")):
        return "inf" if v > 0 else "-inf"
    out = f"{v:.16g}"
    return "0" if out == "-0" else out


def is_true(v: Value) -> bool:
    """True unless the value is empty or zero (Asterisk's is_zero_or_null negated)."""
    if isinstance(v, str):
        if v == "":
            return False
        n = _to_number(v)
        return True if n is None else n != 0
    return v != 0


def _atoi(s: str) -> int:
    m = re.match(r"\s*([-+]?\d+)", s)
    return int(m.group(1)) if m else 0


# --- operators -----------------------------------------------------------


def _norm(x: int | float) -> int | float:
    if isinstance(x, float) and x.is_integer() and abs(x) < 1e15:
        return int(x)
    return x


def _arith(op: str, a: Value, b: Value) -> Value:
    na, nb = _to_number(a), _to_number(b)
    if na is None or nb is None:
        # Asterisk: warn, and use the numeric side alone (or 0 if neither is).
        log.warning("expression: non-numeric argument to '%s' (%r, %r)", op, a, b)
        if na is None and nb is None:
            return 0
        if na is None:
            assert nb is not None
            return -nb if op == "-" else (nb if op == "+" else 0)
        return na if op in "+-" else 0
    if op == "+":
        return _norm(na + nb)
    if op == "-":
        return _norm(na - nb)
    if op == "*":
        return _norm(na * nb)
    if nb == 0:
        log.warning("expression: division by zero")
        return INT_MAX
    if op == "/":
        if isinstance(na, int) and isinstance(nb, int) and na % nb == 0:
            return na // nb
        return _norm(na / nb)
    # C fmod: the result takes the sign of the dividend.
    if isinstance(na, int) and isinstance(nb, int):
        r = abs(na) % abs(nb)
        return -r if na < 0 else r
    import math

    return _norm(math.fmod(na, nb))


def _compare(op: str, a: Value, b: Value) -> int:
    na, nb = _to_number(a), _to_number(b)
    if na is None or nb is None:
        x: object = format_value(a)
        y: object = format_value(b)
    else:
        x, y = na, nb
    if op in ("=", "=="):
        return int(x == y)
    if op == "!=":
        return int(x != y)
    if op == "<":
        return int(x < y)  # type: ignore[operator]
    if op == ">":
        return int(x > y)  # type: ignore[operator]
    if op == "<=":
        return int(x <= y)  # type: ignore[operator]
    return int(x >= y)  # type: ignore[operator]


@lru_cache(maxsize=512)
def _regex(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error as e:
        log.warning("expression: bad regular expression %r: %s", pattern, e)
        return None


def _match(a: Value, b: Value, anchored: bool) -> Value:
    s, pat = format_value(a), format_value(b)
    rx = _regex(pat)
    if rx is None:
        return 0
    m = rx.match(s) if anchored else rx.search(s)
    if m is None:
        return "" if rx.groups else 0
    if rx.groups:
        return m.group(1) or ""
    return m.end() - m.start()


def _complement(a: Value) -> int:
    if isinstance(a, str):
        if a == "" or a == "0":
            v = 0
        else:
            n = _to_number(a)
            v = _atoi(a) if n is None else (1 if n != 0 else 0)
    else:
        v = 1 if a != 0 else 0
    return int(not v)


def _negate(a: Value) -> Value:
    n = _to_number(a)
    if n is None:
        log.warning("expression: non-numeric argument to unary '-' (%r)", a)
        return 0
    return _norm(-n)


# --- tokenizer -----------------------------------------------------------

# Token kinds: ("op", text) or ("val", text).
Token = tuple[str, str]


def tokenize(text: str) -> list[Token]:
    """Split expression text into operator and value tokens (quotes removed)."""
    out: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t\r\n":
            i += 1
            continue
        if c == '"':
            j = text.find('"', i + 1)
            if j < 0:
                raise ExpressionError(f"unterminated string at column {i + 1}")
            out.append(("val", text[i + 1:j]))
            i = j + 1
            continue
        if c in _OP_CHARS:
            two = text[i:i + 2]
            if two in ("||", "&&", "==", "=~", ">=", "<=", "!=", "::"):
                out.append(("op", two))
                i += 2
            else:
                if c == "~":  # a lone ~ is just text
                    out.append(("val", c))
                else:
                    out.append(("op", c))
                i += 1
            continue
        j = i
        while j < n and text[j] not in _OP_CHARS and text[j] not in ' \t\r\n"':
            j += 1
        out.append(("val", text[i:j]))
        i = j
    return out


# --- parser (precedence climbing) -----------------------------------------

Node = Callable[[], Value]

_BINARY_PREC = {
    "|": 1, "||": 1,
    "&": 2, "&&": 2,
    "=": 3, "==": 3, "!=": 3, "<": 3, ">": 3, "<=": 3, ">=": 3,
    "+": 4, "-": 4,
    "*": 5, "/": 5, "%": 5,
    # 6 is the unary level
    ":": 7, "=~": 7,
}
_UNARY_PREC = 6


def _binary(op: str, left: Node, right: Node) -> Node:
    if op in ("|", "||"):
        def f() -> Value:
            a = left()
            return a if is_true(a) else right()
    elif op in ("&", "&&"):
        def f() -> Value:
            a = left()
            b = right()  # Asterisk evaluates both sides
            return a if is_true(a) and is_true(b) else 0
    elif _BINARY_PREC[op] == 3:
        def f() -> Value:
            return _compare(op, left(), right())
    elif op in "+-*/%":
        def f() -> Value:
            return _arith(op, left(), right())
    else:
        anchored = op == ":"

        def f() -> Value:
            return _match(left(), right(), anchored)
    return f


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.toks = tokens
        self.i = 0

    def peek(self) -> Token | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def parse(self) -> Node:
        node = self.ternary()
        if self.i != len(self.toks):
            raise ExpressionError(f"unexpected '{self.toks[self.i][1]}'")
        return node

    def ternary(self) -> Node:
        cond = self.binary(1)
        t = self.peek()
        if t == ("op", "?"):
            self.i += 1
            yes = self.binary(1)
            if self.peek() != ("op", "::"):
                raise ExpressionError("'?' without '::'")
            self.i += 1
            no = self.ternary()

            def f() -> Value:
                return yes() if is_true(cond()) else no()
            return f
        return cond

    def binary(self, min_prec: int) -> Node:
        left = self.unary()
        while True:
            t = self.peek()
            if t is None or t[0] != "op":
                return left
            prec = _BINARY_PREC.get(t[1])
            if prec is None or prec < min_prec:
                return left
            self.i += 1
            # Left-associative: the right side binds strictly tighter. The
            # right operand of ':'/'=~' (above unary) can only be a primary.
            right = self.binary(prec + 1) if prec < _UNARY_PREC else self.primary()
            left = _binary(t[1], left, right)

    def unary(self) -> Node:
        t = self.peek()
        if t == ("op", "!") or t == ("op", "-"):
            self.i += 1
            operand = self.unary()
            if t[1] == "!":
                return lambda: _complement(operand())
            return lambda: _negate(operand())
        node = self.primary()
        # `:`/`=~` bind tighter than unary: apply them to the primary here.
        while True:
            t = self.peek()
            if t in (("op", ":"), ("op", "=~")):
                self.i += 1
                assert t is not None
                right = self.primary()
                node = _binary(t[1], node, right)
            else:
                return node

    def primary(self) -> Node:
        t = self.peek()
        if t is None:
            raise ExpressionError("unexpected end of expression")
        self.i += 1
        if t[0] == "val":
            text = t[1]
            return lambda: text
        if t[1] == "(":
            node = self.ternary()
            if self.peek() != ("op", ")"):
                raise ExpressionError("missing ')'")
            self.i += 1
            return node
        raise ExpressionError(f"unexpected '{t[1]}'")


@lru_cache(maxsize=4096)
def compile_expression(text: str) -> Node:
    """Parse expression text into a callable tree (cached by text)."""
    toks = tokenize(text)
    if not toks:
        return lambda: ""
    return _Parser(toks).parse()


# An expression's value depends only on its (substituted) text, so results are
# cached too; the price is that a warning (division by zero, ...) is logged the
# first time a given text is evaluated, not every time.
@lru_cache(maxsize=8192)
def evaluate(text: str) -> str:
    """Evaluate substituted `$[...]` content; syntax errors warn and give ''."""
    try:
        node = compile_expression(text)
    except ExpressionError as e:
        log.warning("expression syntax error in $[%s]: %s", text, e)
        return ""
    return format_value(node())


def check_syntax(text: str) -> str | None:
    """Return an error message when the text cannot be parsed, else None."""
    try:
        compile_expression(text)
    except ExpressionError as e:
        return str(e)
    return None
