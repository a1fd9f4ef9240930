"""Service rules: Lambda concurrency and logs, log retention, MWAA, IAM, SQS and Cognito settings."""

from __future__ import annotations

from collections.abc import Iterator

if __package__:  # imported as policy.edna_service_rules from the repo root
    from policy.edna_values import (
        UNKNOWN,
        Res,
        as_list,
        effect_is,
        get,
        is_number,
        is_set,
        lowered,
        name_of,
        of_type,
        policy_document,
        resource_policy,
        stack_policy,
        statements,
    )
else:  # Pulumi runs `python __main__.py` inside policy/
    from edna_values import (
        UNKNOWN,
        Res,
        as_list,
        effect_is,
        get,
        is_number,
        is_set,
        lowered,
        name_of,
        of_type,
        policy_document,
        resource_policy,
        stack_policy,
        statements,
    )

FUNCTION = ("aws:lambda/function:Function",)
LOG_GROUP = ("aws:cloudwatch/logGroup:LogGroup",)
MWAA = ("aws:mwaa/environment:Environment",)
QUEUE = ("aws:sqs/queue:Queue",)
USER_POOL = ("aws:cognito/userPool:UserPool",)
# Resources whose `policy` prop is an IAM document (the bucket ones too: "s3:*" on "*" is as bad there).
POLICY_DOCUMENT = (
    "aws:iam/policy:Policy",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/userPolicy:UserPolicy",
    "aws:iam/groupPolicy:GroupPolicy",
    "aws:s3/bucketPolicy:BucketPolicy",
    "aws:s3/bucket:Bucket",
    "aws:s3/bucketV2:BucketV2",
)
ROLE = ("aws:iam/role:Role",)

MWAA_LOG_TYPES = {
    "dagProcessingLogs": "dag_processing_logs",
    "schedulerLogs": "scheduler_logs",
    "taskLogs": "task_logs",
    "webserverLogs": "webserver_logs",
    "workerLogs": "worker_logs",
}
MIN_PASSWORD_LENGTH = 12


def _positive(value: object, minimum: float = 1) -> bool:
    return value is UNKNOWN or (is_number(value) and value >= minimum)


def _reserved_concurrency(props: dict, _name: str) -> Iterator[str]:
    value = get(props, "reservedConcurrentExecutions")
    if not _positive(value):
        shown = "unset (-1, unreserved)" if value is None else repr(value)
        yield (
            f"reserved_concurrent_executions is {shown}: reserve at least 1 so one function cannot exhaust the "
            "account's concurrency (and a runaway cannot scale without bound)."
        )


def _lambda_log_groups(resources: list[Res]) -> Iterator[tuple[str, str]]:
    groups = list(of_type(resources, LOG_GROUP))
    names = {n for g in groups if isinstance(n := name_of(g, "name", "id"), str)}
    some_unknown = any(name_of(g, "name", "id") is UNKNOWN and not g.deps.get("name") for g in groups)
    for function in of_type(resources, FUNCTION):
        target = get(function.props, "loggingConfig", "logGroup")
        if target is UNKNOWN:
            continue
        if isinstance(target, str) and target:
            if target not in names and not _depends_on_log_group(function, groups):
                yield (
                    function.urn,
                    (
                        f"Lambda {function.name!r} logs to {target!r}, which no LogGroup in this stack creates: "
                        "create it as aws.cloudwatch.LogGroup with retention_in_days."
                    ),
                )
            continue
        name = name_of(function, "name", "id")
        if name is UNKNOWN:
            continue
        if name is None:
            yield (
                function.urn,
                (
                    f"Lambda {function.name!r} has no known function name: set name=... and create "
                    "aws.cloudwatch.LogGroup '/aws/lambda/<name>' with retention_in_days "
                    "(or set logging_config.log_group)."
                ),
            )
            continue
        expected = f"/aws/lambda/{name}"
        named_after = any(function.urn in g.deps.get("name", []) for g in groups)
        if expected not in names and not named_after and not some_unknown:
            yield (
                function.urn,
                (
                    f"Lambda {function.name!r} has no log group with retention: create aws.cloudwatch.LogGroup "
                    f"named {expected!r} with retention_in_days, or set logging_config.log_group to one."
                ),
            )


def _depends_on_log_group(function: Res, groups: list[Res]) -> bool:
    urns = {g.urn for g in groups}
    return any(u in urns for u in function.deps.get("loggingConfig", []))


def _log_retention(props: dict, _name: str) -> Iterator[str]:
    days = get(props, "retentionInDays")
    if not _positive(days):
        yield (
            f"retention_in_days is {'unset' if days is None else days} (never expire): set a retention such as 30 "
            "or 365 days "
            "so logs, which may carry user data, expire."
        )


