"""RunMark: how far a runner has reported the runs that ended, kept in a file across restarts."""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

# The first mark sits this far back: Airflow's clock and this server's may differ, and a run
# reported twice costs only its re-reading (the finished hooks are idempotent).
CLOCK_MARGIN = timedelta(hours=1)


class RunMark:
    """The end time of the last run reported and the runs that ended at that very time (the next
    query includes it), so that a run is reported once and none is skipped."""

    def __init__(self, path: Path):
        self.path = path
        try:
            saved = json.loads(path.read_text())
            self.since, self.seen = datetime.fromisoformat(saved["since"]), set(saved["seen"])
        except (FileNotFoundError, ValueError, KeyError):  # none yet, or unreadable: start from now
            self.since, self.seen = datetime.now(UTC) - CLOCK_MARGIN, set()
            self._save()

    def reported(self, run_id: str) -> bool:
        return run_id in self.seen

    def advance(self, ended: str, run_id: str) -> None:
        """After reporting the run `run_id` that ended at `ended` (ISO 8601, as Airflow writes it)."""
        at = datetime.fromisoformat(ended)
        if at > self.since:
            self.since, self.seen = at, {run_id}
        else:
            self.seen.add(run_id)
        self._save()

    def _save(self) -> None:
        """Written whole, then renamed: a crash leaves the old mark or the new one."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".run-mark-")
        with os.fdopen(fd, "w") as out:
            json.dump({"since": self.since.isoformat(), "seen": sorted(self.seen)}, out)
        os.replace(tmp, self.path)
