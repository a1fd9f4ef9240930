"""The MWAA artifacts (`make mwaa-artifacts`): a deterministic plugins.zip, a constrained requirements file, and
Airflow loading the DAGs with nothing but plugins.zip on its path, as on an MWAA worker."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILDER = ROOT / "packaging" / "mwaa_artifacts.py"


def _load_builder():
    # By path: the repository's packaging/ folder must not shadow the `packaging` library on sys.path.
    spec = importlib.util.spec_from_file_location("edna_mwaa_artifacts", BUILDER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


builder = _load_builder()


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> Path:
    """The artifacts as `make mwaa-artifacts` builds them, into a temporary folder."""
    out = tmp_path_factory.mktemp("mwaa")
    subprocess.run([sys.executable, str(BUILDER), "--out", str(out)], check=True, capture_output=True, cwd=ROOT)
    return out


def test_plugins_zip_holds_the_engine_package_at_its_root(artifacts):
    with zipfile.ZipFile(artifacts / "plugins.zip") as zf:
        names = zf.namelist()
        infos = zf.infolist()
    engine = {p.relative_to(ROOT / "plugins").as_posix() for p in (ROOT / "plugins" / "edna_engine").glob("*.py")}
    assert "edna_engine/__init__.py" in names
    assert set(names) == {".airflowignore", *engine}  # the plugin manager skips the engine on MWAA as here
    assert names == sorted(names)
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {i.external_attr >> 16 for i in infos} == {0o100644}


def test_plugins_zip_is_byte_identical_for_an_unchanged_engine(artifacts, tmp_path):
    """Other timestamps, a stray __pycache__, another build folder: the same bytes, so Pulumi sees no change."""
    plugins = tmp_path / "plugins"
    shutil.copytree(ROOT / "plugins", plugins, ignore=shutil.ignore_patterns("__pycache__"))
    for path in plugins.rglob("*"):
        os.utime(path, (1_000_000_000, 1_000_000_000))
    (plugins / "edna_engine" / "__pycache__").mkdir()
    (plugins / "edna_engine" / "__pycache__" / "pipeline.cpython-311.pyc").write_bytes(b"stale")
    builder.write_plugins_zip(tmp_path / "again.zip", plugins)
    assert (tmp_path / "again.zip").read_bytes() == (artifacts / "plugins.zip").read_bytes()

    (plugins / "edna_engine" / "pipeline.py").write_text("# changed\n", encoding="utf-8")
    builder.write_plugins_zip(tmp_path / "changed.zip", plugins)
    assert (tmp_path / "changed.zip").read_bytes() != (artifacts / "plugins.zip").read_bytes()


def test_requirements_start_with_airflows_constraints_and_pin_only_what_they_leave_open(artifacts):
    lines = (artifacts / "requirements.txt").read_text().splitlines()
    airflow = re.search(r"^apache-airflow==(\S+)", (ROOT / "requirements-dev.txt").read_text(), re.M).group(1)
    assert lines[0] == (
        f'--constraint "https://raw.githubusercontent.com/apache/airflow/constraints-{airflow}/'
        f'constraints-{builder.MWAA_PYTHON}.txt"'
    )
    listed = [line for line in lines[1:] if line.strip() and not line.startswith("#")]
    assert listed
    pins = {}
    for line in listed:
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*==[A-Za-z0-9.+!_-]+", line), line
        name, version = line.split("==")
        pins[builder.normalize(name)] = version
    assert not set(pins) & builder.PINNED_BY_AIRFLOW_CONSTRAINTS  # a differing pin would fail MWAA's install
    engine = {builder.normalize(n): v for n, v in builder.engine_pins()}
    assert {n: v for n, v in engine.items() if n not in builder.PINNED_BY_AIRFLOW_CONSTRAINTS} == pins
    assert {"onnxruntime", "pillow"} <= set(pins)


def test_the_dags_folder_is_a_copy_of_dags(artifacts):
    built = sorted(p.name for p in (artifacts / "dags").iterdir())
    assert built == sorted(p.name for p in (ROOT / "dags").glob("*.py"))
    for name in built:
        assert (artifacts / "dags" / name).read_bytes() == (ROOT / "dags" / name).read_bytes()


# Run in a clean interpreter: what an MWAA worker has is Airflow, plugins.zip and the DAG files.
PROBE = r"""
import importlib.util, json, os, sys
from pathlib import Path

root, plugins_zip = Path(sys.argv[1]), os.path.realpath(sys.argv[2])
path = [os.path.realpath(p or ".") for p in sys.path]
seen = {
    "repo_on_path": [p for p in path if p in (str(root), str(root / "plugins"), str(root / "service"))],
    "service": importlib.util.find_spec("service") is not None,
    "edna_engine_before_airflow": getattr(importlib.util.find_spec("edna_engine"), "origin", None),
}
from airflow.models.dagbag import DagBag

bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"], include_examples=False)
dag = bag.dags.get("edna_inference")
import edna_engine.pipeline
import importlib, pkgutil

# Every engine module imports from the zip (zipimport: no module may expect a real directory).
found = pkgutil.walk_packages(edna_engine.__path__, "edna_engine.")
modules = {m.name: importlib.import_module(m.name).__file__ for m in found}
seen.update(
    modules=modules,
    import_errors={k: str(v) for k, v in bag.import_errors.items()},
    dags=sorted(bag.dags),
    tasks=sorted(t.task_id for t in dag.tasks) if dag else None,
    edna_engine=edna_engine.__file__,
    pipeline=edna_engine.pipeline.__file__,
    plugins_zip=plugins_zip,
    service_after=importlib.util.find_spec("service") is not None,
)
print("PROBE " + json.dumps(seen))
"""


@pytest.mark.slow
def test_airflow_loads_the_dags_with_only_plugins_zip_on_the_path(artifacts, tmp_path):
    home, dags, empty_plugins, work = (tmp_path / d for d in ("airflow", "dags", "plugins", "cwd"))
    for d in (home, empty_plugins, work):
        d.mkdir()
    shutil.copytree(artifacts / "dags", dags)
    env = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PYTHONPATH": str(artifacts / "plugins.zip"),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(empty_plugins),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "PYTHONWARNINGS": "ignore",
    }
    done = subprocess.run(
        [sys.executable, "-s", "-c", PROBE, str(ROOT), str(artifacts / "plugins.zip")],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.split("PROBE ", 1)[1])
    assert seen["repo_on_path"] == [] and seen["service"] is False and seen["service_after"] is False
    assert seen["edna_engine_before_airflow"].startswith(seen["plugins_zip"] + os.sep)
    assert seen["import_errors"] == {}
    assert seen["dags"] == ["edna_inference"]
    assert seen["tasks"] == ["evaluate", "finalize", "infer", "plan"]
    assert seen["edna_engine"].startswith(seen["plugins_zip"] + os.sep)
    assert seen["pipeline"] == os.path.join(seen["plugins_zip"], "edna_engine", "pipeline.py")
    engine = {f"edna_engine.{p.stem}" for p in (ROOT / "plugins" / "edna_engine").glob("*.py") if p.stem != "__init__"}
    assert set(seen["modules"]) == engine
    assert all(f.startswith(seen["plugins_zip"] + os.sep) for f in seen["modules"].values())
