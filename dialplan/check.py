"""Static checks over a parsed Dialplan (what `pbx check` reports beyond syntax).

Syntax errors, #include problems, duplicate priorities, `n` with nothing
before it and `same =>` with no extension are found while parsing (the model
cannot hold them) and come from dialplan.parser; everything that needs the
whole dialplan is here.
"""

from __future__ import annotations

import re

from dialplan.model import Context, Dialplan, Extension, Pos, Step
from dialplan.patterns import find, pattern_error
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
        self, dp: Dialplan, known_apps: set[str] | None, known_functions: set[str] | None
    ) -> None:
        self.dp = dp
        self.apps = {a.lower() for a in known_apps} if known_apps is not None else None
        self.funcs = {f.lower() for f in known_functions} if known_functions is not None else None
        self.diags: list[Diagnostic] = []

    def add(self, pos: Pos, msg: str, severity: str = "error", col_offset: int = 0) -> None:
        self.diags.append(Diagnostic(pos.file, pos.line, pos.col + col_offset, msg, severity))

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
                self.add(inc.pos, f"context '{ctx.name}' includes missing context '{inc.context}'")

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
        if runnable and 1 not in ext.steps:
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
            self.add(step.app_pos, f"unknown application '{step.app}'")
        if self.funcs is not None and "${" in step.args:
            for m in _FUNC_RE.finditer(step.args):
                if m.group(1).lower() not in self.funcs:
                    self.diags.append(
                        Diagnostic(
                            step.app_pos.file,
                            step.app_pos.line,
                            _args_col(step) + m.start(1),
                            f"unknown function '{m.group(1)}'",
                        )
                    )
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
                )

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
        if not text or "$" in text:
            return  # empty branch, or computed at run time
        if step.app.lower().startswith("gosub"):
            # Gosub(ctx,exten,prio(arg1,arg2)): the arguments are not part of the target
            paren = text.find("(")
            if paren >= 0:
                text = text[:paren].strip()
        pieces = [p.strip() for p, _ in split_top_level(text, ",")]
        if len(pieces) > 3:
            return
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
            self.add(pos, f"{label}: context '{ctx_name}' does not exist")
            return
        if exten_name is None:
            target_ext: Extension | None = ext
        else:
            target_ext = self.dp.contexts[ctx_name].extensions.get((exten_name, None))
            if target_ext is None:
                found = find(self.dp, ctx_name, exten_name)
                target_ext = found[1] if found else None
            if target_ext is None:
                self.add(
                    pos, f"{label}: extension '{exten_name}' not found in context '{ctx_name}'"
                )
                return
        if not prio:
            return
        if prio.lstrip("+-").isdigit():
            if prio[0] in "+-":
                return  # relative jump: depends on where it runs from
            if int(prio) not in target_ext.steps:
                self.add(
                    pos,
                    f"{label}: extension '{target_ext.name}' in context '{ctx_name}' "
                    f"has no priority {int(prio)}",
                )
        elif prio not in target_ext.labels:
            self.add(
                pos,
                f"{label}: no label '{prio}' in extension '{target_ext.name}' "
                f"of context '{ctx_name}'",
            )


def check_dialplan(
    dp: Dialplan,
    *,
    known_apps: set[str] | None = None,
    known_functions: set[str] | None = None,
) -> list[Diagnostic]:
    """Every problem found in `dp`, sorted by position.

    `known_apps` / `known_functions` are the registered names (matched without
    regard to case); pass None to skip that check.
    """
    return _Checker(dp, known_apps, known_functions).run()
