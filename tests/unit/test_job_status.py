"""A job's status as the service reports it: the engine's own words, and the runner's only for a run that
died before the engine could write why.

The runner here is the one stand-in: it answers "failed" for the run, as a local runner or MWAA does once
the run's process is gone. Storage is a real LocalBlobStore, written by the engine's own `pipeline.fail`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from edna_engine import pipeline
from edna_engine.params import JobParams

from service.adapters.blobstore.local import LocalBlobStore
from service.domain.jobs import Job, JobService
from service.vocabulary import layout
from service.vocabulary.ids import new_id

TENANT = "acme"
ENGINE_ERROR = "ExternalData: tensor 'secret' stores its data outside the model file"


class EndedRun:
    """A runner whose run has ended in failure; `when_asked` runs first: what the run did last."""

    name = "ended"

    def __init__(self) -> None:
        self.when_asked: Callable[[], None] = lambda: None

    def run_state(self, run_id: str) -> str:
        self.when_asked()
        return "failed"


@pytest.fixture
def blobs(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


def a_job(blobs: LocalBlobStore, runner: EndedRun) -> tuple[JobService, Job]:
    job_id = new_id()
    params = JobParams(
        job_id=job_id,
        items_prefix=layout.items_prefix(TENANT, new_id()),
        model_key=layout.model_file(TENANT, new_id()),
        output_prefix=layout.job_prefix(TENANT, job_id),
    ).to_dict()
    job = Job(job_id, "d", "m", "model", params, runner.name, "run-1", "ed", "2026-12-06T00:00:00.000Z")
    return JobService(blobs, runner, datasets=None, models=None, allowed=lambda tenant: 1), job


def test_the_engines_error_wins_when_it_lands_between_the_two_reads(blobs):
    """The run writes why it failed and exits after the service read its status, before it asked the
    runner: the answer is still the engine's error, not the runner's bare 'the run failed'."""
    runner = EndedRun()
    jobs, job = a_job(blobs, runner)
    runner.when_asked = lambda: pipeline.fail(jobs.storage, JobParams.from_dict(job.params), ENGINE_ERROR)

    status = jobs.status(job)

    assert status["status"] == "failed"
    assert status["error"] == ENGINE_ERROR


def test_a_run_that_died_without_a_word_is_failed_by_the_runner(blobs):
    jobs, job = a_job(blobs, EndedRun())

    status = jobs.status(job)

    assert (status["status"], status["error"]) == ("failed", "the run failed")