def _mwaa_private(props: dict, _name: str) -> Iterator[str]:
    mode = get(props, "webserverAccessMode")
    if mode not in ("PRIVATE_ONLY", UNKNOWN):
        shown = "unset" if mode is None else repr(mode)
        yield f"webserver_access_mode is {shown}: set webserver_access_mode='PRIVATE_ONLY' explicitly."


def _mwaa_logging(props: dict, _name: str) -> Iterator[str]:
    config = get(props, "loggingConfiguration", default={})
    if config is UNKNOWN:
        return
    off = [py for engine, py in MWAA_LOG_TYPES.items() if get(config, engine, "enabled") not in (True, UNKNOWN)]
    if off:
        yield (
            f"logging_configuration does not enable {', '.join(off)}: set each of the five to "
            "{'enabled': True, 'log_level': 'INFO'}."
        )


def _documents(props: dict) -> Iterator[tuple[str, object]]:
    if "policy" in props:
        yield "policy", policy_document(props["policy"])
    inline = as_list(get(props, "inlinePolicies"))
    for index, entry in enumerate(inline if inline is not UNKNOWN else []):
        name = get(entry, "name") or f"#{index}"
        yield f"inline policy {name!r}", policy_document(get(entry, "policy"))


def _no_wildcard_allow(props: dict, _name: str) -> Iterator[str]:
    for where, document in _documents(props):
        for label, statement in statements(document):
            if not effect_is(statement, "Allow"):
                continue
            actions = set(lowered(statement.get("Action")))
            resources = set(lowered(statement.get("Resource")))
            if wildcard := sorted(actions & {"*", "*:*"}):
                yield f"{where} {label} allows Action {wildcard[0]!r}: list the actions actually needed."
            elif "s3:*" in actions and resources & {"*", "arn:aws:s3:::*"}:
                yield f"{where} {label} allows 's3:*' on every bucket: name the actions and the bucket ARNs."


def _sqs_encrypted(props: dict, _name: str) -> Iterator[str]:
    managed = get(props, "sqsManagedSseEnabled")
    key = get(props, "kmsMasterKeyId")
    if managed not in (True, UNKNOWN) and key is not UNKNOWN and not is_set(key):
        yield "queue is not encrypted: set sqs_managed_sse_enabled=True or kms_master_key_id."


def _cognito_deletion_protection(props: dict, _name: str) -> Iterator[str]:
    value = get(props, "deletionProtection")
    if value not in ("ACTIVE", UNKNOWN):
        yield f"deletion_protection is {value or 'INACTIVE (the default)'!r}: set deletion_protection='ACTIVE'."


def _cognito_password_length(props: dict, _name: str) -> Iterator[str]:
    length = get(props, "passwordPolicy", "minimumLength")
    if not _positive(length, MIN_PASSWORD_LENGTH):
        shown = "unset (8 by default)" if length is None else repr(length)
        yield f"password_policy.minimum_length is {shown}: set it to at least {MIN_PASSWORD_LENGTH}."


POLICIES = [
    resource_policy(
        "lambda-reserved-concurrency",
        "Every Lambda function reserves concurrency (reserved_concurrent_executions >= 1).",
        FUNCTION,
        _reserved_concurrency,
    ),
    stack_policy(
        "lambda-log-group",
        "Every Lambda function logs to a LogGroup this stack manages: logging_config.log_group, or /aws/lambda/<name>.",
        _lambda_log_groups,
    ),
    resource_policy(
        "cloudwatch-log-retention",
        "Every CloudWatch LogGroup sets retention_in_days > 0.",
        LOG_GROUP,
        _log_retention,
    ),
    resource_policy(
        "mwaa-private-webserver",
        "Every MWAA environment's Airflow web server is PRIVATE_ONLY.",
        MWAA,
        _mwaa_private,
    ),
    resource_policy(
        "mwaa-logging",
        "Every MWAA environment enables all five log types (DAG processing, scheduler, task, webserver, worker).",
        MWAA,
        _mwaa_logging,
    ),
    resource_policy(
        "iam-no-wildcard-allow",
        "No IAM or bucket policy document allows Action '*' / '*:*', or 's3:*' on Resource '*'.",
        POLICY_DOCUMENT + ROLE,
        _no_wildcard_allow,
    ),
    resource_policy(
        "sqs-encryption",
        "Every SQS queue is encrypted (SQS-managed SSE or a KMS key).",
        QUEUE,
        _sqs_encrypted,
    ),
    resource_policy(
        "cognito-deletion-protection",
        "Every Cognito user pool has deletion protection ACTIVE.",
        USER_POOL,
        _cognito_deletion_protection,
    ),
    resource_policy(
        "cognito-password-length",
        f"Every Cognito user pool requires passwords of at least {MIN_PASSWORD_LENGTH} characters.",
        USER_POOL,
        _cognito_password_length,
    ),
]
