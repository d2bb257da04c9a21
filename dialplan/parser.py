"""extensions.conf -> Dialplan, with every problem reported as file:line:col.

The grammar (grammar.lark) describes one statement per line, as Asterisk's
config parser reads the file. Each line becomes a statement tuple:

* the common shapes (`exten =>`, `same =>`, `[context]`, `include =>`,
  `NAME=value`) are matched by one regex each, assembled from the grammar's
  own terminal definitions (see _fast_regexes: lark's LALR loop costs ~10 us a
  token here, too slow for 30,000 lines in under a second);
* every other line (hints, timed includes, directives, and anything wrong) is
  parsed by lark (LALR, contextual lexer), whose errors are turned into
  sentences such as "expected '=>' after 'exten'".

A small builder then walks the statements in file order keeping the state
pbx_config keeps: the current section, the last extension (for `same =>`) and
the last priority (for `n`). `#include` is a statement too, so an included
file's lines land in whatever context is open at that point, as in Asterisk.
Every line is handled on its own, so all errors of a file are reported and
every good line still loads.
"""

from __future__ import annotations

import gc
import glob
import os
import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from dialplan.model import Context, Dialplan, Extension, Include, Pos, Step
from dialplan.timespec import TimeSpec
from pbx.diagnostics import Diagnostic

__all__ = ["parse_dialplan", "parse_dialplan_text"]

GRAMMAR_PATH = Path(__file__).with_name("grammar.lark")

# [general] options Asterisk's pbx_config understands; anything else is a warning.
GENERAL_OPTIONS = frozenset(
    {
        "autofallthrough",
        "clearglobalvars",
        "static",
        "writeprotect",
        "extenpatternmatchnew",
        "priorityjumping",
        "userscontext",
    }
)

# Human names for the grammar's terminals, used to turn lark errors into sentences.
_TERMINAL_NAMES: dict[str, str] = {
    "_ARROW": "'=>'",
    "COMMA": "','",
    "SLASH": "'/'",
    "LSQB": "'['",
    "RSQB": "']'",
    "EXTNAME": "an extension name or pattern",
    "CIDNAME": "a caller-ID pattern",
    "PRIO": "a priority (a number, 'n' or 'hint')",
    "HINT": "a priority (a number, 'n' or 'hint')",
    "HINTVAL": "a hint (e.g. SIP/6001)",
    "APPNAME": "an application name",
    "ARGS": "'(' with the application's arguments",
    "CTXNAME": "a context name",
    "TIMING": "a time range",
    "PATH": "a file name",
    "VALUE": "a value",
    "SECNAME": "a context name",
    "SECOPTS": "'(' with section options",
    "NAME": "a statement (exten =>, same =>, include =>, ...)",
    "EXTEN": "a statement (exten =>, same =>, include =>, ...)",
    "SAME": "a statement (exten =>, same =>, include =>, ...)",
    "INCLUDE": "a statement (exten =>, same =>, include =>, ...)",
    "IGNOREPAT": "a statement (exten =>, same =>, include =>, ...)",
    "SWITCH": "a statement (exten =>, same =>, include =>, ...)",
    "HASHDIR": "a statement (exten =>, same =>, include =>, ...)",
    "_NL": "end of line",
    "$END": "end of file",
}

_PRIO_RE = re.compile(r"(?P<base>\d+|n|s)(?:\+(?P<plus>\d+))?(?:\((?P<label>[^)]*)\))?", re.I)
_BLOCK_COMMENT_RE = re.compile(r"(?<!\\);--.*?--;", re.S)


