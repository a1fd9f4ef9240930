"""Applications (service accounts): a tenant's non-human callers, kept in the blob store.

An application is a record (name, role, optional datasets, expiry) and a client id pointing at it.
Its credentials come from an AppClients provider: Edna's own (local identity: a random secret,
stored as a hash) or the identity provider's (Cognito app clients with the client-credentials
grant). Either way a token names only its client; the tenant, role and datasets are read here,
so no caller can claim another tenant by what it puts in a token.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field

from service.adapters.blobstore import BlobStore, ObjectMissing
from service.adapters.change_stamp import ChangeStamp
from service.vocabulary import layout, names
from service.vocabulary.errors import BadRequest, NotFound
from service.vocabulary.ids import new_id
from service.vocabulary.roles import Role

LAST_USED_EVERY = 60  # seconds: `last_used_at` is this fresh at most, so a busy pipeline costs one write a minute
MAX_DATASETS = 100
MAX_CACHED = 10_000


@dataclass(frozen=True)
class Credentials:
    client_id: str
    client_secret: str
    secret_hash: str = ""  # set when Edna checks the secret itself (local identity)


@dataclass(frozen=True)
class Application:
    id: str
    tenant: str
    name: str
    role: str
    client_id: str
    created_at: float
    created_by: str
    dataset_ids: tuple[str, ...] | None = None
    expires_at: float | None = None
    secret_hash: str = field(default="", repr=False)

    def expired(self, now: float | None = None) -> bool:
        return self.expires_at is not None and (now or time.time()) >= self.expires_at

    def public(self) -> dict:
        data = asdict(self)
        data.pop("secret_hash")
        data.pop("tenant")
        data["dataset_ids"] = list(self.dataset_ids) if self.dataset_ids is not None else None
        return data


class AppClients(ABC):
    """Who makes and checks an application's credentials."""

    name: str

    @abstractmethod
    def create(self, tenant: str, account_id: str, name: str, role: str) -> Credentials:
        """New credentials for one application; the secret is returned once and never kept in clear."""

    @abstractmethod
    def delete(self, client_id: str) -> None:
        """Void the credentials: no new token is issued for them."""


class EdnaAppClients(AppClients):
    """Local identity: Edna makes the client id and secret and keeps only the secret's SHA-256.

    The secret is 256 random bits, not a password: a fast hash loses nothing against guessing,
    and the token exchange stays cheap for a pipeline that signs in often."""

    name = "local"

    def create(self, tenant: str, account_id: str, name: str, role: str) -> Credentials:
        secret = "edna_s_" + secrets.token_urlsafe(32)
        return Credentials("edna_c_" + secrets.token_hex(12), secret, secret_digest(secret))

    def delete(self, client_id: str) -> None:
        """Nothing to call: the record's removal is the revocation."""


def secret_digest(secret: str) -> str:
    return "sha256$" + hashlib.sha256(secret.encode()).hexdigest()


