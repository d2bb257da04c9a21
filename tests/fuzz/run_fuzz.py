"""The long fuzz run: every target for a share of ``--minutes``, with atheris
(libFuzzer, coverage-guided) when it is installed, else hypothesis.

    .venv/bin/pip install atheris            # once (pyproject extra "fuzz")
    .venv/bin/python -m tests.fuzz.run_fuzz --minutes 10 [--targets sip,core] [--merge]

libFuzzer limits each input to 10 s (a hang) and the process to 1 GB (unbounded
memory); a crash input lands in var/fuzz/artifacts/. New inputs go to
var/fuzz/<target>/; ``--merge`` then adds to tests/fuzz/corpus/<target>/ only
those that reach new code, so the committed corpus stays small.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WORK = REPO / "var" / "fuzz"


def child(target: str, libfuzzer_args: list[str]) -> None:
    import atheris

    with atheris.instrument_imports(include=["pbx", "tests.fuzz"]):
        from tests.fuzz.targets import FUZZERS
    # libFuzzer runs argv[0] through the shell for -merge: give it this very command.
    again = f"{sys.executable} -m tests.fuzz.run_fuzz --child {target} --"
    atheris.Setup([again, *libfuzzer_args], FUZZERS[target])
    atheris.Fuzz()


def run_atheris(target: str, seconds: int, merge: bool) -> int:
    seeds = REPO / "tests" / "fuzz" / "corpus" / ("sip" if target == "core" else target)
    work = WORK / target
    artifacts = WORK / "artifacts"
    work.mkdir(parents=True, exist_ok=True)
    artifacts.mkdir(parents=True, exist_ok=True)
    args = [f"-max_total_time={seconds}", "-timeout=10", "-rss_limit_mb=1024",
            "-max_len=70000", f"-artifact_prefix={artifacts}/{target}-", "-print_final_stats=1",
            str(work), str(seeds)]
    cmd = [sys.executable, "-m", "tests.fuzz.run_fuzz", "--child", target, "--", *args]
    print(f"== {target}: atheris for {seconds} s", flush=True)
    rc = subprocess.run(cmd, cwd=REPO).returncode if seconds > 0 else 0
    if rc == 0 and merge:
        merge_into(target, seeds, work)
    return rc


def merge_into(target: str, seeds: Path, work: Path) -> None:
    """Add to the committed corpus only the inputs that reach new code."""
    print(f"== {target}: merging {work} into {seeds}", flush=True)
    subprocess.run([sys.executable, "-m", "tests.fuzz.run_fuzz", "--child", target, "--",
                    "-merge=1", f"-artifact_prefix={WORK / 'artifacts'}/{target}-merge-",
                    str(seeds), str(work)], cwd=REPO, check=False)


def run_hypothesis(target: str, seconds: int) -> int:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from tests.fuzz.targets import FUZZERS
    from tests.fuzz.test_fuzz import mutated

    print(f"== {target}: hypothesis for {seconds} s", flush=True)
    end = time.monotonic() + seconds
    runs = 0
    while time.monotonic() < end:
        @settings(max_examples=2000, deadline=10_000, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(st.one_of(mutated(target), st.binary(max_size=4000)))
        def batch(data: bytes) -> None:
            FUZZERS[target](data)

        batch()
        runs += 2000
    print(f"   {runs} inputs, no defect")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--targets", default="sip,core,sdp,rtp,framer")
    parser.add_argument("--engine", choices=("auto", "atheris", "hypothesis"), default="auto")
    parser.add_argument("--merge", action="store_true",
                        help="then add what reached new code to tests/fuzz/corpus/")
    parser.add_argument("--merge-only", action="store_true",
                        help="only merge what an earlier run left in var/fuzz/")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()
    if args.child:
        child(args.child, [a for a in rest if a != "--"])
        return 0
    engine = args.engine
    if engine == "auto":
        try:
            import atheris  # noqa: F401
            engine = "atheris"
        except ImportError:
            engine = "hypothesis"
    targets = args.targets.split(",")
    share = 0 if args.merge_only else max(10, int(args.minutes * 60 / len(targets)))
    if args.merge_only:
        engine, args.merge = "atheris", True
    failed = []
    for target in targets:
        rc = (run_atheris(target, share, args.merge) if engine == "atheris"
              else run_hypothesis(target, share))
        if rc != 0:
            failed.append(target)
    print("defects in: " + ", ".join(failed) if failed else "no defect found")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
