"""Benchmark: the whole task graph at marketplace sizes, with what each task and stage costs and how it grows.

    python benchmarks/scale.py --users 100000 300000 1000000 --root DIR [--driver-memory 12g] [--set S.F=V ...]
    python benchmarks/scale.py --root DIR                     # the table of the sizes already measured in DIR

Per size, in a fresh process (its own JVM), under DIR/<users>/: `recpipe generate` (the default world with listings
and events in proportion: users / 2 listings, 50 events per user; 1M users -> 500k listings, 50M events), then
every task of the pipeline job in order with the command lines `recpipe run` uses (jobs/pipeline.job.yml, tune
included), publishing to a private redis-server. Around each task it measures: wall seconds; CPU seconds of the
driver's Python, of the JVM (Spark's driver and executors: one process locally) and of the Python workers the
executors start (mapInArrow, UDFs); the peak resident memory of each (the kernel's high-water mark, reset per
task); Spark jobs started and Delta commits written; rows and megabytes collected to the driver
(collect/toPandas/toArrow); the task's own stage seconds and row counts. A size's results go to
DIR/<users>/scale.json as soon as each task ends, so a size that fails or is stopped still reports its tasks.

The table: per task and size the wall time, where the CPU went and the peak memory; per task and per stage the
growth exponent b of seconds ~ events^b fitted over the sizes (1 = linear; users, listings and events grow
together, so the exponent is the same against any of them).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

LISTINGS_PER_USER, EVENTS_PER_USER = 0.5, 50
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
RESULTS = "scale.json"
MB = 1 << 20


# ---- the processes of a local run: this Python (the driver's), the JVM it started, the JVM's Python workers


def _parents() -> dict[int, int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # the process ended while we looked
                continue
            parents[int(entry.name)] = int(fields[1])
    return parents


def _descendants(root: int, parents: dict[int, int]) -> list[int]:
    found, frontier = [], [root]
    while frontier:
        children = [pid for pid, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def process_groups() -> dict[str, list[int]]:
    """``{"driver_python": [pid], "jvm": [pid], "python_workers": [pids]}`` (the JVM: the java child)."""
    parents = _parents()
    me = os.getpid()
    jvms = [p for p, parent in parents.items() if parent == me and _name(p) == "java"]
    workers = [w for jvm in jvms for w in _descendants(jvm, parents)]
    return {"driver_python": [me], "jvm": jvms, "python_workers": workers}


def _name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process (all its threads)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def resident_mb(pid: int, key: str = "VmRSS") -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def reset_peak(pid: int) -> None:
    """Reset the kernel's peak resident size (VmHWM) of a process, so the next reading is this task's peak."""
    with suppress(OSError):
        Path(f"/proc/{pid}/clear_refs").write_text("5")


class WorkerSampler:
    """Samples the Python workers once a second: their summed resident memory, and every worker's CPU as last
    seen (workers come and go within a task; one that ends loses at most its last second)."""

    def __init__(self) -> None:
        self.peak_mb = 0.0
        self._start = {pid: cpu_seconds(pid) for pid in process_groups()["python_workers"]}
        self._last = dict(self._start)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        workers = process_groups()["python_workers"]
        self.peak_mb = max(self.peak_mb, sum(map(resident_mb, workers)))
        self._last.update({pid: cpu for pid in workers if (cpu := cpu_seconds(pid)) > 0})

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            self._sample()

    @property
    def cpu_s(self) -> float:
        return sum(cpu - self._start.get(pid, 0.0) for pid, cpu in self._last.items())

    def __enter__(self) -> WorkerSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


# ---- what is collected to the driver


@dataclass
class Collected:
    rows: int = 0
    bytes: int = 0
    calls: int = 0


def count_collects(dataframe_class: type, collected: Collected) -> None:
    """Count the rows every collect/toPandas/toArrow brings to the driver, and the bytes of the pandas and Arrow
    results (collect's Row objects count in rows only); outermost call only: toPandas may collect through the
    others."""
    depth = threading.local()

    def sized(result: Any) -> tuple[int, int]:
        if hasattr(result, "memory_usage"):  # pandas
            return len(result), int(result.memory_usage(index=False).sum())
        if hasattr(result, "nbytes"):  # pyarrow
            return result.num_rows, int(result.nbytes)
        return len(result), 0

    def wrap(method: Callable[..., Any]) -> Callable[..., Any]:
        def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
            depth.value = getattr(depth, "value", 0) + 1
            try:
                result = method(self, *args, **kwargs)
            finally:
                depth.value -= 1
            if depth.value == 0:
                rows, size = sized(result)
                collected.rows += rows
                collected.bytes += size
                collected.calls += 1
            return result

        return counted

    for name in ("collect", "toPandas", "toArrow"):
        if hasattr(dataframe_class, name):
            setattr(dataframe_class, name, wrap(getattr(dataframe_class, name)))


# ---- Spark jobs per task and per stage: a job group each


STAGE_GROUPS: dict[str, list[str]] = {}  # task -> its stages that ran, in order


def group_jobs_by_stage(spark: Any) -> None:
    """Each job stage (``StageLog.stage``) runs its Spark jobs in the group ``<task>/<stage>``."""
    from recpipe.progress import StageLog

    plain = StageLog.stage

    @contextmanager
    def grouped(self: StageLog, name: str) -> Iterator[None]:
        task = spark.sparkContext.getLocalProperty("spark.jobGroup.id") or self.job
        task = task.split("/")[0]
        STAGE_GROUPS.setdefault(task, []).append(name)
        spark.sparkContext.setJobGroup(f"{task}/{name}", name)
        try:
            with plain(self, name):
                yield
        finally:
            spark.sparkContext.setJobGroup(task, task)

    StageLog.stage = grouped  # type: ignore[method-assign]


# ---- one size


@dataclass
class TaskMeasure:
    task: str
    status: str = "ok"
    detail: str = ""
    wall_s: float = 0.0
    cpu_s: dict[str, float] = field(default_factory=dict)
    peak_mb: dict[str, float] = field(default_factory=dict)
    spark_jobs: int = 0
    delta_commits: int = 0
    collected_rows: int = 0
    collected_mb: float = 0.0
    stages: dict[str, float] = field(default_factory=dict)
    stage_jobs: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)


def delta_commits(data_dir: Path) -> int:
    return sum(1 for _ in data_dir.rglob("_delta_log/*.json"))


@contextmanager
def measured(task: str, data_dir: Path, spark: Any, collected: Collected) -> Iterator[TaskMeasure]:
    """Measure the task run inside; the figures are filled in even when it fails."""
    measure = TaskMeasure(task)
    groups = process_groups()
    for pid in groups["driver_python"] + groups["jvm"]:  # the workers' peak is sampled, not read from the kernel
        reset_peak(pid)
    cpu_before = {g: sum(map(cpu_seconds, groups[g])) for g in ("driver_python", "jvm")}
    commits_before, rows_before, bytes_before = delta_commits(data_dir), collected.rows, collected.bytes
    spark.sparkContext.setJobGroup(task, task)
    start = time.perf_counter()
    sampler = WorkerSampler()
    try:
        with sampler:
            yield measure
    finally:
        measure.wall_s = round(time.perf_counter() - start, 2)
        after = process_groups()
        measure.cpu_s = {g: round(sum(map(cpu_seconds, after[g])) - cpu_before[g], 1) for g in ("driver_python", "jvm")}
        measure.cpu_s["python_workers"] = round(sampler.cpu_s, 1)
        measure.peak_mb = {
            "driver_python": round(resident_mb(os.getpid(), "VmHWM")),
            "jvm": round(sum(resident_mb(p, "VmHWM") for p in after["jvm"])),
            "python_workers": round(sampler.peak_mb),
        }
        tracker = spark.sparkContext.statusTracker()
        measure.stage_jobs = {s: len(tracker.getJobIdsForGroup(f"{task}/{s}")) for s in STAGE_GROUPS.pop(task, [])}
        measure.spark_jobs = len(tracker.getJobIdsForGroup(task)) + sum(measure.stage_jobs.values())
        measure.delta_commits = delta_commits(data_dir) - commits_before
        measure.collected_rows = collected.rows - rows_before
        measure.collected_mb = round((collected.bytes - bytes_before) / MB, 1)


def run_size(users: int, root: Path, driver_memory: str, overrides: list[str]) -> None:
    """Generate the world of ``users`` and run the pipeline job's tasks in this process, measured; every task gets
    the run's ``overrides`` (``SECTION.FIELD=VALUE``, as `recpipe run --set`)."""
    workdir = root / str(users)
    data_dir = workdir / ".recpipe"
    workdir.mkdir(parents=True, exist_ok=True)
    os.chdir(workdir)
    os.environ.update(
        RECPIPE_DATA_DIR=str(data_dir),
        RECPIPE_SPARK_DRIVER_MEMORY=driver_memory,
        # the partitions every committed size was measured with (the local default is one per core, for small worlds)
        RECPIPE_SHUFFLE_PARTITIONS=os.environ.get("RECPIPE_SHUFFLE_PARTITIONS", "8"),
        # large frames: Spark's code generation and adaptive execution on, as on a cluster
        RECPIPE_SMALL_FRAMES=os.environ.get("RECPIPE_SMALL_FRAMES", "false"),
        # Every job's status is kept for counting (the default keeps the last 1,000), next to the caller's settings
        RECPIPE_SPARK_CONF=json.dumps(
            {
                **json.loads(os.environ.get("RECPIPE_SPARK_CONF") or "{}"),
                "spark.ui.retainedJobs": "1000000",
                "spark.ui.retainedStages": "1000000",
            }
        ),
    )
    from recpipe import dag
    from recpipe.commands import load_job, parse_args
    from recpipe.config import load_settings
    from recpipe.progress import configure_logging
    from recpipe.serving.local_redis import RedisProcess
    from recpipe.spark import get_spark

    configure_logging()
    spark = get_spark(load_settings())
    collected = Collected()
    count_collects(type(spark.range(1)), collected)
    group_jobs_by_stage(spark)
    sizes = (f"--users={users}", f"--items={int(users * LISTINGS_PER_USER)}", f"--events={users * EVENTS_PER_USER}")
    tasks = dag.generating_first(dag.pipeline_tasks(dag.pipeline_job()), sizes)
    results: dict[str, Any] = {
        "users": users,
        "driver_memory": driver_memory,
        "cores": os.cpu_count(),
        "overrides": overrides,
        "tasks": [],
    }
    redis_server = RedisProcess(workdir / "redis").start()
    os.environ["RECPIPE_REDIS_URL"] = redis_server.url

    def run_task(argv: list[str]) -> dict[str, Any]:
        name = argv[0]
        with measured(name, data_dir, spark, collected) as measure:
            try:
                summary = load_job(name).run(parse_args(argv))
            except Exception as exc:
                measure.status, measure.detail = "FAILED", str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise
            finally:
                results["tasks"].append(measure)
        measure.stages, measure.rows = summary.get("seconds", {}), summary.get("rows", {})
        save(results, workdir)
        print(f"[scale {users:,}] {name}: {measure.wall_s:.0f} s", file=sys.stderr, flush=True)
        return summary

    try:
        dag.run_tasks(tasks, run_task, overrides)
    finally:
        save(results, workdir)
        redis_server.stop()


def save(results: dict[str, Any], workdir: Path) -> None:
    payload = {**results, "tasks": [asdict(t) if isinstance(t, TaskMeasure) else t for t in results["tasks"]]}
    (workdir / RESULTS).write_text(json.dumps(payload, indent=1))


# ---- the table


def growth_exponent(sizes: list[float], seconds: list[float]) -> float | None:
    """Least-squares slope of log(seconds) on log(size); None under two usable points."""
    points = [(math.log(s), math.log(t)) for s, t in zip(sizes, seconds) if s > 0 and t > 0]
    if len(points) < 2:
        return None
    mx = sum(x for x, _ in points) / len(points)
    my = sum(y for _, y in points) / len(points)
    sxx = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else None


def exponent_cell(b: float | None) -> str:
    return f"{b:>7.2f}" if b is not None else f"{'-':>7}"  # one size fits no exponent


def load_results(root: Path) -> list[dict[str, Any]]:
    found = [json.loads(p.read_text()) for p in root.glob(f"*/{RESULTS}")]
    return sorted(found, key=lambda r: r["users"])


def events_of(result: dict[str, Any]) -> int:
    generate = next((t for t in result["tasks"] if t["task"] == "generate"), {})
    return int(generate.get("rows", {}).get("bronze.events", result["users"] * EVENTS_PER_USER))


def print_table(results: list[dict[str, Any]], min_seconds: float = 5.0) -> None:
    if not results:
        sys.exit("no measured sizes")
    sizes = [events_of(r) for r in results]
    print(
        "sizes: "
        + "; ".join(f"{r['users']:,} users, {events_of(r):,} events (driver {r['driver_memory']})" for r in results)
    )
    for overrides in sorted({" ".join(r.get("overrides", [])) for r in results}):
        users = ", ".join(f"{r['users']:,}" for r in results if " ".join(r.get("overrides", [])) == overrides)
        print(f"  configuration at {users} users: {overrides or 'the embedded defaults'}")
    tasks = list(dict.fromkeys(t["task"] for r in results for t in r["tasks"]))
    by_task = [{t["task"]: t for t in r["tasks"]} for r in results]
    header = f"{'task':<13}" + "".join(f"{r['users']:>11,}u" for r in results) + f"{'b':>7}   at the largest size"
    print("\nwall seconds per task, growth exponent b, and at the largest size: CPU s (driver Python / JVM / "
          "Python workers), peak MB (same), Spark jobs, Delta commits, rows collected to the driver")  # fmt: skip
    print(header)
    for task in tasks:
        walls = [by_task[i].get(task, {}).get("wall_s") for i in range(len(results))]
        measured_walls = [(s, w) for s, w in zip(sizes, walls) if w is not None]
        b = growth_exponent([s for s, _ in measured_walls], [w for _, w in measured_walls])
        last = next(by_task[i][task] for i in reversed(range(len(results))) if task in by_task[i])
        cpu = " / ".join(f"{last['cpu_s'].get(g, 0):.0f}" for g in ("driver_python", "jvm", "python_workers"))
        mem = " / ".join(f"{last['peak_mb'].get(g, 0):,.0f}" for g in ("driver_python", "jvm", "python_workers"))
        cells = "".join(f"{w:>12.0f}" if w is not None else f"{'-':>12}" for w in walls)
        status = "" if last["status"] == "ok" else f"  {last['status']}: {last['detail'][:60]}"
        print(
            f"{task:<13}{cells}{exponent_cell(b)}   cpu {cpu}; peak {mem} MB; "
            f"{last['spark_jobs']} jobs, {last['delta_commits']} commits, "
            f"{last['collected_rows']:,} rows / {last['collected_mb']:,.0f} MB collected{status}"
        )
    common = [task for task in tasks if all(task in bt for bt in by_task)]  # a size may have stopped early
    totals = [sum(bt[task]["wall_s"] for task in common) for bt in by_task]
    label = "all tasks" if len(common) == len(tasks) else "common tasks"
    print(f"{label:<13}" + "".join(f"{t:>12.0f}" for t in totals) + exponent_cell(growth_exponent(sizes, totals)))
    if label != "all tasks":
        print(f"  (the sum of the tasks every size measured: {', '.join(common)})")
    print(f"\nstages over {min_seconds:.0f} s at the largest size (seconds per size, growth exponent):")
    for task in tasks:
        stage_names = list(dict.fromkeys(s for bt in by_task for s in bt.get(task, {}).get("stages", {})))
        for stage in stage_names:
            seconds = [bt.get(task, {}).get("stages", {}).get(stage) for bt in by_task]
            if (seconds[-1] or 0) < min_seconds:
                continue
            pairs = [(s, t) for s, t in zip(sizes, seconds) if t is not None]
            b = growth_exponent([s for s, _ in pairs], [t for _, t in pairs])
            cells = "".join(f"{t:>12.1f}" if t is not None else f"{'-':>12}" for t in seconds)
            jobs = by_task[-1].get(task, {}).get("stage_jobs", {}).get(stage, "-")
            print(f"  {task + '/' + stage:<44}{cells}{exponent_cell(b)}  {jobs} Spark jobs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, nargs="*", default=[], help="sizes to run (each in its own process)")
    parser.add_argument("--root", type=Path, required=True, help="one folder per size under it")
    parser.add_argument("--driver-memory", default="12g", help="the local JVM's heap (driver and executors)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.FIELD=VALUE",
        help="a configuration override for every task, as `recpipe run --set` (repeatable)",
    )
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # the child process of one size
    args = parser.parse_args()
    root = args.root.resolve()
    if args.one:
        run_size(args.one, root, args.driver_memory, args.set)
        return
    for users in args.users:
        if (root / str(users) / ".recpipe").exists():
            sys.exit(f"{root / str(users)} has a run already: choose another --root or remove it")
        command = [sys.executable, __file__, "--one", str(users), "--root", str(root)]
        overrides = [f"--set={o}" for o in args.set]
        done = subprocess.run([*command, "--driver-memory", args.driver_memory, *overrides], check=False)
        if done.returncode != 0:
            print(f"[scale {users:,}] the run stopped with exit code {done.returncode}", file=sys.stderr)
    print_table(load_results(root))


if __name__ == "__main__":
    main()
