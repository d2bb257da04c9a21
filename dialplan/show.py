"""`dialplan show`, printed the way Asterisk's pbx.c show_dialplan_helper() prints it."""

from __future__ import annotations

import os

from dialplan.model import Context, Dialplan, Extension, Step
from dialplan.patterns import extension_matches, sorted_extensions

__all__ = ["show_dialplan"]

REGISTRAR = "pbx_config"  # the module that loads extensions.conf in Asterisk


class _Counts:
    __slots__ = ("contexts", "extensions", "priorities")

    def __init__(self) -> None:
        self.extensions = 0
        self.priorities = 0
        self.contexts = 0


def _plural(n: int, one: str, many: str) -> str:
    return one if n == 1 else many


def _where(step: Step, base: str | None) -> str:
    # Asterisk prints the registrar file as named under its config directory.
    path = step.pos.file
    if base is not None and os.path.isabs(path) == os.path.isabs(base):
        rel = os.path.relpath(path, base)
        if not rel.startswith(".."):
            path = rel
    else:
        path = os.path.basename(path)
    return f"[{path}:{step.pos.line}]"


def _step_text(step: Step) -> str:
    if step.priority < 0:
        return f"hint: {step.app}"
    return f"{step.priority}. {step.app}({step.args})"


def _extension_lines(ext: Extension, base: str | None) -> list[str]:
    if ext.cid_match is not None:
        head = f"'{ext.name}' (CID match '{ext.cid_match}') => "
    else:
        head = f"'{ext.name}' =>"
    lines: list[str] = []
    for i, prio in enumerate(sorted(ext.steps)):
        step = ext.steps[prio]
        if i == 0:
            first = head  # Asterisk shows no label on an extension's first line
        elif step.label:
            first = f"   [{step.label}]"
        else:
            first = ""
        lines.append(f"  {first:<17} {_step_text(step):<45} {_where(step, base)}")
    return lines


def _show_context(
    dp: Dialplan,
    ctx: Context,
    exten: str | None,
    counts: _Counts,
    out: list[str],
    base: str | None,
    included: bool,
    visited: list[str],
) -> None:
    printed = False
    if exten is None:
        counts.contexts += 1
        out.append(f"[ Context '{ctx.name}' created by '{REGISTRAR}' ]")
        printed = True
    for ext in sorted_extensions(ctx):
        if exten is not None and not extension_matches(ext.name, exten):
            continue
        if not printed:
            counts.contexts += 1
            kind = "Included context" if included else "Context"
            out.append(f"[ {kind} '{ctx.name}' created by '{REGISTRAR}' ]")
            printed = True
        counts.extensions += 1
        counts.priorities += len(ext.steps)
        out.extend(_extension_lines(ext, base))
    for inc in ctx.includes:
        if exten is None:
            out.append(f"  Include =>        {repr_q(inc.context):<45} [{REGISTRAR}]")
            continue
        # With an extension asked for, Asterisk follows the includes instead of
        # listing them, skipping contexts already on the include path.
        if inc.context in visited or inc.context not in dp.contexts:
            continue
        _show_context(
            dp,
            dp.contexts[inc.context],
            exten,
            counts,
            out,
            base,
            True,
            [*visited, inc.context],
        )
    for pat in ctx.ignorepats:
        if exten is None or extension_matches(f"_{pat}.", exten):
            out.append(f"  Ignore pattern => {repr_q(pat):<45} [{REGISTRAR}]")
    if printed:
        out.append("")


def repr_q(name: str) -> str:
    """A name in single quotes, as Asterisk prints context and pattern names."""
    return f"'{name}'"


def show_dialplan(dp: Dialplan, context: str | None = None, exten: str | None = None) -> str:
    """The text of `dialplan show [[exten@]context]`.

    `context` may also be written `exten@context` (or `exten@` for every
    context), as on the Asterisk CLI. With an extension, only the extensions
    matching it are listed and included contexts are searched too.
    """
    if context is not None and "@" in context and exten is None:
        exten, context = context.split("@", 1)
        exten = exten or None
        context = context or None
    base = os.path.dirname(dp.files[0]) if dp.files else None
    counts = _Counts()
    out: list[str] = []
    if context is not None:
        ctx = dp.contexts.get(context)
        if ctx is None:
            return f"There is no existence of '{context}' context\n"
        _show_context(dp, ctx, exten, counts, out, base, False, [context])
    else:
        for ctx in dp.contexts.values():
            _show_context(dp, ctx, exten, counts, out, base, False, [ctx.name])
    if exten is not None and counts.extensions == 0:
        where = f"{exten}@{context}" if context else exten
        kind = "extension" if context else "extension in any context"
        return f"There is no existence of '{where}' {kind}\n"
    out.append(
        f"-= {counts.extensions} {_plural(counts.extensions, 'extension', 'extensions')} "
        f"({counts.priorities} {_plural(counts.priorities, 'priority', 'priorities')}) "
        f"in {counts.contexts} {_plural(counts.contexts, 'context', 'contexts')}. =-"
    )
    return "\n".join(out) + "\n"
