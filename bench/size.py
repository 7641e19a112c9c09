#!/usr/bin/env python3
"""What a release-profile change costs in speed: release builds compared side by side.

    pip install "moto[server]==5.2.5"
    python3 bench/size.py LABEL=DIR [LABEL=DIR ...] [--runs 9] [--rtt-ms 0] [--startups 100]
                          [--hot-runs 5] [--hot-rounds 5]

Each DIR is a cargo release output directory (`target/release`, or
`$CARGO_TARGET_DIR/release` of a build with another profile) holding `ecr-lambda` and
`examples/hot`: `cargo build --release --bin ecr-lambda`, then `cargo build --release
--example hot`, as two commands (an example brings the dev-dependencies, whose features,
built in the same command, would also enter the binary). For each build it prints:

- the size of the binary, in bytes;
- `examples/hot` (bench/hot.rs): sha256 of a 64 MiB blob and the parse of a 1,000-entry
  index, the library's two hot paths, under that build's profile (HOT_RUNS runs of
  HOT_ROUNDS rounds each: the median of the runs' medians);
- startup: `ecr-lambda --version`, STARTUPS times, median wall and CPU time of one run;
- `check` (exit 1: a buildx index, not ready) and `deploy` (the index's image to a
  function whose update has ended by the first status read) of a freshly seeded image,
  against the tests' emulator behind the benchmark's proxy at RTT_MS (bench/run.py's
  seeding and proxy): median wall time and median CPU time (user + system of the
  process, which machine load disturbs less than wall time) over RUNS runs.

The builds take turns, run by run (the startups in blocks of 10), so that the load
of a shared machine falls on all of them alike. Figures are printed, not asserted.
"""

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import ACCOUNT, REGION, Bench  # noqa: E402  (bench/run.py: emulator, proxy, seeding)


HOT_MEDIAN = re.compile(r"median ([0-9.]+) (?:ms|us)")


def cpu_of_children():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_run(args, env, expect):
    """Wall and CPU seconds of one run of `args`."""
    cpu = cpu_of_children()
    start = time.perf_counter()
    out = subprocess.run(args, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if out.returncode not in expect:
        raise SystemExit(f"{' '.join(args)} exited {out.returncode}: {out.stderr}")
    return wall, cpu_of_children() - cpu


def fmt(values, scale=1000.0, digits=1):
    values = sorted(values)
    return (f"{statistics.median(values) * scale:.{digits}f} "
            f"({values[0] * scale:.{digits}f}-{values[-1] * scale:.{digits}f})")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("builds", nargs="+", help="LABEL=DIR, DIR holding ecr-lambda and examples/hot")
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--rtt-ms", type=int, default=0)
    parser.add_argument("--startups", type=int, default=100)
    parser.add_argument("--hot-rounds", type=int, default=5)
    parser.add_argument("--hot-runs", type=int, default=5)
    opts = parser.parse_args()
    builds = []
    for spec in opts.builds:
        label, _, folder = spec.partition("=")
        binary, hot = os.path.join(folder, "ecr-lambda"), os.path.join(folder, "examples", "hot")
        for path in (binary, hot):
            if not os.access(path, os.X_OK):
                raise SystemExit(f"{label}: no {path}")
        builds.append((label, binary, hot))

    print("size, bytes:")
    for label, binary, _ in builds:
        print(f"  {label:<12} {os.path.getsize(binary):>12,}")
    # The hot paths' medians, build after build, HOT_RUNS times over.
    hot_medians = {label: {"sha256": [], "parse": []} for label, _, _ in builds}
    for _ in range(opts.hot_runs):
        for label, _, hot in builds:
            out = subprocess.run([hot, str(opts.hot_rounds)], capture_output=True, text=True, check=True)
            for line in out.stdout.splitlines():
                kind = "sha256" if line.startswith("sha256") else "parse"
                hot_medians[label][kind].append(float(HOT_MEDIAN.search(line).group(1)))
    print(f"hot paths (bench/hot.rs): median (min-max) of {opts.hot_runs} runs' medians of "
          f"{opts.hot_rounds} rounds each")
    for label, kinds in hot_medians.items():
        sha = kinds["sha256"]
        print(f"  {label:<12} sha256 of 64 MiB: {fmt(sha, scale=1, digits=1)} ms, "
              f"{64 / (statistics.median(sha) / 1000):.0f} MiB/s; "
              f"parse of a 1,000-entry index: {fmt(kinds['parse'], scale=1, digits=0)} us")
    sys.stdout.flush()

    env = dict(os.environ)
    startups = {label: [] for label, _, _ in builds}
    for _ in range(max(1, opts.startups // 10)):
        for label, binary, _ in builds:
            for _ in range(10):
                startups[label].append(timed_run([binary, "--version"], env, (0,)))
    print(f"startup, `ecr-lambda --version` x {opts.startups}: median (min-max), ms")
    for label, runs in startups.items():
        print(f"  {label:<12} wall {fmt([w for w, _ in runs], digits=2)}, "
              f"cpu {fmt([c for _, c in runs], digits=2)}")
    sys.stdout.flush()

    bench = Bench(opts.rtt_ms)
    results = {(label, command): [] for label, _, _ in builds for command in ("check", "deploy")}
    try:
        for _ in range(opts.runs):
            for label, binary, _ in builds:
                repo, function = bench.seed("buildx-single")
                image = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{repo}:v1"
                base = [binary, "--endpoint-url", bench.proxy_url]
                results[(label, "check")].append(timed_run(base + ["check", image], bench.env, (1,)))
                results[(label, "deploy")].append(
                    timed_run(base + ["deploy", image, "--function", function], bench.env, (0,)))
    finally:
        bench.close()
    print(f"against the emulator, round trip {opts.rtt_ms} ms, {opts.runs} runs each: median (min-max), ms")
    print(f"  {'build':<12} {'command':<7} {'wall':>24} {'cpu (user+sys)':>24}")
    for (label, command), runs in results.items():
        print(f"  {label:<12} {command:<7} {fmt([w for w, _ in runs], digits=0):>24} "
              f"{fmt([c for _, c in runs], digits=0):>24}")


if __name__ == "__main__":
    main()
