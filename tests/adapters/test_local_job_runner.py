"""LocalJobRunner: job processes get the store's address, an empty private directory, and (with
Landlock) no view of the data dir."""

from __future__ import annotations

import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

import pytest

from service.adapters.jobrunner import local
from service.adapters.jobrunner.engine_storage import BlobStoreStorage, StoreAddress
from tests.engine.digits import ITEMS, MODEL, OUT, digit_items, digits_model, job, seed

REFUSED, READ_IT, NO_LANDLOCK = 0, 3, 5


def _confined(store: StoreAddress, workdir: str, secret: str) -> None:
    """In a spawned process confined as a job is, try what a hostile model would."""
    os.chdir(workdir)
    if not local._confine(store, workdir):
        os._exit(NO_LANDLOCK)
    store.open().put_bytes("probe/written", b"ok", "text/plain")  # the blob store stays usable
    try:
        Path(secret).read_bytes()
    except PermissionError:
        os._exit(REFUSED)
    os._exit(READ_IT)


def test_a_job_process_cannot_read_the_data_dir(tmp_path):
    if sys.platform != "linux":
        pytest.skip("Landlock is Linux's")
    data_dir = tmp_path / "data"
    (data_dir / "keys").mkdir(parents=True)
    secret = data_dir / "keys" / "issuer.pem"
    secret.write_text("-----BEGIN PRIVATE KEY-----\n")
    workdir = tmp_path / "work"
    workdir.mkdir()
    address = StoreAddress("local", root=str(data_dir / "blobs"))
    address.open()  # the server made it long before any job
    process = multiprocessing.get_context("spawn").Process(target=_confined, args=(address, str(workdir), str(secret)))
    process.start()
    process.join(60)
    if process.exitcode == NO_LANDLOCK:
        pytest.skip("this kernel has no Landlock")
    assert process.exitcode == REFUSED
    assert address.open().get_bytes("probe/written") == b"ok"


def test_a_job_runs_in_its_own_process_and_directory(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the runner makes the job's directory
    address = StoreAddress("local", root=str(tmp_path / "blobs"))
    storage = BlobStoreStorage(address.open())
    seed(storage, digit_items(4, ITEMS), digits_model("logistic"), MODEL)
    runner = local.LocalJobRunner(address, tmp_path / "jobs.db")
    try:
        run_id = runner.submit(job().to_dict())
        deadline = time.monotonic() + 120
        while runner.run_state(run_id) in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert runner.run_state(run_id) == "succeeded"
    finally:
        runner.close()
    parts, _ = storage.list_page(OUT + "parts/")
    assert sum(len(storage.get(key).splitlines()) for key in parts) == 4
    assert not list(tmp_path.glob("edna-job-*"))  # removed once the job ended
