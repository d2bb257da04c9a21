"""Static checks over a parsed Dialplan (what `pbx check` reports beyond syntax).

Syntax errors, #include problems, duplicate priorities, `n` with nothing
before it and `same =>` with no extension are found while parsing (the model
cannot hold them) and come from dialplan.parser; everything that needs the
whole dialplan is here.

What only fails the calls that reach it -- an unknown application or
function, a function Set() cannot write, an include of a missing context, a
Goto/Gosub to a place that does not exist -- is an error marked `loadable`:
Asterisk loads such a dialplan, so `pbx run` does too (with a warning), while
`pbx check` and `pbx run --strict` refuse it.

Destinations are looked up the way the interpreter does (patterns.find):
a label or a priority is searched in every matching extension of the
context, then in the contexts it includes, so `Gosub(${EXTEN},stdexten(...))`
with `include => stdexten` is valid, as Asterisk's sample dialplan has it.
"""

from __future__ import annotations

import re

from dialplan.model import Context, Dialplan, Extension, Pos, Step
from dialplan.patterns import MAX_INCLUDE_DEPTH, find, pattern_error
from pbx.diagnostics import Diagnostic

__all__ = ["check_dialplan", "split_top_level"]

_FUNC_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_.]*)\(")
_OPEN = {"(": ")", "[": "]", "{": "}"}


def split_top_level(text: str, seps: str) -> list[tuple[str, int]]:
    """Split `text` at any character of `seps` that is outside (), [], {}, quotes
    and not backslash-escaped; returns (piece, offset of piece in text)."""
    out: list[tuple[str, int]] = []
    stack: list[str] = []
    quote = False
    start = 0
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == '"':
            quote = not quote
        elif not quote:
            if c in _OPEN:
                stack.append(_OPEN[c])
            elif stack and c == stack[-1]:
                stack.pop()
            elif not stack and c in seps:
                out.append((text[start:i], start))
                start = i + 1
        i += 1
    out.append((text[start:], start))
    return out


def _args_col(step: Step) -> int:
    # Column of the first argument character, assuming `App(` is written without
    # a space (the usual form); only used to point diagnostics close to the spot.
    return step.app_pos.col + len(step.app) + 1


class _Checker:
    def __init__(
        self, dp: Dialplan, known_apps: set[str] | None, known_functions: set[str] | None,
        writable_functions: set[str] | None,
    ) -> None:
        self.dp = dp
        self.apps = {a.lower() for a in known_apps} if known_apps is not None else None
        self.funcs = {f.lower() for f in known_functions} if known_functions is not None else None
        self.writable = ({f.lower() for f in writable_functions}
                         if writable_functions is not None else None)
        self.diags: list[Diagnostic] = []

    def add(self, pos: Pos, msg: str, severity: str = "error", col_offset: int = 0,
            *, loadable: bool = False) -> None:
        self.diags.append(Diagnostic(pos.file, pos.line, pos.col + col_offset, msg, severity,
                                     loadable))

    def reachable(self, name: str) -> list[Context]:
        """`name` and every context it includes, in search order."""
        out: list[Context] = []
        seen: set[str] = set()

        def walk(ctx_name: str, depth: int) -> None:
            ctx = self.dp.contexts.get(ctx_name)
            if ctx is None or ctx_name in seen or depth > MAX_INCLUDE_DEPTH:
                return
            seen.add(ctx_name)
            out.append(ctx)
            for inc in ctx.includes:
                walk(inc.context, depth + 1)

        walk(name, 0)
        return out

    def run(self) -> list[Diagnostic]:
        for ctx in self.dp.contexts.values():
            self.check_includes(ctx)
            for ext in ctx.extensions.values():
                self.check_extension(ctx, ext)
        self.check_include_cycles()
        self.diags.sort(key=lambda d: (d.file, d.line, d.col, d.message))
        return self.diags

    # -- contexts --------------------------------------------------------------------

    def check_includes(self, ctx: Context) -> None:
        for inc in ctx.includes:
            if inc.context not in self.dp.contexts:
                self.add(inc.pos, f"context '{ctx.name}' includes missing context '{inc.context}'",
                         loadable=True)

    def check_include_cycles(self) -> None:
        """Report each include cycle once, at the include that closes it."""
        # Asterisk survives include loops (each context is searched once per
        # lookup), so a cycle is a warning: it is almost always a mistake.
        state: dict[str, int] = {}  # 1: on the DFS path, 2: done
        path: list[str] = []

        def visit(name: str) -> None:
            state[name] = 1
            path.append(name)
            for inc in self.dp.contexts[name].includes:
                target = inc.context
                if target not in self.dp.contexts:
                    continue
                if state.get(target) == 1:
                    cycle = [*path[path.index(target) :], target]
                    self.add(inc.pos, "include cycle: " + " -> ".join(cycle), "warning")
                elif target not in state:
                    visit(target)
            path.pop()
            state[name] = 2

        for name in self.dp.contexts:
            if name not in state:
                visit(name)

    # -- extensions ------------------------------------------------------------------

    def check_extension(self, ctx: Context, ext: Extension) -> None:
        where = ext.pos or ctx.pos
        err = pattern_error(ext.name)
        if err is not None:
            self.add(where, err + " (it never matches)")
        if ext.cid_match is not None:
            err = pattern_error(ext.cid_match)
            if err is not None:
                self.add(where, err + " (caller-ID match never matches)")
        runnable = [p for p in ext.steps if p > 0]
        # Without labels nothing can reach it; with one it is a Gosub/Goto target
        # (Asterisk's `exten => _X.,50000(stdexten),...`).
        if runnable and 1 not in ext.steps and not ext.labels:
            first = ext.steps[min(runnable)]
            self.add(
                first.pos,
                f"extension '{ext.name}' in context '{ctx.name}' has no priority 1, "
                "so it is never entered",
                "warning",
            )
        for prio, step in ext.steps.items():
            if prio < 0:
                continue  # hint: not an application
            self.check_step(ctx, ext, step)

    def check_step(self, ctx: Context, ext: Extension, step: Step) -> None:
        app = step.app.lower()
        if self.apps is not None and app not in self.apps:
            self.add(step.app_pos, f"unknown application '{step.app}'", loadable=True)
        if self.funcs is not None and "${" in step.args:
            for m in _FUNC_RE.finditer(step.args):
                if m.group(1).lower() not in self.funcs:
                    self.diags.append(
                        Diagnostic(
                            step.app_pos.file,
                            step.app_pos.line,
                            _args_col(step) + m.start(1),
                            f"unknown function '{m.group(1)}'",
                            loadable=True,
                        )
                    )
        if app == "set":
            self.check_set_target(step)
        if app in ("goto", "gosub"):
            self.check_target(ctx, ext, step, step.args, 0)
        elif app in ("gotoif", "gosubif", "gotoiftime"):
            self.check_conditional(ctx, ext, step)
        elif app == "macro":
            name = split_top_level(step.args, ",")[0][0].strip()
            if name and "$" not in name and f"macro-{name}" not in self.dp.contexts:
                self.add(
                    step.app_pos,
                    f"Macro({name}): context 'macro-{name}' does not exist",
                    col_offset=len(step.app) + 1,
                    loadable=True,
                )

    def check_set_target(self, step: Step) -> None:
        """`Set(FUNC(args)=value)`: FUNC must exist and be writable."""
        name = step.args.partition("=")[0]
        lead = len(name) - len(name.lstrip())
        name = name.strip()
        paren = name.find("(")
        if paren <= 0 or not name.endswith(")") or "$" in name[:paren]:
            return  # a variable, or a computed name
        func = name[:paren]
        pos = Pos(step.app_pos.file, step.app_pos.line, _args_col(step) + lead)
        if self.funcs is not None and func.lower() not in self.funcs:
            self.add(pos, f"Set: unknown function '{func}' (the call logs a warning there)",
                     loadable=True)
        elif self.writable is not None and func.lower() not in self.writable:
            self.add(pos, f"Set: function '{func}' cannot be written to", loadable=True)

    def check_conditional(self, ctx: Context, ext: Extension, step: Step) -> None:
        parts = split_top_level(step.args, "?")
        if len(parts) < 2:
            return
        # Everything after the first top-level '?' is `true:false`.
        qoff = parts[1][1]
        rest = step.args[qoff:]
        for target, off in split_top_level(rest, ":"):
            self.check_target(ctx, ext, step, target, qoff + off)

    def check_target(
        self, ctx: Context, ext: Extension, step: Step, target: str, offset: int
    ) -> None:
        """Check a static `[[context,]exten,]priority` (a label or a number)."""
        text = target.strip()
        if not text:
            return  # empty branch
        pieces = [p.strip() for p, _ in split_top_level(text, ",")]
        if step.app.lower().startswith("gosub"):
            # Gosub(ctx,exten,prio(arg1,arg2)): the arguments are not part of the target
            paren = pieces[-1].find("(")
            if paren >= 0:
                pieces[-1] = pieces[-1][:paren].strip()
        if len(pieces) > 3 or "$" in pieces[-1] or (len(pieces) == 3 and "$" in pieces[0]):
            return  # computed at run time
        pos = Pos(step.app_pos.file, step.app_pos.line, _args_col(step) + offset)
        label = f"{step.app}({target.strip()})"
        prio = pieces[-1]
        if len(pieces) == 3:
            ctx_name, exten_name = pieces[0], pieces[1]
        elif len(pieces) == 2:
            ctx_name, exten_name = ctx.name, pieces[0]
        else:
            ctx_name, exten_name = ctx.name, None
        if ctx_name not in self.dp.contexts:
            self.add(pos, f"{label}: context '{ctx_name}' does not exist", loadable=True)
            return
        if exten_name is None:
            # Same extension: the priority or label is looked up as for this one.
            exten_name = ext.name if not ext.is_pattern else None
            if exten_name is None:
                self.check_label_anywhere(pos, label, ctx_name, prio, [ext])
                return
        if "$" in exten_name:
            self.check_label_anywhere(pos, label, ctx_name, prio, None)
            return
        found = find(self.dp, ctx_name, exten_name)
        where = self.where(ctx_name)
        if found is None:
            self.add(pos, f"{label}: extension '{exten_name}' not found in {where}",
                     loadable=True)
            return
        if not prio or prio[0] in "+-":
            return  # relative jump: depends on where it runs from
        if prio.isdigit():
            if find(self.dp, ctx_name, exten_name, priority=int(prio)) is None:
                self.add(pos, f"{label}: extension '{exten_name}' has no priority {int(prio)} "
                              f"in {where}", loadable=True)
        elif find(self.dp, ctx_name, exten_name, label=prio) is None:
            self.add(pos, f"{label}: no label '{prio}' in extension '{exten_name}' of {where}",
                     loadable=True)

    def where(self, ctx_name: str) -> str:
        ctx = self.dp.contexts[ctx_name]
        return f"context '{ctx_name}'" + (" or the contexts it includes" if ctx.includes
                                           else "")

    def check_label_anywhere(self, pos: Pos, label: str, ctx_name: str, prio: str,
                             candidates: list[Extension] | None) -> None:
        """The extension is computed at run time: a static label must at least
        exist in some extension the lookup could reach."""
        if not prio or prio.lstrip("+-").isdigit():
            return
        if candidates is None:
            candidates = [e for c in self.reachable(ctx_name) for e in c.extensions.values()]
        if not any(prio in e.labels for e in candidates):
            self.add(pos, f"{label}: no label '{prio}' in any extension of "
                          f"{self.where(ctx_name)}", loadable=True)


def check_dialplan(
    dp: Dialplan,
    *,
    known_apps: set[str] | None = None,
    known_functions: set[str] | None = None,
    writable_functions: set[str] | None = None,
) -> list[Diagnostic]:
    """Every problem found in `dp`, sorted by position.

    `known_apps` / `known_functions` / `writable_functions` are the registered
    names (matched without regard to case); pass None to skip that check.
    """
    return _Checker(dp, known_apps, known_functions, writable_functions).run()
