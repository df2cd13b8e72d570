"""Benchmark: the README's main command (`recpipe run` on its default data size) from an empty folder.

    python benchmarks/demo.py [--runs 1] [--keep]

Runs the command as a new user does (a fresh working directory, embedded defaults, a private local Redis) and
prints the wall time, the seconds of each task (from the run's own summary table) and the ratio to the goal
(90 s). Set-up (scripts/setup.sh) is not timed: it is done once per machine.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from recpipe.serving.local_redis import RedisProcess

GOAL_SECONDS = 90.0
TASK_ROW = re.compile(r"^(?P<task>[a-z_]+)\s+(?P<status>ok|FAILED|skipped)\s+(?P<seconds>[\d.]+)")


def task_seconds(summary: str) -> dict[str, float]:
    """``{task: seconds}`` from the summary table `recpipe run` prints."""
    return {m["task"]: float(m["seconds"]) for m in map(TASK_ROW.match, summary.splitlines()) if m}


def run_once(keep: bool) -> tuple[float, dict[str, float]]:
    workdir = Path(tempfile.mkdtemp(prefix="recpipe-bench-demo-"))
    redis_server = RedisProcess(workdir / "redis")
    redis_server.start()
    env = {**os.environ, "RECPIPE_REDIS_URL": redis_server.url}
    recpipe = Path(sys.executable).with_name("recpipe")
    try:
        start = time.perf_counter()
        done = subprocess.run([str(recpipe), "run"], cwd=workdir, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
    finally:
        redis_server.stop()
    if done.returncode != 0:
        sys.exit(f"recpipe run failed ({done.returncode}):\n{done.stderr[-3000:]}")
    if not keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return wall, task_seconds(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep each run's working directory")
    args = parser.parse_args()
    for run in range(1, args.runs + 1):
        wall, tasks = run_once(args.keep)
        print(
            f"run {run}: recpipe run from an empty folder: {wall:.1f} s wall "
            f"(goal {GOAL_SECONDS:.0f} s: {wall / GOAL_SECONDS:.2f}x the goal)"
        )
        for task, seconds in tasks.items():
            print(f"  {task:<14} {seconds:6.1f} s")
        startup = wall - sum(tasks.values())
        print(f"  {'outside tasks':<14} {startup:6.1f} s  (interpreter, Spark start, Redis, printing lists)")


if __name__ == "__main__":
    main()