class ApplicationDirectory:
    """A tenant's applications in the blob store, and the look-up of a token's client."""

    def __init__(self, blobs: BlobStore, clients: AppClients, ttl: float = 0, stamp: ChangeStamp | None = None):
        self.blobs = blobs
        self.clients = clients
        self._ttl = ttl  # how long a look-up is trusted in other processes; a revoke here forgets at once
        self._stamp = stamp  # ... and, through it, in the other processes of the same server
        self._cache: dict[str, tuple[float, Application | None]] = {}
        self._last_written: dict[str, float] = {}

    def create(
        self,
        tenant: str,
        created_by: str,
        name: str,
        role: str,
        dataset_ids: list[str] | None = None,
        expires_at: float | None = None,
    ) -> tuple[Application, str]:
        """The new application and its secret (shown once)."""
        name = names.dataset_name(name)
        role = Role.parse(role).name
        if dataset_ids is not None:
            dataset_ids = sorted(set(dataset_ids))
            if not dataset_ids or len(dataset_ids) > MAX_DATASETS:
                raise BadRequest(f"dataset_ids must name 1 to {MAX_DATASETS} datasets, or be left out for all")
            if role == Role.admin.name:
                raise BadRequest("an application limited to datasets cannot be an admin: admin work spans the tenant")
        if expires_at is not None and expires_at <= time.time():
            raise BadRequest("expires_at must be in the future")
        account_id = new_id()
        credentials = self.clients.create(tenant, account_id, name, role)
        app = Application(
            id=account_id,
            tenant=tenant,
            name=name,
            role=role,
            client_id=credentials.client_id,
            created_at=time.time(),
            created_by=created_by,
            dataset_ids=tuple(dataset_ids) if dataset_ids is not None else None,
            expires_at=expires_at,
            secret_hash=credentials.secret_hash,
        )
        self._put(layout.application_record(tenant, account_id), asdict(app))
        # The pointer last: until it exists the client's tokens are refused, never half-bound.
        self._put(layout.application_client(app.client_id), {"tenant": tenant, "id": account_id})
        return app, credentials.client_secret

    def list(self, tenant: str, limit: int, after: str | None) -> list[tuple[Application, float | None]]:
        """Up to `limit` applications by id after `after`, each with when it was last used."""
        prefix = layout.applications_prefix(tenant)
        start = layout.application_record(tenant, after) if after else None
        found: list[tuple[Application, float | None]] = []
        token = None
        while len(found) < limit:
            listing = self.blobs.list_page(prefix, start_after=start, token=token, limit=1000)
            for obj in listing.objects:
                if obj.key.endswith(".json") and (app := self._read(obj.key)) is not None:
                    found.append((app, self.last_used(app)))
                    if len(found) == limit:
                        break
            token = listing.next_token
            if not token:
                break
        return found

    def get(self, tenant: str, account_id: str) -> Application:
        app = self._read(layout.application_record(tenant, account_id)) if _plain(account_id) else None
        if app is None:
            raise NotFound("service account not found")
        return app

    def revoke(self, tenant: str, account_id: str) -> Application:
        """Void it now: the record goes first (tokens are refused), then the pointer and the provider's client."""
        app = self.get(tenant, account_id)
        self.blobs.delete_many([layout.application_record(tenant, account_id)])
        self.blobs.delete_many(
            [layout.application_client(app.client_id), layout.application_last_used(tenant, account_id)]
        )
        self.clients.delete(app.client_id)
        self._cache.pop(app.client_id, None)
        if self._stamp is not None:
            self._stamp.bump()
        return app

    def by_client(self, client_id: str) -> Application | None:
        """The live application of a token's client, or None (unknown, revoked or expired)."""
        now = time.monotonic()
        if self._stamp is not None and self._stamp.moved():
            self._cache.clear()
        cached = self._cache.get(client_id)
        if cached and cached[0] > now:
            app = cached[1]
            return None if app is None or app.expired() else app
        app = self._find(client_id)
        if len(self._cache) >= MAX_CACHED:
            self._cache.clear()
        self._cache[client_id] = (now + self._ttl, app)
        return None if app is None or app.expired() else app

    def _find(self, client_id: str) -> Application | None:
        if not _plain(client_id):
            return None
        try:
            pointer = json.loads(self.blobs.get_bytes(layout.application_client(client_id)))
        except ObjectMissing:
            return None
        app = self._read(layout.application_record(pointer["tenant"], pointer["id"]))
        return app if app is not None and app.client_id == client_id else None

    def authenticate(self, client_id: str, client_secret: str) -> Application | None:
        """Local identity's token exchange: the live application whose secret this is, or None."""
        app = self.by_client(client_id)
        expected = app.secret_hash if app else secret_digest(secrets.token_urlsafe(8))  # same work either way
        if not hmac.compare_digest(secret_digest(client_secret), expected) or app is None:
            return None
        return app

    def touch(self, app: Application) -> None:
        """Record a use, at most once a minute per application and process."""
        now = time.time()
        if now - self._last_written.get(app.id, 0) < LAST_USED_EVERY:
            return
        self._last_written[app.id] = now
        key = layout.application_last_used(app.tenant, app.id)
        self.blobs.put_bytes(key, json.dumps({"at": now}).encode(), "application/json")

    def last_used(self, app: Application) -> float | None:
        try:
            return json.loads(self.blobs.get_bytes(layout.application_last_used(app.tenant, app.id)))["at"]
        except ObjectMissing:
            return None

    def _read(self, key: str) -> Application | None:
        try:
            data = json.loads(self.blobs.get_bytes(key))
        except ObjectMissing:
            return None
        ids = data.get("dataset_ids")
        return Application(**{**data, "dataset_ids": tuple(ids) if ids is not None else None})

    def _put(self, key: str, data: dict) -> None:
        self.blobs.put_bytes(key, json.dumps(data).encode(), "application/json")


def _plain(value: str) -> bool:
    """Ids and client ids become key segments: letters, digits, `_` and `-` only."""
    return 0 < len(value) <= 128 and value.replace("_", "").replace("-", "").isalnum() and value.isascii()
