"""Jobs on a team's own Airflow (EDNA_JOBS=airflow) against the local runner, same job, same run.

One moto S3 bucket holds N labelled digits twice (one dataset per runner) and the demo's logistic
regression. One Edna runs its jobs on the local runner (worker processes of the service), another on
a real Airflow 3 API server and scheduler (tests/airflow_server.py: LocalExecutor, SQLite) over the
same bucket. Each repetition starts one job on each, one after the other, and times, through Edna's
API, from `POST /api/jobs` to `succeeded` and to the predictions attached to the items. Medians, and
the ratio Airflow / local: what scheduling a DAG run adds to a job.

    .venv/bin/python benchmarks/airflow_jobs.py [--items 1797] [--repeat 3] [--shards 1]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "plugins"), str(ROOT / "tests"), str(ROOT / "tests" / "api")]

from airflow_server import PASSWORD, USER, free_port, running_airflow  # noqa: E402
from conftest import running_stack, s3_client  # noqa: E402  (it also sets moto's fake AWS credentials)
from digits import digits, fill_digits, models, register  # noqa: E402

from service.demo import CLASSES  # noqa: E402

DEADLINE = 600  # seconds one job may take before the benchmark gives up (a bound, not a measurement)


def wait(client, path: str, done) -> float:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        body = client.call("GET", path)
        if done(body):
            return time.monotonic()
        time.sleep(0.1)
    raise SystemExit(f"{path} not done after {DEADLINE} s")


def one_job(stack, dataset_id: str, model_id: str, shards: int) -> tuple[float, float]:
    """(seconds to succeeded, seconds to predictions attached) of one job, from its POST."""
    editor = stack.client("editor")
    started = time.monotonic()
    job = editor.call("POST", "/api/jobs", json={"dataset_id": dataset_id, "model_id": model_id, "shards": shards})
    ended = wait(editor, f"/api/jobs/{job['id']}", lambda j: j["status"] in ("succeeded", "failed"))
    status = editor.call("GET", f"/api/jobs/{job['id']}")["status"]
    if status != "succeeded":
        raise SystemExit(f"job {job['id']} on {stack.config.jobs}: {status}")
    attached = wait(
        editor,
        f"/api/datasets/{dataset_id}",
        lambda d: any(p["job_id"] == job["id"] for p in d["predictions"]),
    )
    return ended - started, attached - started


def world(stack, name: str, items: int) -> tuple[str, str]:
    """A dataset and a model of this runner's own (one bucket, one tenant: the names differ)."""
    editor = stack.client("editor")
    dataset_id = editor.call("POST", "/api/datasets", json={"name": name, "label_classes": CLASSES})["id"]
    fill_digits(stack, dataset_id, items)
    return dataset_id, register(editor, f"lr-{name}", models()["digits-logistic-regression"])["id"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=len(digits()), help="digits per dataset (at most 1797)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--shards", type=int, default=1)
    args = parser.parse_args()

    from moto.server import ThreadedMotoServer

    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    endpoint, bucket = f"http://127.0.0.1:{port}", f"edna-bench-{uuid.uuid4().hex[:8]}"
    s3_client(endpoint).create_bucket(Bucket=bucket)
    dag_env = {"AIRFLOW__EDNA__DATA_BUCKET": bucket, "AWS_ENDPOINT_URL_S3": endpoint}
    times: dict[str, list[tuple[float, float]]] = {"local": [], "airflow": []}
    with tempfile.TemporaryDirectory(prefix="edna-airflow-bench-") as tmp, contextlib.ExitStack() as context:
        started = time.monotonic()
        airflow = context.enter_context(running_airflow(Path(tmp) / "airflow", dag_env))
        print(f"Airflow ready in {time.monotonic() - started:.1f} s", file=sys.stderr)
        common = {"s3_bucket": bucket, "metering": False}  # metering's log lines would bury the figures
        on_airflow = {"airflow_url": airflow.url, "airflow_username": USER, "airflow_password": PASSWORD}
        on_airflow |= {"jobs": "airflow", "airflow_poll_seconds": 1.0}
        stacks = {
            "local": context.enter_context(running_stack("s3", Path(tmp) / "local", endpoint, **common)),
            "airflow": context.enter_context(running_stack("s3", Path(tmp) / "edna", endpoint, **common, **on_airflow)),
        }
        worlds = {name: world(stack, name, args.items) for name, stack in stacks.items()}
        for n in range(args.repeat):
            for name, stack in stacks.items():
                times[name].append(one_job(stack, *worlds[name], args.shards))
                print(f"  {n + 1}/{args.repeat} {name}: {times[name][-1][0]:.1f} s", file=sys.stderr)
    moto.stop()

    def median(name: str, which: int) -> float:
        return statistics.median(t[which] for t in times[name])

    print(f"{args.items} digits, {args.shards} shard(s), median of {args.repeat} jobs per runner")
    print(f"{'':34} {'local':>9} {'airflow':>9} {'airflow/local':>14}")
    for label, which in (("POST -> succeeded (s)", 0), ("POST -> predictions attached (s)", 1)):
        local, remote = median("local", which), median("airflow", which)
        print(f"{label:34} {local:9.2f} {remote:9.2f} {remote / local:13.2f}x")
    print(f"Airflow processes' peak memory (PSS): {airflow.peak_pss_mb:.0f} MB")


if __name__ == "__main__":
    main()
