"""Parse a generated 10,000-extension dialplan (target from the Dialplan issue: < 1 s).

100 contexts x 100 extensions x 3 priorities, a third of the extensions
patterns, each context including the previous one, plus globals and comments.

Run: .venv/bin/python bench/bench_dialplan_parse.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dialplan.parser import parse_dialplan_text

TARGET_S = 1.0


def generate(contexts: int = 100, per_context: int = 100) -> str:
    """A dialplan with contexts * per_context extensions of 3 priorities each."""
    out = ["; generated", "[general]", "autofallthrough=yes", "", "[globals]"]
    out += [f"VAR{i}=value{i}" for i in range(50)]
    for c in range(contexts):
        out.append("")
        out.append(f"[ctx{c}]")
        if c:
            out.append(f"include => ctx{c - 1}")
        for e in range(per_context):
            # every third extension a pattern
            name = f"_{c % 10}{e:02d}[1-5]XX" if e % 3 == 0 else f"{c:03d}{e:03d}"
            out.append(f"exten => {name},1,Answer()")
            out.append(f" same => n,Dial(SIP/${{EXTEN}},20,tT) ; ring {name}")
            out.append(' same => n(out),GotoIf($["${DIALSTATUS}" = "BUSY"]?busy:1)')
    return "\n".join(out) + "\n"


def main() -> None:
    """Print cold and warm parse times of the generated dialplan."""
    text = generate()
    lines = text.count("\n")
    t0 = time.perf_counter()
    dp, diags = parse_dialplan_text(text)
    cold = time.perf_counter() - t0  # includes building the lark parser once
    assert not diags, diags[:3]
    n_ext = sum(len(c.extensions) for c in dp.contexts.values())
    n_prio = sum(len(e.steps) for c in dp.contexts.values() for e in c.extensions.values())
    runs = []
    for _ in range(7):
        t0 = time.perf_counter()
        parse_dialplan_text(text)
        runs.append(time.perf_counter() - t0)
    med = statistics.median(runs)
    print(
        f"dialplan: {len(dp.contexts)} contexts, {n_ext} extensions, {n_prio} priorities, "
        f"{lines} lines, {len(text) / 1e6:.2f} MB"
    )
    print(f"parse cold (incl. grammar build): {cold * 1000:8.1f} ms")
    print(
        f"parse warm median of {len(runs)}:       {med * 1000:8.1f} ms "
        f"(min {min(runs) * 1000:.1f}, max {max(runs) * 1000:.1f})"
    )
    print(
        f"rate: {lines / med:,.0f} lines/s; target < {TARGET_S:.1f} s: "
        f"{'OK' if max(cold, med) < TARGET_S else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