class _Statements(Transformer):
    """Turns each grammar rule into a flat tuple; runs inline in the LALR parser."""

    def start(self, children: list[Any]) -> list[Any]:
        return children

    def section(self, c: list[Token]) -> tuple[Any, ...]:
        return ("section", c[0], c[1] if len(c) > 1 else None)

    def cid(self, c: list[Token]) -> Token:
        return c[0]

    def exten(self, c: list[Any]) -> tuple[Any, ...]:
        # EXTEN EXTNAME cid? PRIO APPNAME ARGS?
        kw, name = c[0], c[1]
        i = 2
        cid = None
        if c[2].type == "CIDNAME":
            cid = c[2]
            i = 3
        prio, app = c[i], c[i + 1]
        args = c[i + 2] if len(c) > i + 2 else None
        return ("exten", kw, name, cid, prio, app, args)

    def exten_hint(self, c: list[Any]) -> tuple[Any, ...]:
        kw, name = c[0], c[1]
        i = 2
        cid = None
        if c[2].type == "CIDNAME":
            cid = c[2]
            i = 3
        value = c[i + 1] if len(c) > i + 1 else None
        return ("hint", kw, name, cid, c[i], value)

    def same(self, c: list[Token]) -> tuple[Any, ...]:
        return ("same", c[0], c[1], c[2], c[3] if len(c) > 3 else None)

    def include(self, c: list[Token]) -> tuple[Any, ...]:
        return ("include", c[0], c[1], c[2] if len(c) > 2 else None)

    def ignorepat(self, c: list[Token]) -> tuple[Any, ...]:
        return ("ignorepat", c[0], c[1])

    def switch(self, c: list[Token]) -> tuple[Any, ...]:
        return ("switch", c[0], c[1])

    def directive(self, c: list[Token]) -> tuple[Any, ...]:
        return ("directive", c[0], c[1] if len(c) > 1 else None)

    def setting(self, c: list[Token]) -> tuple[Any, ...]:
        return ("setting", c[0], c[1] if len(c) > 1 else None)


@lru_cache(maxsize=1)
def _lark() -> Lark:
    """The LALR parser (built once; grammar analysis costs ~50 ms)."""
    return Lark(
        GRAMMAR_PATH.read_text(encoding="utf-8"),
        parser="lalr",
        lexer="contextual",
        transformer=_Statements(),
        start="start",
        propagate_positions=True,
        maybe_placeholders=False,
    )


def _unescape(text: str) -> str:
    """`\\;` is how a literal semicolon is written in Asterisk config files."""
    return text.replace("\\;", ";") if "\\;" in text else text


def _describe_expected(expected: Iterable[str]) -> str:
    names: list[str] = []
    for term in sorted(expected):
        name = _TERMINAL_NAMES.get(term, term.lower())
        if name not in names:
            names.append(name)
    return " or ".join(names) if names else "something else"


def _previous_word(line: str, col: int) -> str:
    """The token just before column `col` (1-based), for 'expected X after Y'."""
    before = line[: col - 1].rstrip()
    if not before:
        return ""
    m = re.search(r"(=>|[\w.\-/$\[\]]+)$", before)
    return m.group(0) if m else before[-1]


def _found_at(line_text: str, col: int) -> str:
    m = re.compile(r"[^\s,()=;]+|\S").match(line_text, col - 1)
    return repr(m.group(0)) if m else "end of line"


def _syntax_message(err: UnexpectedInput, line_text: str) -> str:
    """Turn a lark exception into a short sentence a config author understands."""
    col = err.column if isinstance(err.column, int) and err.column > 0 else 1
    if isinstance(err, UnexpectedCharacters | UnexpectedToken):
        if isinstance(err, UnexpectedCharacters):
            expected = set(err.allowed or ())
        else:
            expected = set(err.expected or ())
            if err.token.type in ("_NL", "$END"):
                at = col if err.token.type == "_NL" else len(line_text) + 1
                prev = _previous_word(line_text, at)
                where = f" after {prev!r}" if prev else ""
                return f"unexpected end of line{where}, expected {_describe_expected(expected)}"
        if line_text[col - 1 : col] == "(" and "ARGS" in expected:
            return "missing ')' at the end of the application's arguments"
        if expected <= {"_NL", "$END"}:
            return f"unexpected text {line_text[col - 1 :].strip()!r} at end of line"
        found = _found_at(line_text, col)
    elif isinstance(err, UnexpectedEOF):
        return f"unexpected end of file, expected {_describe_expected(err.expected)}"
    else:  # pragma: no cover - lark has no other kinds
        return str(err)
    prev = _previous_word(line_text, col)
    where = f" after {prev!r}" if prev else ""
    return f"expected {_describe_expected(expected)}{where}, found {found}"


