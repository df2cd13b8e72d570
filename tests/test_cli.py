import subprocess
import sys

import pytest

from recpipe.cli import main
from recpipe.commands import JOBS, build_parser, load_job


def test_every_job_has_a_subcommand_with_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for name, entry in JOBS.items():
        assert name in out and entry.help.split(":")[0][:30] in out.replace("\n", " ")


def test_help_lists_the_jobs_without_importing_them():
    """`recpipe --help` must not pay for the jobs' imports (Great Expectations and MLflow take seconds)."""
    probe = (
        "import sys; from recpipe.cli import execute\ntry: execute(['--help'])\nexcept SystemExit: pass\n"
        "print(sorted(m for m in ('great_expectations', 'mlflow', 'implicit', 'recpipe.jobs.train', 'recpipe.jobs.gate') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip().endswith("[]"), result.stdout[-500:] + result.stderr[-2000:]


def test_console_script_runs_help():
    result = subprocess.run([sys.executable, "-m", "recpipe.cli", "generate", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "--users" in result.stdout and "--seed" in result.stdout


def test_config_error_is_one_clear_line(tmp_path, capsys):
    conf = tmp_path / "generate.yml"
    conf.write_text("users: 10\ncolour: red\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["generate", "--conf", str(conf)])
    assert exit_info.value.code == 2  # raised, not returned: a runner calling the entry point sees the failure
    err = capsys.readouterr().err
    assert err.startswith("recpipe generate: error:") and "field 'generate.colour'" in err and str(conf) in err
    assert "Traceback" not in err


def test_an_unexpected_error_exits_1_with_its_traceback(monkeypatch, capsys):
    def broken(args):
        return {}["missing"]  # a bug, not a user error: a KeyError must not pass for one

    monkeypatch.setattr(load_job("report"), "run", broken)
    with pytest.raises(SystemExit) as exit_info:
        main(["report"])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    # the traceback first, so the output still ends in one line naming the failure
    assert err.strip().splitlines()[-1].startswith("recpipe report: failed: KeyError") and "Traceback" in err


def test_run_refuses_a_bad_override_before_starting_anything(monkeypatch, tmp_path, capsys):
    """One configuration per run, validated first: a typo in a section fails before Redis or Spark start."""
    from recpipe.cli import execute

    monkeypatch.setenv("RECPIPE_DATA_DIR", str(tmp_path))
    assert execute(["run", "--set", "trian.als.factors=8"]) == 2
    assert "expected SECTION.FIELD=VALUE" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # no local redis-server, no tables
