"""How long `recpipe <job> --help` takes, per job, against the 2 s goal and against `recpipe --help`.

    python benchmarks/cli_help.py --repeats 3

Each command runs in a new process (what a person typing it waits for), ``--repeats`` times; the best time per
job is printed with its ratio to the goal and to the top-level help, which imports no job.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from recpipe.commands import JOBS

GOAL_S = 2.0


def best_seconds(argv: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "recpipe.cli", *argv], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    top = best_seconds(["--help"], args.repeats)
    print(f"{'command':<28} {'seconds':>8} {'/ goal 2 s':>11} {'/ recpipe --help':>17}")
    print(f"{'recpipe --help':<28} {top:>8.2f} {top / GOAL_S:>11.2f} {1.0:>17.2f}")
    worst = 0.0
    for job in JOBS:  # `recpipe run` included
        seconds = best_seconds([job, "--help"], args.repeats)
        worst = max(worst, seconds)
        print(f"{'recpipe ' + job + ' --help':<28} {seconds:>8.2f} {seconds / GOAL_S:>11.2f} {seconds / top:>17.2f}")
    print(f"slowest job help: {worst:.2f} s = {worst / GOAL_S:.2f} of the 2 s goal")


if __name__ == "__main__":
    main()
