"""The stack's settings, read once from the Pulumi config (`edna:*` keys, described in Pulumi.yaml)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi

REPO = Path(__file__).resolve().parent.parent
AIRFLOW_VERSION = "3.0.6"  # the version the DAG tests run (requirements-dev.txt)
OPENSEARCH_VERSION = "OpenSearch_2.19"
LAMBDA_RUNTIME = "python3.11"


@dataclass(frozen=True)
class StackConfig:
    stack: str
    region: str
    # API and indexer Lambdas
    api_memory_mb: int
    api_reserved_concurrency: int
    api_timeout_seconds: int
    api_version: str  # empty: the newest published version; a number pins the alias (one-step rollback)
    indexer_memory_mb: int
    indexer_reserved_concurrency: int
    thumbnailer_memory_mb: int
    thumbnailer_reserved_concurrency: int
    throttle_rate: int
    throttle_burst: int
    lambda_package: Path
    # storage and logs
    log_retention_days: int
    noncurrent_version_days: int
    # search
    opensearch_instance_type: str
    opensearch_instance_count: int
    opensearch_volume_gb: int
    opensearch_vectors: int  # vectors the domain must hold in memory: items x embedding models, all tenants
    opensearch_vector_dims: int  # of the largest embeddings served
    # batch
    mwaa_environment_class: str
    mwaa_min_workers: int
    mwaa_max_workers: int
    mwaa_schedulers: int
    mwaa_artifacts: Path
    vpc_cidr: str
    nat_gateways: int
    # identity and edge
    mfa: str
    auth_domain_prefix: str
    domain_name: str
    certificate_arn: str
    alarm_email: str

    @property
    def prefix(self) -> str:
        """Names of everything in this stack start with this."""
        return f"edna-{self.stack}"

    @property
    def mwaa_environment(self) -> str:
        """Known before the batch side exists, so the API side can name it without a dependency."""
        return self.prefix


def load() -> StackConfig:
    """The stack's `edna:*` values; their defaults live in Pulumi.yaml, the one place that names them."""
    c = pulumi.Config("edna")
    api_timeout = c.require_int("apiTimeoutSeconds")
    if api_timeout >= 30:
        raise ValueError("edna:apiTimeoutSeconds must stay below API Gateway's 30 s integration limit")
    if c.require("mfa") not in {"OFF", "OPTIONAL", "ON"}:
        raise ValueError("edna:mfa must be OFF, OPTIONAL or ON")
    if c.require_int("natGateways") not in {1, 2}:
        raise ValueError("edna:natGateways must be 1 or 2")
    stack = pulumi.get_stack()
    return StackConfig(
        stack=stack,
        region=pulumi.Config("aws").require("region"),
        api_memory_mb=c.require_int("apiMemoryMb"),
        api_reserved_concurrency=c.require_int("apiReservedConcurrency"),
        api_timeout_seconds=api_timeout,
        api_version=c.get("apiVersion") or "",
        indexer_memory_mb=c.require_int("indexerMemoryMb"),
        indexer_reserved_concurrency=c.require_int("indexerReservedConcurrency"),
        thumbnailer_memory_mb=c.require_int("thumbnailerMemoryMb"),
        thumbnailer_reserved_concurrency=c.require_int("thumbnailerReservedConcurrency"),
        throttle_rate=c.require_int("throttleRate"),
        throttle_burst=c.require_int("throttleBurst"),
        lambda_package=REPO / c.require("lambdaPackage"),
        log_retention_days=c.require_int("logRetentionDays"),
        noncurrent_version_days=c.require_int("noncurrentVersionDays"),
        opensearch_instance_type=c.require("opensearchInstanceType"),
        opensearch_instance_count=c.require_int("opensearchInstanceCount"),
        opensearch_volume_gb=c.require_int("opensearchVolumeGb"),
        opensearch_vectors=c.require_int("opensearchVectors"),
        opensearch_vector_dims=c.require_int("opensearchVectorDims"),
        mwaa_environment_class=c.require("mwaaEnvironmentClass"),
        mwaa_min_workers=c.require_int("mwaaMinWorkers"),
        mwaa_max_workers=c.require_int("mwaaMaxWorkers"),
        mwaa_schedulers=c.require_int("mwaaSchedulers"),
        mwaa_artifacts=REPO / c.require("mwaaArtifacts"),
        vpc_cidr=c.require("vpcCidr"),
        nat_gateways=c.require_int("natGateways"),
        mfa=c.require("mfa"),
        auth_domain_prefix=c.get("authDomainPrefix") or f"edna-{stack}",  # must be unique in the region
        domain_name=c.get("domainName") or "",
        certificate_arn=c.get("certificateArn") or "",
        alarm_email=c.get("alarmEmail") or "",
    )
