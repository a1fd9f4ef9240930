"""build_adapters(config): the only place that chooses concrete backends."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from service.adapters.audit import AuditLog
from service.adapters.blobstore import BlobStore
from service.adapters.change_stamp import ChangeStamp
from service.adapters.files import make_private
from service.adapters.identity import MemberDirectory, TokenVerifier
from service.adapters.identity.applications import ApplicationDirectory, EdnaAppClients
from service.adapters.identity.current import CurrentMemberVerifier
from service.adapters.identity.local import LocalIssuer, LocalUserStore
from service.adapters.identity.throttle import SignInThrottle, ThrottleLimits
from service.adapters.jobrunner import JobRunner
from service.adapters.jobrunner.engine_storage import StoreAddress
from service.adapters.requestwindow import MemoryRequestWindow, RequestWindow
from service.adapters.searchindex import SearchIndex
from service.adapters.secretbox import SecretBox
from service.adapters.thumbnailqueue import ThumbnailQueue
from service.adapters.usage import UsageMeter
from service.adapters.vectorindex import VectorIndex
from service.adapters.webhookqueue import WebhookQueue
from service.domain.tenant_locks import TenantLocks
from service.settings import Config
from service.vocabulary.layout import TENANTS

if TYPE_CHECKING:
    from service.adapters.jobrunner.airflow_rest import AirflowAccess


class Part(enum.Enum):
    """What one process does of the service's work: the embedded adapters that background work feeds
    (jobs, thumbnails, webhooks) hand it over through SQLite in the data dir when processes share it."""

    WHOLE = "whole"  # serves and works alone: the development server, tests, operator commands
    WEB = "web"  # a worker of the production server: serves requests, hands background work over
    RUNNER = "runner"  # the production server's one background process: runs jobs, thumbnails, webhooks


@dataclass
class Adapters:
    """One instance of each port; `issuer`, `users` and `throttle` exist only with local identity."""

    blobs: BlobStore
    index: SearchIndex
    verifier: TokenVerifier
    jobs: JobRunner
    vectors: VectorIndex
    members: MemberDirectory | None = None
    applications: ApplicationDirectory | None = None  # service accounts; None where the provider keeps them
    issuer: LocalIssuer | None = None
    users: LocalUserStore | None = None
    throttle: SignInThrottle | None = None


def local_identity(config: Config, part: Part = Part.WHOLE) -> tuple[LocalIssuer, LocalUserStore]:
    issuer = LocalIssuer(
        config.data_dir / "keys" / "issuer.pem",
        config.local_issuer,
        config.token_audience,
        config.token_ttl_seconds,
    )
    return issuer, LocalUserStore(config.data_dir / "identity.db", identity_stamp(config, part))


def identity_stamp(config: Config, part: Part) -> ChangeStamp | None:
    """With the production server's processes, one per reader: a change of members or applications made
    through one worker reaches the others' caches at their next request (each reader its own instance)."""
    return None if part is Part.WHOLE else ChangeStamp(config.data_dir / "identity.changed")


def store_address(config: Config) -> StoreAddress:
    if config.storage == "s3":
        if not config.s3_bucket:
            raise ValueError("EDNA_S3_BUCKET is required when EDNA_STORAGE=s3")
        return StoreAddress("s3", bucket=config.s3_bucket, endpoint_url=config.s3_endpoint_url)
    if config.storage == "local":
        # Absolute: job processes open it from their own working directory.
        return StoreAddress("local", root=str((config.data_dir / "blobs").resolve()))
    raise ValueError(f"EDNA_STORAGE must be 'local' or 's3', not {config.storage!r}")


