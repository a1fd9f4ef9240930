"""`Edna`: the typed Python API over a signed-in session (what the CLI commands call too)."""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

from edna_client import transfer
from edna_client.pull import PullReport, listed_items, pull
from edna_client.push import PushReport, push
from edna_client.records import Comparison, Dataset, Item, Job
from edna_client.session import ApiError, Credentials, EdnaError, Session, error_body

POLL_SECONDS = 0.5


class Edna:
    """A client of one Edna deployment. Datasets and models are named by id or by name."""

    def __init__(
        self,
        url: str,
        username: str = "",
        password: str = "",
        client_id: str = "",
        client_secret: str = "",
        token_url: str = "",
        token: str = "",
    ):
        credentials = Credentials(username, password, client_id, client_secret, token_url)
        self.session = Session(url, credentials, token)

    @classmethod
    def from_env(cls, **overrides: str) -> Edna:
        """EDNA_URL and EDNA_USERNAME + EDNA_PASSWORD or EDNA_CLIENT_ID + EDNA_CLIENT_SECRET (+ EDNA_TOKEN_URL);
        keyword arguments that are not empty win."""
        env = Credentials.from_env()
        values = {
            "url": os.environ.get("EDNA_URL", ""),
            "username": env.username,
            "password": env.password,
            "client_id": env.client_id,
            "client_secret": env.client_secret,
            "token_url": env.token_url,
        }
        values.update({k: v for k, v in overrides.items() if v})
        return cls(**values)

    # Datasets and items

    def datasets(self) -> list[Dataset]:
        return [Dataset.of(body) for body in self.session.pages("/api/datasets")]

    def dataset(self, name_or_id: str, create: bool = False) -> Dataset:
        """The dataset with this id, else with this name (made when missing and `create`)."""
        every = self.datasets()
        found = [d for d in every if d.id == name_or_id] or [d for d in every if d.name == name_or_id]
        if len(found) > 1:
            raise EdnaError(f"{len(found)} datasets are named {name_or_id!r}: name one by its id")
        if found:
            return found[0]
        if not create:
            raise EdnaError(f"no dataset {name_or_id!r}")
        return Dataset.of(self.session.call("POST", "/api/datasets", json={"name": name_or_id}))

    def items(self, dataset: str | Dataset, snapshot: str = "", **filters: str) -> Iterator[Item]:
        """The dataset's items (available ones unless `status=` says otherwise), or a snapshot's."""
        dataset_id = self._dataset_id(dataset)
        if snapshot:
            yield from listed_items(self.session, dataset_id, snapshot)
            return
        params = {"status": "available", **filters}
        for body in self.session.pages(transfer.item_path(dataset_id), **params):
            yield Item.of(body)

    def read(self, dataset: str | Dataset, item: Item, snapshot: str = "") -> bytes:
        """One item's bytes, verified by size and sha256."""
        return transfer.fetch(self.session, self._dataset_id(dataset), item, snapshot)

    def iter_samples(
        self, dataset: str | Dataset, snapshot: str | None = None, prefetch: int = 8
    ) -> Iterator[tuple[Item, bytes, str | None]]:
        """(item, bytes, label) in listing order, `prefetch` downloads ahead: a training loop streams from it."""
        dataset_id = self._dataset_id(dataset)
        with ThreadPoolExecutor(prefetch) as pool:
            ahead: deque = deque()
            for item in self.items(dataset_id, snapshot or ""):
                ahead.append((item, pool.submit(transfer.fetch, self.session, dataset_id, item, snapshot or "")))
                if len(ahead) >= prefetch:
                    done, data = ahead.popleft()
                    yield done, data.result(), done.label
            while ahead:
                done, data = ahead.popleft()
                yield done, data.result(), done.label

    def push(self, folder: Path, dataset: str | Dataset, workers: int = 8, **kwargs) -> PushReport:
        """Upload a folder (made a dataset when the name is new); see `edna_client.push`."""
        target = dataset if isinstance(dataset, Dataset) else self.dataset(dataset, create=True)
        return push(self.session, target.id, Path(folder), workers, **kwargs)

    def pull(self, dataset: str | Dataset, folder: Path, snapshot: str = "", workers: int = 8, **kwargs) -> PullReport:
        return pull(self.session, self._dataset_id(dataset), Path(folder), snapshot, workers, **kwargs)

    def export(self, dataset: str | Dataset, fmt: str, out: BinaryIO) -> int:
        """Stream the dataset's manifest (`csv`, `jsonl` or `coco`) into `out`; the bytes written."""
        path = f"/api/datasets/{self._dataset_id(dataset)}/export"
        with self.session.request("GET", path, params={"format": fmt}, stream=True) as resp:
            if resp.status_code != 200:
                raise ApiError(resp.status_code, error_body(resp), "export")
            written = 0
            for chunk in resp.iter_content(transfer.CHUNK):
                out.write(chunk)
                written += len(chunk)
        return written

    # Jobs and comparisons

    def model_id(self, name_or_id: str) -> str:
        models = list(self.session.pages("/api/models"))
        found = [m for m in models if m["id"] == name_or_id] or [m for m in models if m["name"] == name_or_id]
        if len(found) != 1:
            raise EdnaError(f"no model {name_or_id!r}" if not found else f"several models are named {name_or_id!r}")
        return found[0]["id"]

    def start_job(self, dataset: str | Dataset, model: str) -> Job:
        body = {"dataset_id": self._dataset_id(dataset), "model_id": self.model_id(model)}
        return Job.of(self.session.call("POST", "/api/jobs", json=body))

    def job(self, job_id: str) -> Job:
        return Job.of(self.session.call("GET", f"/api/jobs/{job_id}"))

    def start_comparison(self, dataset: str | Dataset, models: list[str]) -> Comparison:
        body = {"dataset_id": self._dataset_id(dataset), "model_ids": [self.model_id(m) for m in models]}
        return Comparison.of(self.session.call("POST", "/api/comparisons", json=body))

    def comparison(self, comparison_id: str) -> Comparison:
        return Comparison.of(self.session.call("GET", f"/api/comparisons/{comparison_id}"))

    def wait(self, read: Callable[[], Job | Comparison], on_poll: Callable[[Job | Comparison], None] | None = None):
        """Poll `read()` until it is finished (succeeded, failed or cancelled); the last state."""
        while True:
            state = read()
            if on_poll:
                on_poll(state)
            if state.finished:
                return state
            time.sleep(POLL_SECONDS)

    def _dataset_id(self, dataset: str | Dataset) -> str:
        return dataset.id if isinstance(dataset, Dataset) else self.dataset(dataset).id
