"""Attacks on a real `python -m service run` over HTTP, on either blob store.

PYTEST_DONT_REWRITE: an attack module imports this, then declares `pytest_plugins = ["attack_harness"]`.
A test asks for `target` (one server per module and store, shared by the module's tests) and makes its
own tenants with `target.tenant()`, so quotas and data of one test never meet another's. `started(...)`
gives a server of the test's own, for attacks that change server-wide state or need other settings.
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import STORES, s3_client
from real_server import Server, cli

from service.adapters.identity.local import LocalUserStore
from service.client import EdnaClient
from service.demo import CLASSES, DIGITS_INPUT, digit_models

ROLES = ("viewer", "labeler", "editor", "admin")
# Values a spreadsheet would evaluate, each allowed as a filename start, a label and an S3 tag value.
FORMULAS = ("=1+1", "+1+1", "-1+1", "@A1", "=A1:B2")


@dataclass
class Tenant:
    """A tenant with one signed-in member per role; `clients[role]`, `passwords[role]`, `users[role]`."""

    name: str
    users: dict[str, str]
    passwords: dict[str, str]
    clients: dict[str, EdnaClient] = field(default_factory=dict)


@dataclass
class Target:
    """A running server, how it was started, and helpers to set up what an attack needs."""

    server: Server
    store: str
    data_dir: Path
    env: dict[str, str]
    bucket: str = ""
    moto_endpoint: str = ""

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def anonymous(self) -> EdnaClient:
        return EdnaClient(self.base_url, timeout=60)

    def add_user(self, tenant: str, role: str, username: str | None = None) -> tuple[str, str]:
        """A member added the way an operator does (`users add` writes identity.db; the server reads it)."""
        username = username or f"{role}-{uuid.uuid4().hex[:8]}"
        password = secrets.token_urlsafe(16)
        LocalUserStore(self.data_dir / "identity.db").add(username, tenant, role, password, "")
        return username, password

    def tenant(self, **quotas: int) -> Tenant:
        """A new tenant with its own quotas (set before its first request) and a signed-in member per role."""
        name = f"t{uuid.uuid4().hex[:10]}"
        if quotas:
            self.set_quota(name, **quotas)
        tenant = Tenant(name, {}, {})
        for role in ROLES:
            user, password = self.add_user(name, role)
            tenant.users[role], tenant.passwords[role] = user, password
            client = self.anonymous()
            client.login(user, password)
            tenant.clients[role] = client
        return tenant

    def set_quota(self, tenant: str, **quotas: int) -> None:
        args = [f"--{k.replace('_', '-')}={v}" for k, v in quotas.items()]
        cli(self.data_dir, "quota", "set", "--tenant", tenant, *args, env=self.env)


@functools.cache
def demo_model() -> bytes:
    """The demo's logistic regression as ONNX bytes (trained once per test process)."""
    return dict(digit_models())["digits-logistic-regression"]


def register_model(client: EdnaClient, onnx: bytes | None = None, name: str = "lr") -> dict:
    """Register, upload and complete a digits classifier; the completed model."""
    onnx = demo_model() if onnx is None else onnx
    body = {"name": name, "class_names": CLASSES, "input": DIGITS_INPUT, "size": len(onnx)}
    ticket = client.call("POST", "/api/models", json=body)
    client.transfer(ticket["upload"], onnx, "application/octet-stream")
    return client.call("POST", f"/api/models/{ticket['model']['id']}/complete", json={})


def server_env(store: str, moto_endpoint: str) -> tuple[dict[str, str], str]:
    """The environment of a server over `store` (a new bucket on the moto server for s3)."""
    if store == "local":
        return {}, ""
    bucket = f"edna-attack-{uuid.uuid4().hex[:12]}"
    s3_client(moto_endpoint).create_bucket(Bucket=bucket)
    env = {"EDNA_STORAGE": "s3", "EDNA_S3_BUCKET": bucket, "EDNA_S3_ENDPOINT_URL": moto_endpoint}
    env.update({k: v for k, v in os.environ.items() if k.startswith("AWS_")})
    return env, bucket


@contextlib.contextmanager
def started(store: str, data_dir: Path, moto_endpoint: str, **settings: str) -> Iterator[Target]:
    """A server over `store` with extra `EDNA_*` settings, killed at the end whatever happened."""
    env, bucket = server_env(store, moto_endpoint)
    env.update({f"EDNA_{k.upper()}": str(v) for k, v in settings.items()})
    data_dir.mkdir(parents=True, exist_ok=True)
    server = Server(data_dir, env).start()
    try:
        yield Target(server, store, data_dir, env, bucket, moto_endpoint)
    finally:
        server.kill()


@pytest.fixture(scope="module", params=STORES)
def target(request, tmp_path_factory, moto_endpoint: str) -> Iterator[Target]:
    with started(request.param, tmp_path_factory.mktemp(f"attack-{request.param}") / "data", moto_endpoint) as t:
        yield t


@pytest.fixture(scope="module")
def local_target(tmp_path_factory, moto_endpoint: str) -> Iterator[Target]:
    """For attacks where the blob store does not matter (identity, files on the server's disk)."""
    with started("local", tmp_path_factory.mktemp("attack-local") / "data", moto_endpoint) as t:
        yield t
