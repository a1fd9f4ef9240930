"""S3 rules: every bucket is private, encrypted, versioned, TLS-only and owner-enforced; no public bucket policy."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator

if __package__:  # imported as policy.edna_s3_rules from the repo root
    from policy.edna_values import (
        UNKNOWN,
        Res,
        StackCheck,
        effect_is,
        get,
        is_set,
        lowered,
        name_of,
        of_type,
        policy_document,
        principal_is_public,
        resource_policy,
        stack_policy,
        statements,
    )
else:  # Pulumi runs `python __main__.py` inside policy/
    from edna_values import (
        UNKNOWN,
        Res,
        StackCheck,
        effect_is,
        get,
        is_set,
        lowered,
        name_of,
        of_type,
        policy_document,
        principal_is_public,
        resource_policy,
        stack_policy,
        statements,
    )

# pulumi-aws v7 tokens; the V2 names are deprecated aliases that still exist.
BUCKET = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
PUBLIC_ACCESS_BLOCK = ("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",)
ENCRYPTION = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
)
VERSIONING = ("aws:s3/bucketVersioning:BucketVersioning", "aws:s3/bucketVersioningV2:BucketVersioningV2")
BUCKET_POLICY = ("aws:s3/bucketPolicy:BucketPolicy",)
OWNERSHIP = ("aws:s3/bucketOwnershipControls:BucketOwnershipControls",)

PAB_FLAGS = {
    "blockPublicAcls": "block_public_acls",
    "blockPublicPolicy": "block_public_policy",
    "ignorePublicAcls": "ignore_public_acls",
    "restrictPublicBuckets": "restrict_public_buckets",
}
SSE_ALGORITHMS = {"AES256", "aws:kms", "aws:kms:dsse"}


class Companions:
    """The resources of some types that point at each bucket (by property dependency, else by equal name)."""

    def __init__(self, resources: list[Res], types: Iterable[str]) -> None:
        self.buckets = list(of_type(resources, BUCKET))
        urns = {b.urn for b in self.buckets}
        by_name = {}
        for bucket in self.buckets:
            name = name_of(bucket, "bucket", "id")
            if isinstance(name, str):
                by_name[name] = bucket.urn
        self.by_bucket: dict[str, list[Res]] = defaultdict(list)
        self.unresolved = False  # a companion whose bucket can't be told yet: don't blame any bucket
        for companion in of_type(resources, types):
            targets = [u for u in companion.deps.get("bucket", []) if u in urns]
            if not targets:
                value = get(companion.props, "bucket")
                if isinstance(value, str) and value in by_name:
                    targets = [by_name[value]]
                elif value is UNKNOWN:
                    self.unresolved = True
            for urn in targets:
                self.by_bucket[urn].append(companion)

    def each(self) -> Iterator[tuple[Res, list[Res]]]:
        """(bucket, its companions) for the buckets this rule can judge."""
        for bucket in self.buckets:
            found = self.by_bucket.get(bucket.urn, [])
            if found or not self.unresolved:
                yield bucket, found


def _bucket_rule(types: Iterable[str], missing: str, judge: Callable[[list[Res]], str | None]) -> StackCheck:
    """A stack check: a bucket without a companion gets `missing`; otherwise `judge(companions)` may complain."""

    def check(resources: list[Res]) -> Iterator[tuple[str, str]]:
        for bucket, found in Companions(resources, types).each():
            if not found:
                yield bucket.urn, f"S3 bucket {bucket.name!r}: {missing}"
                continue
            problem = judge(found)
            if problem:
                yield bucket.urn, f"S3 bucket {bucket.name!r}: {problem}"

    return check


def _judge_public_access_block(found: list[Res]) -> str | None:
    worst: list[str] = []
    for pab in found:
        off = [py for engine, py in PAB_FLAGS.items() if get(pab.props, engine) not in (True, UNKNOWN)]
        if not off:
            return None
        worst = off
    return f"its BucketPublicAccessBlock leaves {', '.join(worst)} off: set all four flags to True."


def _judge_encryption(found: list[Res]) -> str | None:
    for config in found:
        rules = get(config.props, "rules")
        if rules is UNKNOWN:
            return None
        algorithms = [get(rule, "applyServerSideEncryptionByDefault", "sseAlgorithm") for rule in rules or []]
        if any(a is UNKNOWN or a in SSE_ALGORITHMS for a in algorithms):
            return None
    return (
        "its BucketServerSideEncryptionConfiguration has no rule with apply_server_side_encryption_by_default."
        "sse_algorithm 'aws:kms' or 'AES256': add one."
    )


def _judge_versioning(found: list[Res]) -> str | None:
    states = [get(v.props, "versioningConfiguration", "status") for v in found]
    if any(s in ("Enabled", UNKNOWN) for s in states):
        return None
    return f"versioning is {states[0]!r}: set versioning_configuration.status='Enabled'."


def _denies_insecure_transport(document) -> bool:
    if document is UNKNOWN:
        return True
    for _, statement in statements(document):
        if not effect_is(statement, "Deny") or not principal_is_public(statement.get("Principal")):
            continue
        actions = lowered(statement.get("Action"))
        if not ({"s3:*", "*"} & set(actions)):
            continue
        conditions = statement.get("Condition")
        for operator, pairs in conditions.items() if isinstance(conditions, dict) else []:
            if operator.lower() != "bool" or not isinstance(pairs, dict):
                continue
            for key, value in pairs.items():
                if key.lower() == "aws:securetransport" and "false" in [str(v).lower() for v in _items(value)]:
                    return True
    return False


def _items(value) -> list:
    return value if isinstance(value, list) else [value]


def _judge_bucket_policy(found: list[Res]) -> str | None:
    if any(_denies_insecure_transport(policy_document(get(p.props, "policy"))) for p in found):
        return None
    return (
        "its BucketPolicy has no statement denying plain HTTP: add {Effect: 'Deny', Principal: '*', "
        "Action: 's3:*', Resource: [bucket ARN, bucket ARN + '/*'], Condition: {Bool: {'aws:SecureTransport': "
        "'false'}}}."
    )


def _judge_ownership(found: list[Res]) -> str | None:
    modes = [get(o.props, "rule", "objectOwnership") for o in found]
    if any(m in ("BucketOwnerEnforced", UNKNOWN) for m in modes):
        return None
    return f"object ownership is {modes[0]!r}: set rule.object_ownership='BucketOwnerEnforced' (disables ACLs)."


def _no_public_principal(props: dict, _name: str) -> Iterator[str]:
    document = policy_document(get(props, "policy"))
    for label, statement in statements(document):
        if not effect_is(statement, "Allow"):
            continue
        if principal_is_public(statement.get("Principal")):
            yield (
                f"bucket policy {label} allows Principal '*': grant a specific principal instead, e.g. "
                "{'Service': 'cloudfront.amazonaws.com'} with an 'AWS:SourceArn' condition on the distribution."
            )
        elif is_set(statement.get("NotPrincipal")):
            yield f"bucket policy {label} allows NotPrincipal (everyone else): name the allowed principals instead."


POLICIES = [
    stack_policy(
        "s3-public-access-block",
        "Every S3 bucket has a BucketPublicAccessBlock with all four block/ignore/restrict flags true.",
        _bucket_rule(
            PUBLIC_ACCESS_BLOCK,
            "no BucketPublicAccessBlock: add aws.s3.BucketPublicAccessBlock(bucket=..., block_public_acls=True, "
            "block_public_policy=True, ignore_public_acls=True, restrict_public_buckets=True).",
            _judge_public_access_block,
        ),
    ),
    stack_policy(
        "s3-server-side-encryption",
        "Every S3 bucket has a BucketServerSideEncryptionConfiguration (SSE-S3 or SSE-KMS).",
        _bucket_rule(
            ENCRYPTION,
            "no server-side encryption configuration: add aws.s3.BucketServerSideEncryptionConfiguration with "
            "a rule apply_server_side_encryption_by_default.sse_algorithm='aws:kms' (or 'AES256').",
            _judge_encryption,
        ),
    ),
    stack_policy(
        "s3-versioning-enabled",
        "Every S3 bucket has a BucketVersioning with status Enabled.",
        _bucket_rule(
            VERSIONING,
            "no BucketVersioning: add aws.s3.BucketVersioning(bucket=..., versioning_configuration="
            "{'status': 'Enabled'}).",
            _judge_versioning,
        ),
    ),
    stack_policy(
        "s3-deny-insecure-transport",
        "Every S3 bucket has a BucketPolicy that denies requests when aws:SecureTransport is false.",
        _bucket_rule(
            BUCKET_POLICY,
            "no BucketPolicy: add aws.s3.BucketPolicy with a Deny statement for Principal '*', Action 's3:*' "
            "and Condition {Bool: {'aws:SecureTransport': 'false'}}.",
            _judge_bucket_policy,
        ),
    ),
    stack_policy(
        "s3-bucket-owner-enforced",
        "Every S3 bucket has BucketOwnershipControls with object ownership BucketOwnerEnforced (ACLs off).",
        _bucket_rule(
            OWNERSHIP,
            "no BucketOwnershipControls: add aws.s3.BucketOwnershipControls(bucket=..., rule="
            "{'object_ownership': 'BucketOwnerEnforced'}).",
            _judge_ownership,
        ),
    ),
    resource_policy(
        "s3-no-public-bucket-policy",
        "No bucket policy statement allows Principal '*' (or {'AWS': '*'}) or uses NotPrincipal in an Allow.",
        BUCKET_POLICY + BUCKET,
        _no_public_principal,
    ),
]
