"""Edna's batch-inference job as an Airflow DAG: thin tasks over the engine in plugins/edna_engine."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from airflow.configuration import conf
from airflow.exceptions import AirflowFailException
from airflow.sdk import Param, dag, get_current_context, task

log = logging.getLogger(__name__)

# MWAA sets these through AirflowConfigurationOptions (edna.data_bucket, ...); tests through AIRFLOW__EDNA__*.
RETRY_DELAY = timedelta(seconds=conf.getint("edna", "retry_delay_seconds", fallback=60))
PROGRESS_LOG_SECONDS = 30


def _storage():
    """The data bucket as the engine's Storage; the endpoint and credentials come from boto3's environment."""
    from edna_engine.storage import S3Storage

    return S3Storage(conf.get("edna", "data_bucket"))


def _params(context):
    """The job's validated parameters from a task's or a callback's context; None when it carries none."""
    from edna_engine.params import JobParams

    raw = context.get("params") or getattr(context.get("dag_run"), "conf", None)
    try:
        return JobParams.from_dict(dict(raw or {}))
    except ValueError:
        return None


def _job():
    """Storage and parameters of the running task's job."""
    from edna_engine.params import JobParams

    try:
        params = JobParams.from_dict(dict(get_current_context()["params"]))
    except ValueError as e:
        raise AirflowFailException(str(e)) from e  # no retry fixes parameters
    return _storage(), params


def _fail_fast(storage, params, error: ValueError):
    """A job that cannot succeed (bad model.json, wrong sharding...): record why, and skip the retries."""
    from edna_engine import pipeline

    pipeline.fail(storage, params, error)  # users see the reason; the task log keeps the full message
    return AirflowFailException(str(error))


def _record_failure(context, error: str) -> None:
    """Mark the job failed, unless it already is (the first, most precise reason stays) or was cancelled."""
    from edna_engine import pipeline

    params = _params(context)
    if params is None:
        log.warning("edna_inference run %s failed without job parameters to report to", context.get("run_id"))
        return
    storage = _storage()
    if pipeline.read_status(storage, params.output_prefix)["status"] not in ("failed", "cancelled"):
        pipeline.fail(storage, params, error)


def _task_failed(context) -> None:
    """Task failure callback (after the last retry): the job's status gets the task's error."""
    ti = context.get("ti") or context.get("task_instance")
    where = f"task {getattr(ti, 'task_id', '?')}"
    if getattr(ti, "map_index", -1) >= 0:
        where += f" (shard {ti.map_index})"
    from edna_engine.errors import public_error

    error = context.get("exception")  # real workers pass it; dag.test() does not
    _record_failure(context, f"{where} failed: {public_error(error)}" if error else f"{where} failed")


def _run_failed(context) -> None:
    """DAG failure callback: mark the job failed if no task has said why yet."""
    reason = context.get("reason") or "task_failure"
    _record_failure(context, f"the inference run failed ({reason}); the Airflow task logs say why")


@dag(
    dag_id="edna_inference",
    schedule=None,
    catchup=False,
    tags=["edna"],
    params={
        "job_id": Param(type="string", minLength=1, description="The job's id (the service's record)."),
        "items_prefix": Param(type="string", pattern="^.+/$", description="Key prefix of the dataset's items."),
        "model_key": Param(type="string", pattern="^.*[^/]$", description="Key of the ONNX model; model.json beside."),
        "output_prefix": Param(type="string", pattern="^.+/$", description="Where the engine writes the job's files."),
        "batch_size": Param(64, type="integer", minimum=1, maximum=4096, description="Items per mini-batch."),
        "max_memory_mb": Param(256, type="integer", minimum=16, maximum=4096, description="Cap on batch x item."),
        "shards": Param(1, type="integer", minimum=1, maximum=64, description="Parallel infer tasks."),
        "model_sha256": Param(
            "", type="string", pattern="^([0-9a-f]{64})?$", description="sha256 of the model file the service checked."
        ),
    },
    default_args={
        "retries": 2,
        "retry_delay": RETRY_DELAY,
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=30),
        "on_failure_callback": _task_failed,
    },
    on_failure_callback=_run_failed,
)
def edna_inference():
    """
    ### Edna batch inference

    Runs one model over one dataset, streamed: `plan` counts the items and splits them into
    shards, `infer` runs once per shard (dynamic task mapping) and writes one prediction part per
    mini-batch, `evaluate` merges the shards' metrics, `finalize` marks the job succeeded.

    The service triggers it with explicit keys (`items_prefix`, `model_key`, `output_prefix`) and
    reads everything back from the data bucket (`[edna] data_bucket`); tasks pass only shard numbers.
    A retried shard resumes after the parts it already wrote. A failed run marks the job failed.
    """

    @task
    def plan() -> list[int]:
        """
        #### Plan
        Streams the item listing once, counts the items of each shard (crc32 of the key), writes
        `plan.json` and marks the job running. Returns the shard numbers to map `infer` over.
        """
        from edna_engine import pipeline

        storage, params = _job()
        try:
            return pipeline.plan(storage, params)
        except ValueError as e:
            raise _fail_fast(storage, params, e) from e

    @task(retries=4)
    def infer(shard: int) -> None:
        """
        #### Infer one shard
        Streams the shard's items (bounded prefetch), infers mini-batches with one onnxruntime
        session and writes `parts/{shard}-{batch}.jsonl`. A retry resumes after the parts already
        written; out of memory halves the batch; a cancelled job stops between batches.
        """
        from edna_engine import pipeline

        storage, params = _job()
        last = [time.monotonic()]

        def progress(done: int) -> None:
            if time.monotonic() - last[0] >= PROGRESS_LOG_SECONDS:
                last[0] = time.monotonic()
                log.info("shard %d: %d items done", shard, done)

        try:
            result = pipeline.infer_shard(storage, params, shard, on_progress=progress)
        except ValueError as e:
            raise _fail_fast(storage, params, e) from e
        log.info("shard %d: %s", shard, {k: v for k, v in result.items() if k != "confusion"})

    @task
    def evaluate() -> None:
        """
        #### Evaluate
        Merges the shards' confusion matrices and timings into `metrics.json`: accuracy, macro-F1,
        per-class precision/recall/F1, confusion matrix, items per second (for an embedding-only model:
        items, errors, timings and the embeddings' width).
        """
        from edna_engine import pipeline

        storage, params = _job()
        metrics = pipeline.evaluate(storage, params)
        # An embedding-only model has no accuracy: .get() logs None for it.
        log.info(
            "accuracy %s, macro-F1 %s over %d items", metrics.get("accuracy"), metrics.get("macro_f1"), metrics["items"]
        )

    @task
    def finalize() -> None:
        """
        #### Finalize
        Writes `status.json`: succeeded (or cancelled, if the job was cancelled) with metrics and progress.
        """
        from edna_engine import pipeline

        storage, params = _job()
        log.info("job %s: %s", params.job_id, pipeline.finalize(storage, params)["status"])

    # The docstring becomes doc_md for plain tasks only; a mapped task needs it passed explicitly.
    shards = infer.override(doc_md=infer.function.__doc__).expand(shard=plan())
    shards >> evaluate() >> finalize()


edna_inference()
