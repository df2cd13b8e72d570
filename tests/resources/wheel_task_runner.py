"""Runs wheel tasks the way a Databricks job cluster does: one long-lived driver process calls the installed
package's entry point function with each task's parameters as sys.argv, and a task fails when it raises
SystemExit with a non-zero code (or any exception).

Usage: python wheel_task_runner.py TASKS_JSON  (a list of {"task_key", "package_name", "entry_point", "parameters"})
Prints one JSON line per task: {"task_key", "exit_code", "module_file"}.
"""

import importlib.metadata
import json
import sys
from pathlib import Path


def entry_point(package: str, name: str):
    distribution = importlib.metadata.distribution(package)
    return next(ep for ep in distribution.entry_points if ep.group == "console_scripts" and ep.name == name).load()


def main() -> None:
    for task in json.loads(Path(sys.argv[1]).read_text()):
        function = entry_point(task["package_name"], task["entry_point"])
        sys.argv = [task["entry_point"], *task["parameters"]]
        try:
            function()
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        except Exception:
            code = 1
        print(
            json.dumps(
                {
                    "task_key": task["task_key"],
                    "exit_code": code,
                    "module_file": sys.modules[function.__module__].__file__,
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
