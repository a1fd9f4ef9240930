"""The JobRunner port: starts the inference pipeline for a job and answers for the run.

Job state lives in storage either way (the engine writes status, progress and results under the
job's prefix), so a runner only has to start, cancel and report on runs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable


class JobRunner(ABC):
    name: str
    # Called with a run's params when it ends, by runners whose engine writes go unheard by storage
    # events (the local runner's job process); runners on S3 leave it to the events.
    finished: list[Callable[[dict], None]]

    @abstractmethod
    def submit(self, params: dict) -> str:
        """Start the pipeline with the engine's parameters; returns the run's id."""

    @abstractmethod
    def cancel(self, params: dict, run_id: str) -> None:
        """Stop the run (the engine also sees the cancel marker the service wrote)."""

    @abstractmethod
    def run_state(self, run_id: str) -> str | None:
        """queued, running, succeeded or failed as the runner sees it; None if it does not know."""

    def serve(self) -> None:  # noqa: B027 (a remote scheduler has its own workers)
        """Start running submitted runs in this process (the one process of a server that runs jobs)."""

    @abstractmethod
    def close(self) -> None:
        """Release workers (the app is shutting down)."""