class Tok(Protocol):
    """What the builder reads from a token: lark's Token and the fast path's _Tok both fit."""

    type: str
    value: str
    line: int
    column: int


class _Tok:
    """A token found by the fast path: same attributes the builder reads from lark's Token."""

    __slots__ = ("column", "line", "type", "value")

    def __init__(self, type_: str, value: str, line: int, column: int) -> None:
        self.type = type_
        self.value = value
        self.line = line
        self.column = column

    def __str__(self) -> str:
        return self.value


@lru_cache(maxsize=1)
def _fast_regexes() -> dict[str, re.Pattern[str]]:
    """Whole-line regexes for the common statements, assembled from the grammar's terminals.

    lark's LALR loop costs ~10 us a token in CPython, too slow for 30,000 lines
    in under a second, so the frequent line shapes are matched by one regex
    each. They are built from the very terminal definitions in grammar.lark
    (atomic groups mimic the lexer, which never backtracks into a token), so
    they accept a subset of what the grammar accepts and split it the same
    way; anything else (hints, timings, directives, errors) goes to lark.
    """
    t = {term.name: term.pattern.to_regexp() for term in _lark().terminals}
    w = r"[ \t\r]*"

    def a(name: str) -> str:
        return f"(?>{t[name]})"

    tail = f"{w}(?:{t['COMMENT']})?"
    arrow = f"{w}{a('_ARROW')}{w}"
    app = f"(?P<app>{a('APPNAME')}){w}(?P<args>{a('ARGS')})?"
    keywords = "|".join(t[k] for k in ("EXTEN", "SAME", "INCLUDE", "IGNOREPAT", "SWITCH"))
    return {
        "exten": re.compile(
            f"{w}(?P<kw>{a('EXTEN')}){arrow}(?P<name>{a('EXTNAME')})"
            f"(?:{w}/{w}(?P<cid>{a('CIDNAME')}))?{w},{w}(?P<prio>{a('PRIO')}){w},{w}{app}{tail}"
        ),
        "same": re.compile(f"{w}(?P<kw>{a('SAME')}){arrow}(?P<prio>{a('PRIO')}){w},{w}{app}{tail}"),
        "section": re.compile(
            f"{w}\\[(?P<name>{a('SECNAME')})\\]{w}(?P<opts>{a('SECOPTS')})?{tail}"
        ),
        "include": re.compile(f"{w}(?P<kw>{a('INCLUDE')}){arrow}(?P<ctx>{a('CTXNAME')}){tail}"),
        "setting": re.compile(
            f"{w}(?!{keywords})(?P<name>{a('NAME')}){arrow}(?P<value>{a('VALUE')})?{tail}"
        ),
    }


def _tok(m: re.Match[str], group: str, type_: str, lineno: int) -> _Tok | None:
    value = m.group(group)
    if value is None:
        return None
    return _Tok(type_, value, lineno, m.start(group) + 1)


def _fast_statement(line: str, lineno: int) -> tuple[Any, ...] | None:
    """The statement on `line` if it has one of the common shapes, else None."""
    rx = _fast_regexes()
    first = line.lstrip(" \t")[:1].lower()
    if first == "e":
        m = rx["exten"].fullmatch(line)
        if m is not None:
            return (
                "exten",
                _Tok("EXTEN", m.group("kw"), lineno, m.start("kw") + 1),
                _Tok("EXTNAME", m.group("name"), lineno, m.start("name") + 1),
                _tok(m, "cid", "CIDNAME", lineno),
                _Tok("PRIO", m.group("prio"), lineno, m.start("prio") + 1),
                _Tok("APPNAME", m.group("app"), lineno, m.start("app") + 1),
                _tok(m, "args", "ARGS", lineno),
            )
    elif first == "s":
        m = rx["same"].fullmatch(line)
        if m is not None:
            return (
                "same",
                _Tok("SAME", m.group("kw"), lineno, m.start("kw") + 1),
                _Tok("PRIO", m.group("prio"), lineno, m.start("prio") + 1),
                _Tok("APPNAME", m.group("app"), lineno, m.start("app") + 1),
                _tok(m, "args", "ARGS", lineno),
            )
    elif first == "[":
        m = rx["section"].fullmatch(line)
        if m is not None:
            return (
                "section",
                _Tok("SECNAME", m.group("name"), lineno, m.start("name") + 1),
                _tok(m, "opts", "SECOPTS", lineno),
            )
        return None
    elif first == "i":
        m = rx["include"].fullmatch(line)
        if m is not None:
            return (
                "include",
                _Tok("INCLUDE", m.group("kw"), lineno, m.start("kw") + 1),
                _Tok("CTXNAME", m.group("ctx"), lineno, m.start("ctx") + 1),
                None,
            )
    elif first in ("", ";", "#"):
        return None
    m = rx["setting"].fullmatch(line)
    if m is not None:
        return (
            "setting",
            _Tok("NAME", m.group("name"), lineno, m.start("name") + 1),
            _tok(m, "value", "VALUE", lineno),
        )
    return None