def signin_throttle(config: Config, part: Part = Part.WHOLE) -> SignInThrottle:
    """In memory for one process; in SQLite when the production server's workers must count together."""
    limits = ThrottleLimits(
        window=config.signin_window_seconds,
        per_name=config.signin_max_failures_per_user,
        per_address=config.signin_max_failures_per_address,
        lockout=config.signin_lockout_seconds,
        max_lockout=config.signin_max_lockout_seconds,
    )
    if part is Part.WHOLE:
        return SignInThrottle(limits)
    from service.adapters.identity.throttle_sqlite import SqliteSignInThrottle

    return SqliteSignInThrottle(config.data_dir / "signins.db", limits)


def tenant_locks(config: Config, part: Part, purpose: str) -> TenantLocks:
    """Per tenant in this process; with the production server's workers, also across them (an flock)."""
    if part is Part.WHOLE:
        return TenantLocks()
    from service.adapters.process_locks import FileLocks

    files = FileLocks(config.data_dir / "locks")
    return TenantLocks(lambda tenant: files.hold(f"{purpose}/{tenant}"))


def build_request_window(config: Config, part: Part = Part.WHOLE) -> RequestWindow:
    """Counted in this process, or in SQLite when the production server's workers share the quota."""
    if part is Part.WHOLE:
        return MemoryRequestWindow()
    from service.adapters.requestwindow.sqlite import SqliteRequestWindow

    return SqliteRequestWindow(config.data_dir / "requests.db")


def build_blob_store(config: Config) -> BlobStore:
    return store_address(config).open()


def build_search_index(config: Config, blobs: BlobStore | None = None) -> SearchIndex:
    if config.search == "sqlite":
        from service.adapters.searchindex.sqlite_recovery import RecoveringSqliteSearchIndex

        # A missing index over a local store that holds tenants is reported (and rebuilt by `reindex`);
        # over S3 (tests, a Lambda's fresh /tmp) the check would cost every start a network call.
        local = blobs is not None and config.storage == "local"
        in_use = (lambda: bool(blobs.list_page(TENANTS, limit=1).objects)) if local else (lambda: False)
        return RecoveringSqliteSearchIndex(config.data_dir / "index.db", in_use)
    if config.search in ("opensearch", "elasticsearch"):
        from service.adapters.searchindex import opensearch

        if not config.search_url:
            raise ValueError(f"EDNA_SEARCH_URL is required when EDNA_SEARCH={config.search}")
        if config.search == "opensearch":
            return opensearch.opensearch_index(config.search_url, index=config.search_index)
        key = config.search_api_key
        return opensearch.elasticsearch_index(config.search_url, index=config.search_index, api_key=key)
    raise ValueError(f"EDNA_SEARCH must be 'sqlite', 'opensearch' or 'elasticsearch', not {config.search!r}")


def build_vector_index(config: Config) -> VectorIndex:
    """Beside the search index: memory-mapped matrices in the data dir, or the same OpenSearch/Elasticsearch."""
    if config.search == "sqlite":
        from service.adapters.vectorindex.local import LocalVectorIndex

        return LocalVectorIndex(config.data_dir / "vectors")
    from service.adapters.vectorindex import opensearch

    if config.search == "opensearch":
        return opensearch.opensearch_vectors(config.search_url, base=config.search_index)
    return opensearch.elasticsearch_vectors(config.search_url, base=config.search_index, api_key=config.search_api_key)


def build_job_runner(config: Config, part: Part = Part.WHOLE) -> JobRunner:
    if config.jobs == "local":
        from service.adapters.jobrunner.local import LocalJobRunner

        # A production server's workers only queue runs: its runner process dispatches them.
        queue = config.data_dir / "jobs.db"
        return LocalJobRunner(store_address(config), queue, config.job_workers, dispatch=part is Part.WHOLE)
    if config.jobs == "mwaa":
        from service.adapters.jobrunner.mwaa import MwaaJobRunner

        if not config.mwaa_environment:
            raise ValueError("EDNA_MWAA_ENVIRONMENT is required when EDNA_JOBS=mwaa")
        return MwaaJobRunner(config.mwaa_environment)
    if config.jobs == "airflow":
        from service.adapters.jobrunner.airflow_rest import AirflowJobRunner

        return AirflowJobRunner(
            airflow_access(config), config.data_dir / "airflow-runs.json", config.airflow_poll_seconds
        )
    raise ValueError(f"EDNA_JOBS must be 'local', 'mwaa' or 'airflow', not {config.jobs!r}")


