"""One Config class: defaults, then `EDNA_*` environment variables, then explicit overrides."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MiB = 1024 * 1024
GiB = 1024 * MiB


def _setting(default: Any, doc: str) -> Any:
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True)
class Config:
    """Every setting Edna reads. The environment variable is `EDNA_` + the upper-cased name."""

    data_dir: Path = _setting(Path(".edna"), "Where the embedded adapters keep files, keys and databases.")
    storage: str = _setting("local", "Blob store: `local` (files under the data dir) or `s3`.")
    s3_bucket: str = _setting("", "Data bucket when `EDNA_STORAGE=s3`.")
    s3_endpoint_url: str = _setting("", "S3-compatible endpoint (empty: AWS). Region from `AWS_REGION`.")
    identity: str = _setting(
        "local", "Identity: `local` (issuer with keys in the data dir), `cognito` or `oidc` (any OIDC provider)."
    )
    local_issuer: str = _setting("edna-local", "`iss` of tokens the local issuer signs.")
    token_audience: str = _setting("edna", "`aud` of tokens the local issuer signs and accepts.")
    token_ttl_seconds: int = _setting(3600, "Lifetime of tokens the local issuer signs.")
    member_check_seconds: int = _setting(
        5, "How long the verifier trusts its look-up of a token's member: a removal or role change takes this long."
    )
    signin_window_seconds: int = _setting(900, "Window in which failed local sign-ins are counted.")
    signin_max_failures_per_user: int = _setting(5, "Failed sign-ins for one name within the window before a lockout.")
    signin_max_failures_per_address: int = _setting(
        30, "Failed sign-ins from one client address within the window before a lockout."
    )
    signin_lockout_seconds: int = _setting(30, "First lockout after too many failed sign-ins; each next one doubles.")
    signin_max_lockout_seconds: int = _setting(3600, "Longest lockout after repeated failed sign-ins.")
    trusted_proxies: str = _setting(
        "", "Comma-separated proxy addresses whose `X-Forwarded-For` names the client (empty: trust none)."
    )
    cognito_issuer: str = _setting("", "Cognito issuer, `https://cognito-idp.<region>.amazonaws.com/<pool>`.")
    cognito_jwks_url: str = _setting("", "Cognito JWKS URL (empty: `<issuer>/.well-known/jwks.json`).")
    cognito_client_id: str = _setting("", "App client id a Cognito token must carry (`aud` or `client_id`).")
    cognito_token_use: str = _setting("id", "Accepted Cognito `token_use` values, comma-separated.")
    cognito_scope_server: str = _setting(
        "edna", "Cognito resource server of applications' scopes (`<server>/<role>`, client-credentials grant)."
    )
    service_token_url: str = _setting(
        "/api/auth/service-token",
        "Where applications exchange their client id and secret for a token (AWS: the Cognito domain's /oauth2/token).",
    )
    secrets_kms_key: str = _setting(
        "", "KMS key that seals webhook secrets (empty: an AES-256-GCM key in the data dir's keys/)."
    )
    api_gateway_id: str = _setting(
        "", "HTTP API whose JWT authorizer must accept applications' clients (empty: no API Gateway in front)."
    )
    api_authorizer_id: str = _setting("", "That API's JWT authorizer, whose audiences list applications' clients.")
    oidc_issuer: str = _setting(
        "", "OIDC issuer, exactly as tokens' `iss` (Auth0's ends in `/`); https (http only on loopback)."
    )
    oidc_audience: str = _setting("", "`aud` an OIDC token must carry (Auth0: the API identifier; Keycloak: a client).")
    oidc_user_claim: str = _setting("sub", "OIDC claims naming the user, comma-separated: the first present wins.")
    oidc_tenant_claim: str = _setting(
        "tenant", "OIDC claim holding the tenant: a literal name (`https://edna.example.com/tenant`) or a dotted path."
    )
    oidc_roles_claim: str = _setting(
        "roles", "OIDC claim holding the roles, a list or a space/comma string (Keycloak: `realm_access.roles`)."
    )
    oidc_role_prefix: str = _setting(
        "", "Only OIDC roles with this prefix count, prefix removed (`edna:` makes `edna:admin` admin)."
    )
    oidc_tenant: str = _setting("", "Single-tenant OIDC: every token's tenant (the tenant claim is then not read).")
    search: str = _setting("sqlite", "Search index: `sqlite` (embedded), `opensearch` or `elasticsearch`.")
    search_url: str = _setting("", "OpenSearch domain or Elasticsearch URL (`user:pass@` allowed for Elastic).")
    search_index: str = _setting("edna-items", "Index name in OpenSearch/Elasticsearch (one per stack).")
    search_api_key: str = _setting("", "Elasticsearch API key (OpenSearch signs with the AWS credentials).")
    jobs: str = _setting(
        "local", "Job runner: `local` (worker processes in the service), `mwaa` or `airflow` (any Airflow 3)."
    )
    job_workers: int = _setting(1, "Jobs the local runner runs at once (each in its own process).")
    mwaa_environment: str = _setting("", "Amazon MWAA environment that runs the `edna_inference` DAG.")
    airflow_url: str = _setting("", "Airflow 3 API server that runs the `edna_inference` DAG (`EDNA_JOBS=airflow`).")
    airflow_username: str = _setting("", "Airflow user the service signs in as (`/auth/token`); may trigger DAG runs.")
    airflow_password: str = _setting("", "That user's password.")
    airflow_token: str = _setting("", "A ready Airflow API token instead of a username and password (not renewed).")
    airflow_timeout_seconds: float = _setting(10.0, "Connect and read timeout of one call to the Airflow API.")
    airflow_poll_seconds: float = _setting(
        5.0, "How often the service asks Airflow whether the runs it started have ended (predictions follow)."
    )
    upload_url_ttl_seconds: int = _setting(900, "How long a pre-signed upload URL stays valid.")
    download_url_ttl_seconds: int = _setting(300, "How long a pre-signed download URL stays valid.")
    multipart_threshold: int = _setting(64 * MiB, "Uploads larger than this many bytes go multipart.")
    multipart_part_size: int = _setting(16 * MiB, "Smallest part size of a multipart upload (S3: >= 5 MiB).")
    max_upload_bytes: int = _setting(5 * GiB, "Largest object an upload request may announce.")
    max_image_pixels: int = _setting(
        50_000_000,
        "Largest image (width x height, read from its header) that gets a thumbnail: a 50-megapixel camera"
        " frame, at most 200 MB decoded in one thumbnail worker; larger ones are available without a preview.",
    )
    thumbnail_workers: int = _setting(
        2, "Threads that make thumbnails in the service process (local, no queue URL): Pillow decodes outside the GIL."
    )
    thumbnail_backlog: int = _setting(
        1000, "Thumbnails waiting for those threads at most; beyond it they are dropped until `reindex` makes them."
    )
    thumbnail_queue_url: str = _setting(
        "", "SQS queue of thumbnails to make (AWS: the thumbnailer Lambda drains it); empty: local threads."
    )
    webhook_queue_url: str = _setting(
        "", "SQS queue of webhook deliveries (AWS: the delivery Lambda drains it); empty: an outbox in the data dir."
    )
    webhook_allowed_hosts: str = _setting(
        "", "Comma-separated hosts webhooks may reach on private, loopback or link-local addresses (empty: none)."
    )
    webhook_max_attempts: int = _setting(8, "Attempts of one webhook delivery before it is logged as failed.")
    webhook_retry_base_seconds: float = _setting(
        30.0, "Wait before a delivery's second attempt; each later one waits 4 times longer (at most 15 minutes)."
    )
    webhook_timeout_seconds: float = _setting(5.0, "Connect and read timeout of one webhook delivery.")
    webhook_workers: int = _setting(4, "Threads that deliver webhooks in the service process (local outbox).")
    log_level: str = _setting("INFO", "Python log level of the service.")
    web_workers: int = _setting(
        0, "Worker processes that serve requests under `python -m service run` (0: one per core; `--dev`: one)."
    )
    web_threads: int = _setting(8, "Threads of each such worker process (requests one process serves at once).")
    metering: bool = _setting(
        True, "Meter requests and uploads per tenant and keep the audit trail (`GET /api/usage`)."
    )
    usage_flush_seconds: int = _setting(10, "How often the usage meter writes its counters to storage.")
    quota_max_items: int = _setting(1_000_000, "Items a tenant may hold (an operator can set one per tenant).")
    quota_max_bytes: int = _setting(1024 * GiB, "Bytes of items a tenant may hold.")
    quota_max_concurrent_jobs: int = _setting(4, "Jobs a tenant may have queued or running at once.")
    quota_requests_per_minute: int = _setting(
        15_000,
        "API requests a tenant may make per minute (the whole server; on AWS per Lambda instance). One client"
        " uploading as fast as the"
        " two-call flow allows (~60 files/s, 7,200 calls a minute) stays under it with room for its labellers.",
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Config:
        """Defaults, then `EDNA_<NAME>` variables, then keyword overrides (the CLI's flags)."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = environ.get(env_name(f.name))
            if raw is not None and raw != "":
                values[f.name] = _coerce(f.default, raw, f.name)
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "data_dir" in values:
            values["data_dir"] = Path(values["data_dir"])
        return cls(**values)

    def replace(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes)


def env_name(field_name: str) -> str:
    return "EDNA_" + field_name.upper()


def documented_settings() -> list[tuple[str, Any, str]]:
    """(variable, default, meaning) for the README's configuration table."""
    return [(env_name(f.name), f.default, f.metadata["doc"]) for f in dataclasses.fields(Config)]


def _coerce(default: Any, raw: str, name: str) -> Any:
    if isinstance(default, bool):
        return raw.lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"{env_name(name)} must be an integer, got {raw!r}") from None
    if isinstance(default, float):
        try:
            return float(raw)
        except ValueError:
            raise ValueError(f"{env_name(name)} must be a number, got {raw!r}") from None
    if isinstance(default, Path):
        return Path(raw)
    return raw