class _Builder:
    """Walks statements in file order and fills a Dialplan, like pbx_config does."""

    def __init__(self, config_dir: Path | None) -> None:
        self.dp = Dialplan()
        self.diags: list[Diagnostic] = []
        self.config_dir = config_dir
        self.section: str | None = None  # lower-cased kind: "general", "globals", "context"
        self.context: Context | None = None
        self.last_ext: Extension | None = None
        self.last_prio: int = 0  # 0: no priority yet in this context
        self.include_stack: list[str] = []

    # -- diagnostics ---------------------------------------------------------------

    def error(self, file: str, line: int, col: int, msg: str, severity: str = "error",
              *, loadable: bool = False) -> None:
        self.diags.append(Diagnostic(file, line, col, msg, severity, loadable))

    # -- files -----------------------------------------------------------------------

    def load_file(self, path: Path, display: str, where: tuple[str, int, int] | None) -> None:
        """Read, parse and build one file (and, through directives, its #includes)."""
        key = os.path.realpath(path)
        if key in self.include_stack:
            chain = " -> ".join(
                [os.path.basename(p) for p in self.include_stack] + [os.path.basename(key)]
            )
            if where:
                self.error(*where, f"#include cycle: {chain}")
            return
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            if where:
                self.error(*where, f"cannot read included file {display!r}: {exc.strerror}")
            else:
                self.error(display, 1, 1, f"cannot read dialplan: {exc.strerror}")
            return
        self.dp.files.append(str(path))
        self.include_stack.append(key)
        try:
            self.load_text(text, display)
        finally:
            self.include_stack.pop()

    def load_text(self, text: str, file: str) -> None:
        """Parse one file's text and apply its statements, line by line."""
        if ";--" in text:
            # Blank block comments (keeping newlines) so later columns stay exact.
            text = _BLOCK_COMMENT_RE.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)
        fast = _fast_statement
        apply = self.apply
        for lineno, line in enumerate(text.split("\n"), start=1):
            st = fast(line, lineno)
            if st is None:
                # Blank/comment line, or one the fast path does not know: let lark decide.
                if not line or line.isspace():
                    continue
                stripped = line.lstrip()
                if stripped.startswith(";") and not stripped.startswith(";--"):
                    continue
                self._parse_line(line, lineno, file)
                continue
            apply(st, file)

    def _parse_line(self, line: str, lineno: int, file: str) -> None:
        """Parse one line with the lark grammar; report a syntax error or apply it."""
        try:
            stmts = _lark().parse(line)
        except UnexpectedInput as err:
            col = err.column if isinstance(err.column, int) and err.column > 0 else 1
            if isinstance(err, UnexpectedToken) and err.token.type == "$END":
                col = len(line.rstrip()) + 1
            self.error(file, lineno, col, _syntax_message(err, line))
            return
        for st in stmts:
            self.apply(_relocate(st, lineno), file)

    # -- statements ------------------------------------------------------------------

    def apply(self, st: tuple[Any, ...], file: str) -> None:
        """Apply one statement tuple to the dialplan being built."""
        kind = st[0]
        if kind == "exten":
            self._exten(st, file)
        elif kind == "same":
            self._same(st, file)
        elif kind == "section":
            self._section(st, file)
        elif kind == "setting":
            self._setting(st, file)
        elif kind == "hint":
            self._hint(st, file)
        elif kind == "include":
            self._include(st, file)
        elif kind == "ignorepat":
            ctx = self._need_context(st[1], file, "ignorepat")
            if ctx is not None:
                ctx.ignorepats.append(st[2].value.strip())
        elif kind == "switch":
            self.error(
                file,
                st[1].line,
                st[1].column,
                f"'{st[1]}' is not supported (realtime switches); line ignored",
                "warning",
            )
        elif kind == "directive":
            self._directive(st, file)

    def _section(self, st: tuple[Any, ...], file: str) -> None:
        tok, opts = st[1], st[2]
        name = tok.value.strip()
        self.last_ext = None
        self.last_prio = 0
        lname = name.lower()
        if lname in ("general", "globals"):
            self.section = lname
            self.context = None
            return
        self.section = "context"
        if opts is not None and opts.value.strip("() \t") not in ("", "+"):
            self.error(
                file,
                opts.line,
                opts.column,
                f"section option {opts.value!r} (templates) is not supported; ignored",
                "warning",
            )
        ctx = self.dp.contexts.get(name)
        if ctx is None:
            # Asterisk merges a repeated [name] into the existing context.
            ctx = Context(name=name, pos=Pos(file, tok.line, tok.column - 1))
            self.dp.contexts[name] = ctx
        self.context = ctx

    def _setting(self, st: tuple[Any, ...], file: str) -> None:
        name_tok, val_tok = st[1], st[2]
        name = name_tok.value
        value = _unescape(val_tok.value.rstrip()) if val_tok is not None else ""
        if self.section == "globals":
            self.dp.globals[name] = value
        elif self.section == "general":
            if name.lower() not in GENERAL_OPTIONS:
                self.error(
                    file,
                    name_tok.line,
                    name_tok.column,
                    f"unknown [general] option {name!r}",
                    "warning",
                )
            self.dp.general[name.lower()] = value
        elif self.section is None:
            self.error(
                file,
                name_tok.line,
                name_tok.column,
                f"{name!r} outside of any [section]",
            )
        else:
            self.error(
                file,
                name_tok.line,
                name_tok.column,
                f"unknown statement {name!r} in context "
                f"'{self.context.name if self.context else ''}' "
                "(expected exten =>, same =>, include => or ignorepat =>)",
            )

    def _need_context(self, kw: Tok, file: str, what: str) -> Context | None:
        if self.context is None:
            where = f"[{self.section}]" if self.section else "any context"
            self.error(file, kw.line, kw.column, f"'{what}' outside of a context ({where})")
        return self.context

    def _priority(self, tok: Tok, file: str) -> tuple[int, str | None] | None:
        """Resolve `1`, `n`, `n+2`, `s`, `n(label)` against the previous priority."""
        v = tok.value
        # The two shapes nearly every line uses, without the regex.
        if v in ("n", "N") and self.last_prio:
            return self.last_prio + 1, None
        if v.isdigit() and v[0] != "0":
            return int(v), None
        m = _PRIO_RE.fullmatch(v)
        if m is None:  # pragma: no cover - the grammar only lets these through
            self.error(file, tok.line, tok.column, f"bad priority {tok.value!r}")
            return None
        base = m.group("base").lower()
        plus = int(m.group("plus")) if m.group("plus") else 0
        label = m.group("label").strip() if m.group("label") is not None else None
        if base.isdigit():
            prio = int(base) + plus
        elif self.last_prio == 0:
            self.error(
                file,
                tok.line,
                tok.column,
                f"priority {base!r} with no previous priority to follow",
            )
            return None
        elif base == "n":
            prio = self.last_prio + 1 + plus
        else:  # "s": same as the previous priority
            prio = self.last_prio + plus
        if prio < 1:
            self.error(file, tok.line, tok.column, "priority must be 1 or more")
            return None
        return prio, (label or None)

    def _extension(self, ctx: Context, name: str, cid: str | None, pos: Pos) -> Extension:
        key = (name, cid)
        ext = ctx.extensions.get(key)
        if ext is None:
            ext = Extension(name=name, cid_match=cid, pos=pos)
            ctx.extensions[key] = ext
        return ext

    def _add_step(
        self,
        ext: Extension,
        prio_tok: Tok,
        app_tok: Tok,
        args_tok: Tok | None,
        kw: Tok,
        file: str,
    ) -> None:
        resolved = self._priority(prio_tok, file)
        if resolved is None:
            return
        prio, label = resolved
        self.last_prio = prio
        pos = Pos(file, kw.line, kw.column)
        old = ext.steps.get(prio)
        if old is not None:
            self.error(
                file,
                prio_tok.line,
                prio_tok.column,
                f"duplicate priority {prio} of extension '{ext.name}' "
                f"(first defined at {old.pos}); this line is ignored",
            )
            return
        args = ""
        if args_tok is not None:
            raw = args_tok.value
            inner = raw[1:-1]
            args = _unescape(inner) if "\\;" in inner else inner
            if ("(" in inner or ")" in inner) and _paren_balance(inner) != 0:
                self.error(
                    file,
                    args_tok.line,
                    args_tok.column,
                    "unbalanced parentheses in application arguments",
                    "warning",
                )
        step = Step(
            priority=prio,
            app=app_tok.value,
            args=args,
            label=label,
            pos=pos,
            app_pos=Pos(file, app_tok.line, app_tok.column),
            cid_match=ext.cid_match,
        )
        if label is not None:
            if label in ext.labels:
                first = ext.steps.get(ext.labels[label])
                at = f" (first at {first.pos})" if first else ""
                self.error(
                    file,
                    prio_tok.line,
                    prio_tok.column,
                    f"duplicate label {label!r} in extension '{ext.name}'{at}",
                )
            else:
                ext.labels[label] = prio
        ext.steps[prio] = step

    def _exten(self, st: tuple[Any, ...], file: str) -> None:
        _, kw, name_tok, cid_tok, prio_tok, app_tok, args_tok = st
        ctx = self._need_context(kw, file, "exten")
        if ctx is None:
            return
        name = name_tok.value
        cid = cid_tok.value if cid_tok is not None else None
        ext = self._extension(ctx, name, cid, Pos(file, kw.line, kw.column))
        self.last_ext = ext
        self._add_step(ext, prio_tok, app_tok, args_tok, kw, file)

    def _hint(self, st: tuple[Any, ...], file: str) -> None:
        _, kw, name_tok, cid_tok, hint_tok, val_tok = st
        ctx = self._need_context(kw, file, "exten")
        if ctx is None:
            return
        name = name_tok.value
        cid = cid_tok.value if cid_tok is not None else None
        pos = Pos(file, kw.line, kw.column)
        ext = self._extension(ctx, name, cid, pos)
        self.last_ext = ext
        value = _unescape(val_tok.value.rstrip()) if val_tok is not None else ""
        if not value:
            self.error(file, hint_tok.line, hint_tok.column, f"empty hint for extension '{name}'")
            return
        if ext.hint is not None:
            first = ext.steps.get(-1)
            at = f" (first at {first.pos})" if first else ""
            self.error(
                file,
                hint_tok.line,
                hint_tok.column,
                f"duplicate hint for extension '{name}'{at}",
            )
            return
        ext.hint = value
        # Hints live at priority -1 (Asterisk's PRIORITY_HINT); they are not run.
        ext.steps[-1] = Step(
            priority=-1,
            app=value,
            args="",
            label=None,
            pos=pos,
            app_pos=Pos(file, val_tok.line, val_tok.column) if val_tok is not None else pos,
            cid_match=cid,
        )

    def _same(self, st: tuple[Any, ...], file: str) -> None:
        _, kw, prio_tok, app_tok, args_tok = st
        ctx = self._need_context(kw, file, "same")
        if ctx is None:
            return
        if self.last_ext is None:
            self.error(file, kw.line, kw.column, "'same =>' with no preceding 'exten =>'")
            return
        self._add_step(self.last_ext, prio_tok, app_tok, args_tok, kw, file)

    def _include(self, st: tuple[Any, ...], file: str) -> None:
        _, kw, ctx_tok, timing = st
        ctx = self._need_context(kw, file, "include")
        if ctx is None:
            return
        spec = None
        text = timing.value[1:] if timing is not None else ""
        if text.strip(",| \t"):
            problems: list[str] = []
            spec = TimeSpec.parse(text, problems)
            for problem in problems:
                # Asterisk loads the include and skips the bad element.
                self.error(file, timing.line, timing.column + 1,
                           f"include => {ctx_tok.value}: {problem} (the element is ignored)",
                           loadable=True)
        ctx.includes.append(Include(ctx_tok.value, Pos(file, ctx_tok.line, ctx_tok.column),
                                    spec))

    def _directive(self, st: tuple[Any, ...], file: str) -> None:
        _, tok, path_tok = st
        name = tok.value.lower()
        where = (file, tok.line, tok.column)
        if name not in ("#include", "#tryinclude"):
            self.error(*where, f"unsupported directive {tok.value!r}")
            return
        if path_tok is None:
            self.error(*where, f"{name} needs a file name")
            return
        raw = path_tok.value
        if raw[:1] in '"<' and len(raw) >= 2:
            raw = raw[1:-1]
        base = self.config_dir or Path(file).parent
        target = Path(raw) if os.path.isabs(raw) else base / raw
        if glob.has_magic(raw):
            matches = sorted(glob.glob(str(target)))
            if not matches and name == "#include":
                self.error(*where, f"#include {raw!r}: no file matches")
            for m in matches:
                self.load_file(Path(m), _display(Path(m), base, raw), where)
            return
        if not target.exists():
            if name == "#include":
                self.error(*where, f"#include {raw!r}: file not found ({target})")
            return
        self.load_file(target, _display(target, base, raw), where)