def airflow_access(config: Config) -> AirflowAccess:
    """The Airflow API server and credentials, checked: the DAG's workers reach only an S3 data bucket."""
    from service.adapters.jobrunner.airflow_rest import AirflowAccess

    if not config.airflow_url:
        raise ValueError("EDNA_AIRFLOW_URL is required when EDNA_JOBS=airflow")
    if not (config.airflow_token or (config.airflow_username and config.airflow_password)):
        raise ValueError("EDNA_JOBS=airflow needs EDNA_AIRFLOW_USERNAME and _PASSWORD, or EDNA_AIRFLOW_TOKEN")
    if config.storage != "s3":
        raise ValueError("EDNA_JOBS=airflow needs EDNA_STORAGE=s3: the DAG's workers read and write the data bucket")
    return AirflowAccess(
        config.airflow_url,
        config.airflow_username,
        config.airflow_password,
        config.airflow_token,
        config.airflow_timeout_seconds,
    )


def build_thumbnail_queue(config: Config, part: Part = Part.WHOLE) -> ThumbnailQueue:
    """SQS when a queue URL is set (the thumbnailer Lambda drains it); else threads in this process, fed
    in memory, or through SQLite by every process of the production server."""
    if config.thumbnail_queue_url:
        from service.adapters.thumbnailqueue.sqs import SqsThumbnailQueue

        return SqsThumbnailQueue(config.thumbnail_queue_url)
    if part is not Part.WHOLE:
        from service.adapters.thumbnailqueue.sqlite import SqliteThumbnailQueue

        queue = config.data_dir / "thumbnails.db"
        return SqliteThumbnailQueue(queue, config.thumbnail_workers, config.thumbnail_backlog)
    from service.adapters.thumbnailqueue.local import LocalThumbnailQueue

    return LocalThumbnailQueue(config.thumbnail_workers, config.thumbnail_backlog)


def build_webhook_queue(config: Config) -> WebhookQueue:
    """SQS when a queue URL is set (the delivery Lambda drains it), else an outbox in the data dir."""
    if config.webhook_queue_url:
        from service.adapters.webhookqueue.sqs import SqsWebhookQueue

        return SqsWebhookQueue(config.webhook_queue_url)
    from service.adapters.webhookqueue.local import SqliteWebhookOutbox

    lease = 2 * config.webhook_timeout_seconds + 30  # longer than any one attempt takes
    return SqliteWebhookOutbox(config.data_dir / "webhooks.db", config.webhook_workers, lease)


def build_secret_box(config: Config) -> SecretBox:
    """KMS when a key is named (AWS), else a key file beside the issuer's."""
    if config.secrets_kms_key:
        from service.adapters.secretbox.kms import KmsSecretBox

        return KmsSecretBox(config.secrets_kms_key)
    from service.adapters.secretbox.local import LocalSecretBox

    return LocalSecretBox(config.data_dir / "keys" / "secrets.key")


def webhook_allowed_hosts(config: Config) -> frozenset[str]:
    return frozenset(h.strip().lower().strip("[]") for h in config.webhook_allowed_hosts.split(",") if h.strip())


def webhook_url_check(config: Config) -> Callable[[str], object]:
    """What registration checks a URL with: the same resolution and address rules as a delivery."""
    from service.adapters.webhookqueue import outbound

    allowed = webhook_allowed_hosts(config)
    return lambda url: outbound.destination(url, allowed)


