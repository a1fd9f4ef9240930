"""Cold start of the Lambda zip: a new interpreter imports Zappa's handler and answers its first request.

As a new python3.11 container does: `python -I -S` with only the unzipped zip, a boto3 installed
apart (what the runtime provides) and the standard library on its path, configured for AWS by
`EDNA_*` variables (nothing is contacted to answer GET /api/health). Two configurations: the one
tests/package runs (embedded search, local jobs) and the deployed one (OpenSearch, MWAA). Then the
same without the zip's bytecode, to show what shipping it saves. The baseline, measured in the same
run, is `python -I -c pass`: the interpreter's own start. Each figure is the best of --runs.

With `--json`, stdout is one JSON object: per case, total/import/first-call ms (best of --runs).

    .venv/bin/python benchmarks/lambda_cold_start.py [--runs 5] [--json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load(name: str):
    # By path: the repository's packaging/ folder must not shadow the `packaging` library on sys.path.
    spec = importlib.util.spec_from_file_location(f"edna_{name}", ROOT / "packaging" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = load("lambda_zip")
sandbox = load("lambda_sandbox")

HEALTH = {
    "version": "2.0",
    "routeKey": "$default",
    "rawPath": "/api/health",
    "rawQueryString": "",
    "headers": {"host": "abc123.execute-api.us-east-1.amazonaws.com", "x-forwarded-for": "203.0.113.7"},
    "requestContext": {"http": {"method": "GET", "path": "/api/health"}, "stage": "$default"},
    "isBase64Encoded": False,
}


def environment(data_dir: Path, deployed: bool) -> dict[str, str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "TMPDIR": str(data_dir),
        "AWS_REGION": "us-east-1",  # the runtime sets both
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "EDNA_DATA_DIR": str(data_dir),
        "EDNA_STORAGE": "s3",
        "EDNA_S3_BUCKET": "edna-bench",
        "EDNA_IDENTITY": "cognito",
        "EDNA_COGNITO_ISSUER": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_bench",
        "EDNA_COGNITO_CLIENT_ID": "bench",
        "EDNA_SEARCH": "sqlite",
        "EDNA_JOBS": "local",
    }
    if deployed:
        env |= {"EDNA_SEARCH": "opensearch", "EDNA_SEARCH_URL": "https://search.invalid", "EDNA_JOBS": "mwaa"}
        env |= {"EDNA_MWAA_ENVIRONMENT": "edna-bench"}
    return env


def best(runs: int, measure: Callable[[int], tuple[float, ...]]) -> tuple[float, ...]:
    return min(measure(n) for n in range(runs))


def cold_start(task: Path, runtime: Path, scratch: Path, deployed: bool) -> Callable[[int], tuple[float, ...]]:
    """(seconds from spawn to the first answer, of which importing handler, of which the first call)."""

    def measure(n: int) -> tuple[float, ...]:
        data_dir = scratch / f"{'deployed' if deployed else 'tested'}-{n}-{time.monotonic_ns()}"
        data_dir.mkdir()
        started = time.perf_counter()
        with sandbox.Invoker(task, runtime, environment(data_dir, deployed)) as invoker:
            reply = invoker.call("handler.lambda_handler", HEALTH)
            total = time.perf_counter() - started
        if reply["result"]["statusCode"] != 200:
            raise SystemExit(f"GET /api/health answered {reply['result']}:\n{invoker.log()}")
        return total, reply["import_s"], reply["call_s"]

    return measure


def cause(failure: str) -> str:
    """The last `module.Exception: message` line of a handler's traceback (its log lines follow it)."""
    found = re.findall(r"^[A-Za-z_][\w.]*: .+$", failure, flags=re.MULTILINE)
    return found[-1] if found else failure.strip().splitlines()[0]


def interpreter_start(_: int) -> tuple[float, ...]:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-I", "-c", "pass"], check=True)
    return (time.perf_counter() - started,)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object (ms), no lines")
    args = parser.parse_args()
    say = (lambda line: None) if args.json else print
    figures: dict[str, dict[str, float]] = {}

    built = subprocess.run([sys.executable, build.__file__], capture_output=True, text=True)  # incremental
    if built.returncode:
        raise SystemExit(f"the build failed:\n{built.stdout}{built.stderr}")
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        task = sandbox.unzip(build.ZIP, scratch / "task")
        runtime = sandbox.install_runtime_boto3(scratch / "runtime", build.pins(build.SERVICE_REQUIREMENTS)["boto3"])
        no_bytecode = scratch / "task-without-bytecode"
        shutil.copytree(task, no_bytecode, ignore=shutil.ignore_patterns("__pycache__"))

        (baseline,) = best(args.runs, interpreter_start)
        figures["baseline"] = {"total_ms": baseline * 1000}
        say(f"baseline  python -I -c pass: {baseline * 1000:7.0f} ms")
        cases = [
            ("as tested (sqlite, local jobs)", task, False),
            ("as deployed (opensearch, mwaa)", task, True),
            ("as deployed, without the zip's bytecode", no_bytecode, True),
        ]
        for label, task_dir, deployed in cases:
            try:
                total, imported, called = best(args.runs, cold_start(task_dir, runtime, scratch, deployed))
            except RuntimeError as exc:  # the handler raised: say why, and measure the other cases
                figures[label] = {"error": cause(str(exc))}
                say(f"{label:40} FAILED: {figures[label]['error']}")
                continue
            figures[label] = {"total_ms": total * 1000, "import_ms": imported * 1000, "first_call_ms": called * 1000}
            say(
                f"{label:40} {total * 1000:7.0f} ms to the first answer ({total / baseline:4.1f}x baseline): "
                f"import handler {imported * 1000:.0f} ms, first call (app import + request) {called * 1000:.0f} ms"
            )

    if args.json:
        print(json.dumps({"runs": args.runs, "cases": figures}))


if __name__ == "__main__":
    main()