def _display(target: Path, base: Path, raw: str) -> str:
    """The file name diagnostics use for an included file: as written when relative."""
    if os.path.isabs(raw):
        return str(target)
    return str(base / os.path.relpath(target, base)) if str(base) not in ("", ".") else raw


def _paren_balance(text: str) -> int:
    """Net open parentheses outside quotes (escaped ones don't count)."""
    depth = 0
    i = 0
    n = len(text)
    quote = False
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == '"':
            quote = not quote
        elif not quote:
            if c == "(":
                depth += 1
            elif c == ")":
                depth -= 1
        i += 1
    return depth


def _relocate(st: tuple[Any, ...], lineno: int) -> tuple[Any, ...]:
    """A statement parsed from one line alone: put its tokens back on their real line."""
    out: list[Any] = [st[0]]
    for item in st[1:]:
        if isinstance(item, Token):
            item = Token.new_borrow_pos(item.type, item.value, item)
            item.line = lineno
            item.end_line = lineno
        out.append(item)
    return tuple(out)


def _without_gc(fn: Any) -> Any:
    """Run `fn` with the cyclic GC paused: building ~100k small objects otherwise
    triggers repeated full collections that cost a third of the parse time."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        enabled = gc.isenabled()
        gc.disable()
        try:
            return fn(*args, **kwargs)
        finally:
            if enabled:
                gc.enable()

    wrapper.__doc__ = fn.__doc__
    wrapper.__name__ = fn.__name__
    return wrapper


def parse_dialplan_text(
    text: str, filename: str = "extensions.conf", *, config_dir: str | Path | None = None
) -> tuple[Dialplan, list[Diagnostic]]:
    """Parse extensions.conf text; returns the dialplan and every problem found."""
    b = _Builder(Path(config_dir) if config_dir is not None else None)
    b.dp.files.append(filename)
    b.include_stack.append(os.path.realpath(filename))
    _without_gc(b.load_text)(text, filename)
    return b.dp, b.diags


def parse_dialplan(
    path: str | Path, *, config_dir: str | Path | None = None
) -> tuple[Dialplan, list[Diagnostic]]:
    """Parse an extensions.conf file (following #include); never stops at the first error.

    Relative #include paths are resolved against `config_dir`, by default the
    directory of `path` (Asterisk resolves them against /etc/asterisk).
    """
    p = Path(path)
    b = _Builder(Path(config_dir) if config_dir is not None else p.parent)
    _without_gc(b.load_file)(p, str(path), None)
    return b.dp, b.diags
