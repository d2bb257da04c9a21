"""Look up extensions in a context of 10,000 patterns vs one of 100.

Targets from the Dialplan issue: median lookup < 50 us with 10,000 patterns,
and no more than twice the time with 100 patterns (i.e. no linear scan).

Run: .venv/bin/python bench/bench_pattern_lookup.py
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dialplan.model import Context, Extension, Pos, Step  # noqa: E402
from dialplan.patterns import ContextIndex, find  # noqa: E402
from dialplan.parser import parse_dialplan_text  # noqa: E402

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
    results = {}
    for n in (100, 10000):
        ctx, numbers = make_context(n, rng)
        t0 = time.perf_counter()
        idx = ContextIndex(ctx)
        build = time.perf_counter() - t0
        assert idx.match(numbers[0]) is not None
        med = median_lookup_us(idx, numbers)
        miss = median_lookup_us(idx, ["99999999999999", "*98"], 5000)
        results[n] = med
        print(f"{n:>6} patterns: index build {build * 1000:7.1f} ms, "
              f"median match {med:6.2f} us, no-match/catch-all {miss:6.2f} us")
    ratio = results[10000] / results[100]
    print(f"ratio 10,000 / 100: {ratio:.2f} (target <= 2.0: {'OK' if ratio <= 2 else 'MISSED'}); "
          f"10,000-pattern median target < 50 us: {'OK' if results[10000] < 50 else 'MISSED'}")

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
    print(f"find() through 2 includes into 10,000 patterns: median "
          f"{statistics.median(times) / 1000:.2f} us")


if __name__ == "__main__":
    main()
