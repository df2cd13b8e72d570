"""The CI/CD workflows (.github/workflows, GitHub Actions): every command a step runs exists (recpipe subcommands
and their options, scripts, bundle targets and jobs), and the flow is the one the README describes: checks on pull
requests, staging on main, prod and the champion alias on a release tag after the staging run."""

import re
import shlex

import pytest
import yaml

from recpipe.commands import parse_args

from .conftest import REPO_ROOT
from .test_bundle import load_bundle

WORKFLOWS = sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml"))
ACTIONS = {"actions/checkout", "actions/setup-python", "databricks/setup-cli"}
BUNDLE_VERBS = {"validate", "deploy", "run"}


def load(name: str) -> dict:
    workflow = yaml.safe_load((REPO_ROOT / ".github" / "workflows" / name).read_text())
    workflow["on"] = workflow.pop(True, workflow.get("on"))  # YAML 1.1 reads the key `on` as true
    return workflow


def commands(script: str) -> list[list[str]]:
    """A step's shell script -> its command lines as words (expressions like ${{ github.ref_name }} stand as a word)."""
    script = re.sub(r"\$\{\{[^}]*\}\}", "EXPR", script).replace("\\\n", " ")
    found = []
    for line in script.splitlines():
        for part in re.split(r"&&|\|\||;", line.split(" #")[0]):
            if part.strip() and not part.strip().startswith("#"):
                found.append(shlex.split(part))
    return found


def every_step() -> list[tuple[str, str, dict]]:
    return [
        (path.name, job_name, step)
        for path in WORKFLOWS
        for job_name, job in load(path.name)["jobs"].items()
        for step in job.get("steps", [])
    ]


def problem(words: list[str], bundle: dict) -> str | None:
    """What is wrong with one command line, or None."""
    match words:
        case ["recpipe", *args]:
            try:
                parse_args(args)
            except SystemExit:
                return "recpipe rejects these arguments"
        case ["databricks", "bundle", verb, *args]:
            if verb not in BUNDLE_VERBS:
                return f"bundle verb {verb} is not one of {sorted(BUNDLE_VERBS)}"
            target = args[args.index("-t") + 1] if "-t" in args else None
            if target not in bundle["targets"]:
                return f"target {target} is not in databricks.yml"
            rest = [a for i, a in enumerate(args) if a != "-t" and (i == 0 or args[i - 1] != "-t")]
            if verb == "run" and (len(rest) != 1 or rest[0] not in bundle["resources"]["jobs"]):
                return f"job {rest} is not a job of the bundle"
        case ["bash", path, *_] | ["python", path, *_] if not path.startswith("-"):
            if not (REPO_ROOT / path).is_file():
                return f"{path} does not exist"
        case ["python", "-m", "pip", *_]:
            return None
        case _:
            return "not a command the workflows are known to call"
    return None


def test_there_are_workflows_for_pull_requests_main_and_releases():
    assert {p.name for p in WORKFLOWS} == {"ci.yml", "deploy-staging.yml", "release.yml"}
    assert "pull_request" in load("ci.yml")["on"]
    assert load("deploy-staging.yml")["on"]["push"]["branches"] == ["main"]
    assert load("release.yml")["on"]["push"]["tags"] == ["v*"]


@pytest.mark.parametrize(("workflow", "job", "step"), every_step(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_command_a_step_calls_exists(workflow, job, step):
    bundle = load_bundle()
    if "uses" in step:
        action, _, ref = step["uses"].partition("@")
        assert (action in ACTIONS and ref) or action == "./.github/workflows/ci.yml", step["uses"]
        return
    for words in commands(step["run"]):
        assert problem(words, bundle) is None, f"{workflow} / {job}: `{shlex.join(words)}`: {problem(words, bundle)}"


def test_the_checker_rejects_what_does_not_exist():
    bundle = load_bundle()
    assert problem(["recpipe", "promte"], bundle)
    assert problem(["recpipe", "promote", "--verison", "3"], bundle)
    assert problem(["databricks", "bundle", "deploy", "-t", "production"], bundle)
    assert problem(["databricks", "bundle", "run", "-t", "prod", "recpipe_pipline"], bundle)
    assert problem(["bash", "scripts/deploy.sh"], bundle)
    assert problem(["curl", "https://example.com"], bundle)
    assert problem(["databricks", "bundle", "run", "-t", "prod", "recpipe_pipeline"], bundle) is None


def test_pull_requests_run_exactly_the_ci_command_and_validate_the_bundle():
    jobs = load("ci.yml")["jobs"]
    runs = [words for step in jobs["suite"]["steps"] if "run" in step for words in commands(step["run"])]
    assert runs == [["bash", ".ci/run"]]
    bundle_runs = [w for step in jobs["bundle"]["steps"] if "run" in step for w in commands(step["run"])]
    assert ["databricks", "bundle", "validate", "-t", "staging"] in bundle_runs


def test_main_deploys_to_staging_and_runs_the_pipeline_after_the_checks():
    jobs = load("deploy-staging.yml")["jobs"]
    assert jobs["checks"]["uses"] == "./.github/workflows/ci.yml" and jobs["staging"]["needs"] == "checks"
    runs = [w for step in jobs["staging"]["steps"] if "run" in step for w in commands(step["run"])]
    deploy = runs.index(["databricks", "bundle", "deploy", "-t", "staging"])
    assert runs.index(["databricks", "bundle", "run", "-t", "staging", "recpipe_pipeline"]) > deploy


def test_a_release_promotes_in_prod_only_after_the_staging_run_passed():
    jobs = load("release.yml")["jobs"]
    staging = [w for step in jobs["staging_run"]["steps"] if "run" in step for w in commands(step["run"])]
    assert ["databricks", "bundle", "run", "-t", "staging", "recpipe_pipeline"] in staging
    assert jobs["prod"]["needs"] == "staging_run" and jobs["prod"]["environment"] == "prod"
    prod = [w for step in jobs["prod"]["steps"] if "run" in step for w in commands(step["run"])]
    deploy = prod.index(["databricks", "bundle", "deploy", "-t", "prod"])
    promote = next(i for i, w in enumerate(prod) if w[:2] == ["recpipe", "promote"])
    assert promote > deploy
    # the prod registry: the catalog the prod target deploys to
    where = load_bundle()["targets"]["prod"]["variables"]
    assert jobs["prod"]["env"]["RECPIPE_CATALOG"] == where["catalog"]
    assert jobs["prod"]["env"]["RECPIPE_MLFLOW_EXPERIMENT"] == where["mlflow_experiment"]
