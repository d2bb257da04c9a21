"""Look up extensions in a context of 10,000 patterns vs one of 100.

Targets from the Dialplan issue: median lookup < 50 us with 10,000 patterns,
and no more than twice the time with 100 patterns (i.e. no linear scan).

Two workloads: the same 100 numbers in both contexts (the algorithmic cost:
equal path lengths, so equal work), and numbers drawn from all the patterns
(for 10,000 patterns each lookup walks trie nodes that are cold in the CPU
cache, which CPython pays for whatever the algorithm).

Run: .venv/bin/python bench/bench_pattern_lookup.py
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dialplan.model import Context, Extension, Pos, Step
from dialplan.parser import parse_dialplan_text
from dialplan.patterns import ContextIndex, find

POS = Pos("bench", 1, 1)
SHAPES = ["_{p}XXX", "_{p}N[1-5]X", "_{p}Z.", "_{p}[0-4]XX!", "_{p}XXXXXX"]


def make_context(n: int, rng: random.Random) -> tuple[Context, list[str]]:
    """A context of `n` patterns with distinct 4-digit prefixes, and numbers that hit them."""
    ctx = Context("bench", POS)
    numbers: list[str] = []
    prefixes = rng.sample(range(10000), n)
    for i, p in enumerate(prefixes):
        name = SHAPES[i % len(SHAPES)].format(p=f"{p:04d}")
        ext = Extension(name, None, pos=POS)
        ext.steps[1] = Step(1, "NoOp", "", None, POS, POS)
        ctx.extensions[(name, None)] = ext
        numbers.append(f"{p:04d}" + {0: "123", 1: "231", 2: "9876", 3: "123", 4: "123456"}[i % 5])
    # catch-alls that every lookup has to be ordered against
    for name in ("_X.", "_NXXNXXXXXX", "_1NXXNXXXXXX"):
        ext = Extension(name, None, pos=POS)
        ext.steps[1] = Step(1, "NoOp", "", None, POS, POS)
        ctx.extensions[(name, None)] = ext
    return ctx, numbers


def median_lookup_us(idx: ContextIndex, numbers: list[str], rounds: int = 20000) -> float:
    """Median time of one `match` call in microseconds (after a warm-up pass)."""
    for num in numbers:
        idx.match(num)
    rng = random.Random(7)
    sample = [rng.choice(numbers) for _ in range(rounds)]
    times = []
    clock = time.perf_counter_ns
    for num in sample:
        t0 = clock()
        idx.match(num)
        times.append(clock() - t0)
    return statistics.median(times) / 1000


def main() -> None:
    """Print lookup medians for 100 and 10,000 patterns and the index build time."""
    rng = random.Random(1)
    hot: dict[int, float] = {}
    cold: dict[int, float] = {}
    for n in (100, 10000):
        ctx, numbers = make_context(n, rng)
        t0 = time.perf_counter()
        idx = ContextIndex(ctx)
        build = time.perf_counter() - t0
        assert all(idx.match(num) is not None for num in numbers)
        hot[n] = median_lookup_us(idx, numbers[:100])
        cold[n] = median_lookup_us(idx, numbers)
        miss = median_lookup_us(idx, ["99999999999999", "*98"], 5000)
        print(
            f"{n:>6} patterns: index build {build * 1000:7.1f} ms, median match: "
            f"100 numbers {hot[n]:5.2f} us, all numbers {cold[n]:5.2f} us, "
            f"catch-all/no match {miss:5.2f} us"
        )
    ratio_hot = hot[10000] / hot[100]
    ratio_cold = cold[10000] / cold[100]
    worst = max(hot[10000], cold[10000])
    print(
        f"ratio 10,000 / 100 patterns: same numbers {ratio_hot:.2f} "
        f"({'OK' if ratio_hot <= 2 else 'MISSED'} <= 2.0), all numbers {ratio_cold:.2f}; "
        f"median < 50 us: {'OK' if worst < 50 else 'MISSED'} ({worst:.2f} us)"
    )

    # the cross-context path the interpreter uses: own context, then includes
    lines = ["[top]", "include => mid"]
    lines += ["[mid]", "include => big"] + [f"exten => {i},1,NoOp()" for i in range(100)]
    lines += ["[big]"] + [f"exten => _{p:04d}XXX,1,NoOp()" for p in range(10000)]
    dp, _ = parse_dialplan_text("\n".join(lines))
    find(dp, "top", "1234567")
    times = []
    for _ in range(5000):
        t0 = time.perf_counter_ns()
        find(dp, "top", "1234567")
        times.append(time.perf_counter_ns() - t0)
    print(
        f"find() through 2 includes into 10,000 patterns: median "
        f"{statistics.median(times) / 1000:.2f} us"
    )


if __name__ == "__main__":
    main()