def webhook_post(config: Config) -> Callable[[str, bytes, dict[str, str]], tuple[int, str]]:
    from service.adapters.webhookqueue import outbound
    from service.version import VERSION

    allowed, timeout, agent = webhook_allowed_hosts(config), config.webhook_timeout_seconds, f"Edna-Webhooks/{VERSION}"
    return lambda url, body, headers: outbound.post(url, body, {**headers, "User-Agent": agent}, allowed, timeout)


def build_adapters(config: Config, part: Part = Part.WHOLE) -> Adapters:
    make_private(config.data_dir)  # keys, databases and objects: the server's user only
    blobs = build_blob_store(config)
    index = build_search_index(config, blobs)
    jobs = build_job_runner(config, part)
    vectors = build_vector_index(config)
    if config.identity == "local":
        issuer, users = local_identity(config, part)
        apps = ApplicationDirectory(blobs, EdnaAppClients(), config.member_check_seconds, identity_stamp(config, part))
        verifier = CurrentMemberVerifier(
            issuer.verifier(), users, config.member_check_seconds, applications=apps, stamp=identity_stamp(config, part)
        )
        throttle = signin_throttle(config, part)
        return Adapters(
            blobs,
            index,
            verifier,
            jobs,
            vectors,
            members=users,
            applications=apps,
            issuer=issuer,
            users=users,
            throttle=throttle,
        )
    if config.identity == "cognito":
        from service.adapters.identity.cognito import cognito_verifier
        from service.adapters.identity.cognito_clients import cognito_app_clients
        from service.adapters.identity.cognito_members import cognito_member_directory

        if not (config.cognito_issuer and config.cognito_client_id):
            raise ValueError("EDNA_COGNITO_ISSUER and EDNA_COGNITO_CLIENT_ID are required when EDNA_IDENTITY=cognito")
        uses = {u.strip() for u in config.cognito_token_use.split(",") if u.strip()}
        verifier = cognito_verifier(config.cognito_issuer, config.cognito_jwks_url, config.cognito_client_id, uses)
        # pool and region from the issuer; boto3's AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER points it elsewhere
        members = cognito_member_directory(config.cognito_issuer)
        stamp = identity_stamp(config, part)  # bumped by revokes; a Cognito member change waits out the TTL
        apps = ApplicationDirectory(blobs, cognito_app_clients(config), config.member_check_seconds, stamp)
        verifier = CurrentMemberVerifier(
            verifier, members, config.member_check_seconds, applications=apps, stamp=identity_stamp(config, part)
        )
        return Adapters(blobs, index, verifier, jobs, vectors, members=members, applications=apps)
    if config.identity == "oidc":
        from service.adapters.identity.oidc import OidcSettings, oidc_verifier

        # the provider owns the users: no member directory here, tenant and roles are the token's
        return Adapters(blobs, index, oidc_verifier(OidcSettings.from_config(config)), jobs, vectors)
    raise ValueError(f"EDNA_IDENTITY must be 'local', 'cognito' or 'oidc', not {config.identity!r}")


def build_usage_meter(config: Config, blobs: BlobStore) -> UsageMeter | None:
    """Counters in SQLite beside the embedded adapters; on S3, embedded-metric logs plus shards in the bucket."""
    if not config.metering:
        return None
    if config.storage == "s3":
        from service.adapters.usage.cloudwatch import CloudWatchUsageMeter

        return CloudWatchUsageMeter(blobs, flush_seconds=config.usage_flush_seconds)
    from service.adapters.usage.sqlite import SqliteUsageMeter

    return SqliteUsageMeter(config.data_dir / "usage.db")


def build_audit_log(config: Config, blobs: BlobStore) -> AuditLog | None:
    """A JSONL file per tenant and day in the data dir; on S3, a part per entry in the bucket."""
    if not config.metering:
        return None
    if config.storage == "s3":
        from service.adapters.audit.blobs import BlobAuditLog

        return BlobAuditLog(blobs)
    from service.adapters.audit.local import LocalAuditLog

    return LocalAuditLog(config.data_dir / "audit")
