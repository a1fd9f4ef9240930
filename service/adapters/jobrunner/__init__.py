"""The JobRunner port: starts the inference pipeline for a job and answers for the run.

Job state lives in storage either way (the engine writes status, progress and results under the
job's prefix), so a runner only has to start, cancel and report on runs.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable

log = logging.getLogger("edna.jobs")


class JobRunner(ABC):
    name: str
    # Called with a run's params when it ends, by runners whose engine writes go unheard by storage
    # events (the local runner's job process); runners on S3 leave it to the events.
    finished: list[Callable[[dict], None]]

    def run_id_of(self, job_id: str) -> str:
        """The id `submit` gives the run of a job (one run per job)."""
        return job_id

    @abstractmethod
    def submit(self, params: dict) -> str:
        """Start the pipeline with the engine's parameters; returns the run's id (`run_id_of` its job)."""

    @abstractmethod
    def cancel(self, params: dict, run_id: str) -> None:
        """Stop the run (the engine also sees the cancel marker the service wrote)."""

    @abstractmethod
    def run_state(self, run_id: str) -> str | None:
        """queued, running, succeeded or failed as the runner sees it; None if it does not know."""

    @abstractmethod
    def close(self) -> None:
        """Release workers (the app is shutting down)."""

    @abstractmethod
    def follow(self) -> None:
        """Start reporting runs that end, where this runner has to watch them (the server calls it, commands not)."""

    def report_finished(self, params: dict) -> None:
        """Call the `finished` hooks for a run that ended."""
        for hook in self.finished:
            try:
                hook(params)
            except Exception:  # a hook's failure (an index outage) must not stop the next job
                log.exception("job %s: a finished-run hook failed", params.get("job_id"))
