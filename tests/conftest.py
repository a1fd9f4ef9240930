"""Shared fixtures: a moto S3 server over HTTP, the app served on loopback, both blob stores."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
import requests
from botocore.config import Config as BotoConfig
from werkzeug.serving import make_server

# Fake credentials before any boto3 client exists: nothing in the suite may reach AWS (nor Microsoft).
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SESSION_TOKEN="testing",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_REGION="us-east-1",
    ORT_DISABLE_TELEMETRY="1",  # tests import onnxruntime before the engine does (which sets it too)
)
for var in ("AWS_PROFILE", "EDNA_DATA_DIR", "EDNA_STORAGE", "EDNA_IDENTITY"):
    os.environ.pop(var, None)

from service import create_app  # noqa: E402
from service.adapters.identity import Member  # noqa: E402
from service.client import EdnaClient  # noqa: E402
from service.settings import Config, MiB  # noqa: E402

logging.getLogger("werkzeug").setLevel(logging.ERROR)

STORES = ["local", "s3"]
# Reads of the audit trail per store that a fuzzer sends. On S3 every audit entry is an object, and a read lists
# its window and reads each entry it returns; moto lists by reading every key of the bucket. After a fuzzer's
# thousands of mutations one read took seconds (100 s for the per-request fuzzer's S3 half, 3 s locally).
FUZZED_AUDIT_READS = 6

# The files that take longest (half a minute and more each, on 4 workers over 2 cores), longest first.
# Under `--dist loadfile` a file runs on one worker, and files are handed out in collection order
# (`--no-loadscope-reorder`): these start first, so that none of them is left running alone at the end.
LONGEST_FILES = (
    "tests/api/test_schemathesis.py",
    "tests/hostile/test_fuzz_every_role.py",
    "tests/api/test_jobs.py",
    "tests/package/test_lambda_zip.py",
    "tests/api/test_labels.py",
    "tests/api/test_security.py",
    "tests/dags/test_edna_inference_dag.py",
    "tests/infra/test_program.py",
    "tests/client/test_edna_cli.py",
    "tests/api/test_jobs_on_airflow.py",
    "tests/browser/test_labelling_loop.py",
    "tests/cli/test_commands.py",
    "tests/browser/test_hotkeys_rule.py",
    "tests/api/test_predictions_loop.py",
    "tests/attacks/test_grants.py",
    "tests/hostile/test_jwt_attacks.py",
    "tests/browser/test_layout_and_a11y.py",
    "tests/adapters/test_search_opensearch.py",
    "tests/api/test_webhooks.py",
    "tests/api/test_members.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    first = {path: n for n, path in enumerate(LONGEST_FILES)}
    # A stable sort: the other files, and the tests within each file, keep their order.
    items.sort(key=lambda item: first.get(item.nodeid.split("::", 1)[0], len(first)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    import moto.backends
    from moto.server import ThreadedMotoServer

    # moto 5.2's server lists its package directory (~150 isdir calls) on every request to find the
    # service; the listing never changes, and re-reading it was ~30 % of each S3 call's CPU here.
    service_dirs = tuple(moto.backends.list_of_moto_modules())
    moto.backends.list_of_moto_modules = lambda: service_dirs
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def s3_client(endpoint: str):
    return boto3.client("s3", endpoint_url=endpoint, config=BotoConfig(signature_version="s3v4"))


@pytest.fixture
def s3_bucket(moto_endpoint: str) -> str:
    name = f"edna-test-{uuid.uuid4().hex[:12]}"
    s3_client(moto_endpoint).create_bucket(Bucket=name)
    return name


@contextlib.contextmanager
def serve(app) -> Iterator[str]:
    """The app on a free loopback port in a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()


def make_config(store: str, data_dir: Path, moto_endpoint: str | None = None, bucket: str = "", **overrides) -> Config:
    # Small multipart threshold and S3's minimum part size keep multipart tests fast.
    base = Config(
        data_dir=data_dir,
        storage=store,
        s3_bucket=bucket,
        s3_endpoint_url=moto_endpoint or "",
        multipart_threshold=6 * MiB,
        multipart_part_size=5 * MiB,
        member_check_seconds=0,  # a role change shows on the very next request; tests that time the cache set it
    )
    return base.replace(**overrides)


@dataclass
class Stack:
    """A running Edna over one blob store: its URL, app, and tokens for any caller."""

    store: str
    base_url: str
    app: object
    config: Config

    @property
    def edna(self):
        return self.app.extensions["edna"]

    def token(self, user: str = "alice", tenant: str = "demo", role: str = "admin") -> str:
        """A token for this member, made a member first: the verifier checks the member directory."""
        member = Member(user, tenant, role)
        self.edna.adapters.users.admit(member)
        return self.edna.adapters.issuer.issue(member)["access_token"]

    def client(self, role: str = "admin", tenant: str = "demo", user: str | None = None) -> EdnaClient:
        return LoopbackClient(self.base_url, self.token(user or f"{role}-{tenant}", tenant, role))


def loopback_session() -> requests.Session:
    """A session for the suite's own servers, all on loopback, where no proxy applies: a session that
    trusts the environment reads every variable in it twice per request to find proxies (~0.2 ms)."""
    session = requests.Session()
    session.trust_env = False
    return session


class LoopbackClient(EdnaClient):
    """EdnaClient whose sessions skip the environment's proxy look-up (see loopback_session)."""

    @property
    def session(self) -> requests.Session:
        session = super().session
        session.trust_env = False
        return session


@functools.cache
def issuer_pem() -> bytes:
    """One RSA key for every test stack: generating one per test costs more than the test."""
    from joserfc.jwk import RSAKey

    return RSAKey.generate_key(2048).as_pem(private=True)


@contextlib.contextmanager
def running_stack(
    store: str, data_dir: Path, moto_endpoint: str, versioned: bool = True, **overrides
) -> Iterator[Stack]:
    bucket = ""
    if store == "s3":
        bucket = f"edna-test-{uuid.uuid4().hex[:12]}"
        s3_client(moto_endpoint).create_bucket(Bucket=bucket)
        if versioned:  # like the data bucket in AWS (infra/buckets.py): snapshots keep object versions
            s3_client(moto_endpoint).put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    config = make_config(store, data_dir, moto_endpoint, bucket, **overrides)
    (data_dir / "keys").mkdir(parents=True, exist_ok=True)
    (data_dir / "keys" / "issuer.pem").write_bytes(issuer_pem())
    app = create_app(config)
    try:
        with serve(app) as base_url:
            yield Stack(store, base_url, app, config)
    finally:
        app.extensions["edna"].close()


@pytest.fixture(params=STORES)
def stack(request, tmp_path: Path, moto_endpoint: str) -> Iterator[Stack]:
    with running_stack(request.param, tmp_path, moto_endpoint) as s:
        yield s


@pytest.fixture
def local_stack(tmp_path: Path, moto_endpoint: str) -> Iterator[Stack]:
    with running_stack("local", tmp_path, moto_endpoint) as s:
        yield s


@pytest.fixture
def stack_over(moto_endpoint: str):
    """Another Edna over given storage, as after a restart: `with stack_over(store, data_dir, **changes) as s:`."""
    return functools.partial(running_stack, moto_endpoint=moto_endpoint)
