"""Every policy of the pack passes the compliant stack and fires, alone, on a stack broken its way."""

from __future__ import annotations

import json
import runpy
import sys
from collections.abc import Callable
from pathlib import Path

import pulumi_policy
import pytest
from google.protobuf import struct_pb2
from policy_stacks import (
    copy_stack,
    deny_insecure_transport,
    drop,
    everywhere,
    find,
    good_stack,
    res,
    s3_origin,
)
from pulumi.runtime import proto
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy, StackValidationPolicy
from pulumi_policy.proxy import UNKNOWN_OBJECT_VALUE, UNKNOWN_STRING_VALUE

from policy import edna_policies
from policy.edna_policies import ALL_POLICIES, POLICIES_BY_NAME, Violation, check, format_violations

POLICY_DIR = Path(__file__).resolve().parents[2] / "policy"
POLICY_MODULES = (
    "edna_values",
    "edna_s3_rules",
    "edna_edge_rules",
    "edna_search_rules",
    "edna_service_rules",
    "edna_policies",
)

Breaker = Callable[[list[dict]], None]


def _set(name: str, /, **props) -> Breaker:
    return lambda stack: find(stack, name).update(props)


def _pop(name: str, *keys: str) -> Breaker:
    def breaker(stack: list[dict]) -> None:
        for key in keys:
            find(stack, name).pop(key)

    return breaker


def _drop(name: str) -> Breaker:
    return lambda stack: drop(stack, name)


def _edit(name: str, edit: Callable[[dict], None]) -> Breaker:
    return lambda stack: edit(find(stack, name))


def _add(resource: dict) -> Breaker:
    return lambda stack: stack.append(resource)


def _public_read(principal, *, key: str = "Principal") -> Breaker:
    statement = {
        "Effect": "Allow",
        key: principal,
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::edna-site-dev/*",
    }
    document = {"Statement": [statement, deny_insecure_transport("edna-site-dev")]}
    return _set("site-policy", policy=json.dumps(document))


def _wildcard(action, resource="*", *, as_json: bool = True, single: bool = False) -> dict:
    statement = {"Effect": "Allow", "Action": action, "Resource": resource}
    document = {"Version": "2012-10-17", "Statement": statement if single else [statement]}
    return json.dumps(document) if as_json else document


def _ordered_allow_all(props: dict) -> None:
    props["orderedCacheBehaviors"][0]["viewerProtocolPolicy"] = "allow-all"


def _mwaa_worker_logs_off(props: dict) -> None:
    props["loggingConfiguration"]["workerLogs"]["enabled"] = False


def _vector_template(edit: Callable[[dict], None]) -> Breaker:
    """Edit the vector index template inside the search-templates invocation's JSON input."""

    def breaker(stack: list[dict]) -> None:
        props = find(stack, "search-templates")
        payload = json.loads(props["input"])
        edit(payload["index_templates"]["edna-items-vectors"])
        props["input"] = json.dumps(payload)

    return breaker


def _settings(**values) -> Breaker:
    return _vector_template(lambda body: body["template"]["settings"]["index"].update(values))


def _field(name: str, mapping: dict | None) -> Breaker:
    def edit(body: dict) -> None:
        fields = body["template"]["mappings"]["properties"]
        if mapping is None:
            del fields[name]
        else:
            fields[name] = mapping

    return _vector_template(edit)


def _vector_field(**method) -> Breaker:
    mapping = {"type": "knn_vector", "dimension": 128, "method": {"name": "hnsw", **method}}
    return _field("vector", mapping)


BAD: list[tuple[str, str, Breaker]] = [
    ("s3-public-access-block", "missing", _drop("data-public-access")),
    ("s3-public-access-block", "flag-off", _set("site-public-access", restrictPublicBuckets=False)),
    ("s3-server-side-encryption", "missing", _drop("data-encryption")),
    ("s3-server-side-encryption", "v2-no-rules", _set("legacy-encryption", rules=[])),
    ("s3-versioning-enabled", "suspended", _set("data-versioning", versioningConfiguration={"status": "Suspended"})),
    ("s3-versioning-enabled", "v2-missing", _drop("legacy-versioning")),
    ("s3-deny-insecure-transport", "no-policy", _drop("data-policy")),
    (
        "s3-deny-insecure-transport",
        "condition-true",
        _set(
            "data-policy",
            policy={"Statement": {**deny_insecure_transport("edna-data-dev"), "Condition": {"Bool": {"x": "false"}}}},
        ),
    ),
    ("s3-bucket-owner-enforced", "object-writer", _set("data-ownership", rule={"objectOwnership": "ObjectWriter"})),
    ("s3-bucket-owner-enforced", "missing", _drop("legacy-ownership")),
    ("s3-no-public-bucket-policy", "star", _public_read("*")),
    ("s3-no-public-bucket-policy", "aws-star", _public_read({"AWS": "*"})),
    ("s3-no-public-bucket-policy", "aws-star-list", _public_read({"AWS": ["*"]})),
    ("s3-no-public-bucket-policy", "not-principal", _public_read({"AWS": "arn:aws:iam::1:root"}, key="NotPrincipal")),
    (
        "cloudfront-viewer-https",
        "default-allow-all",
        _edit("cdn", lambda p: p["defaultCacheBehavior"].update(viewerProtocolPolicy="allow-all")),
    ),
    ("cloudfront-viewer-https", "ordered-allow-all", _edit("cdn-custom-domain", _ordered_allow_all)),
    (
        "cloudfront-tls-minimum",
        "2019",
        _edit("cdn-custom-domain", lambda p: p["viewerCertificate"].update(minimumProtocolVersion="TLSv1.2_2019")),
    ),
    (
        "cloudfront-tls-minimum",
        "unset",
        _edit("cdn-custom-domain", lambda p: p["viewerCertificate"].pop("minimumProtocolVersion")),
    ),
    (
        "cloudfront-s3-origin-access-control",
        "legacy-oai",
        _edit(
            "cdn",
            lambda p: p["origins"][0].update(
                s3OriginConfig={"originAccessIdentity": "origin-access-identity/cloudfront/E1"}
            ),
        ),
    ),
    (
        "cloudfront-s3-origin-access-control",
        "website",
        _edit("cdn", lambda p: p["origins"][0].update(domainName="edna-site-dev.s3-website-us-east-1.amazonaws.com")),
    ),
    (
        "cloudfront-s3-origin-access-control",
        "no-oac",
        _edit("cdn", lambda p: p["origins"][0].pop("originAccessControlId")),
    ),
    (
        "cloudfront-response-headers-policy",
        "missing",
        _edit("cdn", lambda p: p["defaultCacheBehavior"].pop("responseHeadersPolicyId")),
    ),
    ("apigateway-route-jwt", "none", _set("api-proxy", authorizationType="NONE")),
    ("apigateway-route-jwt", "no-authorizer", _pop("api-proxy", "authorizerId")),
    ("apigateway-route-jwt", "unset", _pop("api-proxy", "authorizationType", "authorizerId")),
    ("apigateway-stage-access-logs", "missing", _pop("default-stage", "accessLogSettings")),
    (
        "apigateway-stage-access-logs",
        "no-format",
        _edit("default-stage", lambda p: p["accessLogSettings"].pop("format")),
    ),
    ("apigateway-stage-throttling", "missing", _pop("default-stage", "defaultRouteSettings")),
    (
        "apigateway-stage-throttling",
        "zero-rate",
        _edit("default-stage", lambda p: p["defaultRouteSettings"].update(throttlingRateLimit=0)),
    ),
    ("lambda-reserved-concurrency", "minus-one", _set("api", reservedConcurrentExecutions=-1)),
    ("lambda-reserved-concurrency", "unset", _pop("ingest", "reservedConcurrentExecutions")),
    ("lambda-reserved-concurrency", "zero", _set("api", reservedConcurrentExecutions=0)),
    ("lambda-log-group", "no-group", _set("api-logs", name="/aws/lambda/something-else")),
    ("lambda-log-group", "unnamed", _pop("api", "name", "id")),
    (
        "lambda-log-group",
        "unmanaged-target",
        _edit("ingest", lambda p: p["loggingConfig"].update(logGroup="/edna/elsewhere")),
    ),
    ("cloudwatch-log-retention", "unset", _pop("api-access-logs", "retentionInDays")),
    ("cloudwatch-log-retention", "zero", _set("ingest-logs", retentionInDays=0)),
    ("opensearch-encryption-at-rest", "off", _set("search", encryptAtRest={"enabled": False})),
    ("opensearch-encryption-at-rest", "unset", _pop("search", "encryptAtRest")),
    ("opensearch-node-to-node-encryption", "unset", _pop("search", "nodeToNodeEncryption")),
    (
        "opensearch-https-tls12",
        "http",
        _set(
            "search", domainEndpointOptions={"enforceHttps": False, "tlsSecurityPolicy": "Policy-Min-TLS-1-2-2019-07"}
        ),
    ),
    (
        "opensearch-https-tls12",
        "tls10",
        _set("search", domainEndpointOptions={"enforceHttps": True, "tlsSecurityPolicy": "Policy-Min-TLS-1-0-2019-07"}),
    ),
    ("opensearch-fine-grained-access", "off", _set("search", advancedSecurityOptions={"enabled": False})),
    ("opensearch-knn-engine-version", "2.13", _set("search", engineVersion="OpenSearch_2.13")),
    ("opensearch-knn-engine-version", "elasticsearch", _set("search", engineVersion="Elasticsearch_7.10")),
    ("opensearch-knn-engine-version", "unset", _pop("search", "engineVersion")),
    ("opensearch-vector-template-valid", "knn-off", _settings(knn=False)),
    ("opensearch-vector-template-valid", "no-shards", _vector_template(lambda b: b["template"].pop("settings"))),
    (
        "opensearch-vector-template-valid",
        "dynamic",
        _vector_template(lambda b: b["template"]["mappings"].pop("dynamic")),
    ),
    ("opensearch-vector-template-valid", "tenant-text", _field("tenant", {"type": "text"})),
    ("opensearch-vector-template-valid", "no-model", _field("model_id", None)),
    ("opensearch-vector-template-valid", "finished-as-keyword", _field("finished_at", {"type": "keyword"})),
    ("opensearch-vector-template-valid", "vector-l2", _vector_field(space_type="l2", engine="lucene")),
    ("opensearch-vector-template-valid", "vector-nmslib", _vector_field(space_type="cosinesimil", engine="nmslib")),
    ("opensearch-vector-template-installed", "missing", _drop("search-templates")),
    (
        "opensearch-vector-template-installed",
        "other-prefix",
        _vector_template(lambda b: b.update(index_patterns=["someone-elses-vectors-*"])),
    ),
    ("opensearch-vector-template-installed", "replica-on-one-node", _set("search", clusterConfig={"instanceCount": 1})),
    ("opensearch-vector-template-installed", "no-replica-on-two-nodes", _settings(number_of_replicas=0)),
    ("mwaa-private-webserver", "public", _set("airflow", webserverAccessMode="PUBLIC_ONLY")),
    ("mwaa-private-webserver", "unset", _pop("airflow", "webserverAccessMode")),
    ("mwaa-logging", "worker-off", _edit("airflow", _mwaa_worker_logs_off)),
    ("mwaa-logging", "unset", _pop("airflow", "loggingConfiguration")),
    (
        "iam-no-wildcard-allow",
        "role-inline-star",
        _set("api-role", inlinePolicies=[{"name": "admin", "policy": _wildcard("*")}]),
    ),
    ("iam-no-wildcard-allow", "role-policy-s3-star", _set("api-role-data", policy=_wildcard(["s3:*"], as_json=False))),
    ("iam-no-wildcard-allow", "policy-star-star", _set("queue-consumer", policy=_wildcard("*:*", single=True))),
    (
        "iam-no-wildcard-allow",
        "bucket-policy-s3-star",
        _add(
            res(
                "aws:s3/bucketPolicy:BucketPolicy",
                "extra-policy",
                bucket="edna-data-dev",
                policy={
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "logging.s3.amazonaws.com"},
                            "Action": "S3:*",
                            "Resource": ["*"],
                        },
                        deny_insecure_transport("edna-data-dev"),
                    ]
                },
            )
        ),
    ),
    ("sqs-encryption", "unencrypted", _pop("events", "sqsManagedSseEnabled")),
    ("sqs-encryption", "sse-off", _set("events-dlq", kmsMasterKeyId="", sqsManagedSseEnabled=False)),
    ("cognito-deletion-protection", "inactive", _set("users", deletionProtection="INACTIVE")),
    ("cognito-deletion-protection", "unset", _pop("users", "deletionProtection")),
    ("cognito-password-length", "eight", _set("users", passwordPolicy={"minimumLength": 8})),
    ("cognito-password-length", "unset", _pop("users", "passwordPolicy")),
]


def test_the_compliant_stack_passes_every_policy() -> None:
    violations = check(good_stack())
    assert violations == [], format_violations(violations)


@pytest.mark.parametrize(("policy", "breaker"), [pytest.param(p, b, id=f"{p}:{c}") for p, c, b in BAD])
def test_a_broken_stack_fires_exactly_its_policy(policy: str, breaker: Breaker) -> None:
    stack = copy_stack(good_stack())
    breaker(stack)
    violations = check(stack)
    assert {v.policy for v in violations} == {policy}, format_violations(violations)
    assert all(v.message and v.resource != "<stack>" for v in violations)


def test_every_policy_has_a_failing_case() -> None:
    assert {p for p, _, _ in BAD} == set(POLICIES_BY_NAME)


def test_violations_name_the_resource_and_what_to_change() -> None:
    stack = copy_stack(good_stack())
    drop(stack, "data-versioning")
    find(stack, "api")["reservedConcurrentExecutions"] = -1
    assert check(stack) == [
        Violation(
            "s3-versioning-enabled",
            "data",
            "S3 bucket 'data': no BucketVersioning: add aws.s3.BucketVersioning(bucket=..., "
            "versioning_configuration={'status': 'Enabled'}).",
        ),
        Violation(
            "lambda-reserved-concurrency",
            "api",
            "reserved_concurrent_executions is -1: reserve at least 1 so one function cannot exhaust the "
            "account's concurrency (and a runaway cannot scale without bound).",
        ),
    ]


def test_violations_carry_the_urn_when_one_is_given() -> None:
    urn = "urn:pulumi:dev::edna::edna:edge:Edge$aws:sqs/queue:Queue::events"
    [violation] = check([{"type": "aws:sqs/queue:Queue", "name": "events", "urn": urn, "props": {}}])
    assert violation.resource == urn
    assert str(violation).startswith(f"[sqs-encryption] {urn}: ")


# ---- preview: unknown values and property dependencies ---------------------------------------------


def _preview(stack: list[dict]) -> list[dict]:
    """As in a preview of a new stack: companions' `bucket` unknown, linked to the bucket by dependency."""
    buckets = {
        r["props"]["bucket"]: r["name"]
        for r in stack
        if r["type"].startswith("aws:s3/bucket") and r["type"].endswith(("Bucket", "BucketV2"))
    }
    for resource in stack:
        props = resource["props"]
        if not resource["type"].endswith(("Bucket", "BucketV2")) and props.get("bucket") in buckets:
            resource["property_dependencies"] = {"bucket": [buckets[props["bucket"]]]}
            props["bucket"] = UNKNOWN_STRING_VALUE
    return stack


def test_preview_companions_are_matched_by_property_dependencies() -> None:
    stack = _preview(copy_stack(good_stack()))
    assert check(stack) == []
    drop(stack, "legacy-versioning")
    assert [(v.policy, v.resource) for v in check(stack)] == [("s3-versioning-enabled", "legacy")]


def test_a_companion_of_unknown_bucket_without_dependencies_blames_no_bucket() -> None:
    stack = copy_stack(good_stack())
    drop(stack, "data-versioning")
    find(stack, "site-versioning")["bucket"] = UNKNOWN_STRING_VALUE  # could be data's: can't tell yet
    assert check(stack) == []


def test_companions_of_buckets_outside_the_stack_are_ignored() -> None:
    stack = copy_stack(good_stack())
    find(stack, "data-versioning")["bucket"] = "someone-elses-bucket"
    assert [(v.policy, v.resource) for v in check(stack)] == [("s3-versioning-enabled", "data")]


@pytest.mark.parametrize(
    "unknowns",
    [
        pytest.param(lambda props: everywhere(props, lambda _: UNKNOWN_STRING_VALUE), id="every-leaf"),
        pytest.param(lambda props: dict.fromkeys(props, UNKNOWN_OBJECT_VALUE), id="every-prop"),
    ],
)
def test_unknown_values_never_crash_nor_fire(unknowns) -> None:
    stack = copy_stack(good_stack())
    for resource in stack:
        resource["props"] = unknowns(resource["props"])
    assert check(stack) == []


def test_a_bucket_named_only_by_its_id_is_matched() -> None:
    stack = copy_stack(good_stack())
    del find(stack, "data")["bucket"]
    assert check(stack) == []


def test_a_lambda_log_group_named_after_the_function_output_counts() -> None:
    stack = copy_stack(good_stack())
    find(stack, "api-logs")["name"] = UNKNOWN_STRING_VALUE
    next(r for r in stack if r["name"] == "api-logs")["property_dependencies"] = {"name": ["api"]}
    assert check(stack) == []


def test_a_website_endpoint_is_refused_even_with_oac() -> None:
    stack = copy_stack(good_stack())
    find(stack, "cdn")["origins"][0] = {**s3_origin("x"), "domainName": "x.s3-website.eu-west-1.amazonaws.com"}
    assert [v.policy for v in check(stack)] == ["cloudfront-s3-origin-access-control"]


def test_the_default_cloudfront_certificate_is_not_held_to_a_minimum_it_cannot_enforce() -> None:
    stack = copy_stack(good_stack())
    find(stack, "cdn")["viewerCertificate"] = {"cloudfrontDefaultCertificate": True, "minimumProtocolVersion": "TLSv1"}
    assert check(stack) == []


@pytest.mark.parametrize("version", ["TLSv1.2_2021", "TLSv1.2_2025", "TLSv1.3_2025"])
def test_newer_cloudfront_tls_policies_pass(version: str) -> None:
    stack = copy_stack(good_stack())
    find(stack, "cdn-custom-domain")["viewerCertificate"]["minimumProtocolVersion"] = version
    assert check(stack) == []


def test_a_domain_serving_no_vector_indexes_is_held_to_no_knn_rule() -> None:
    stack = copy_stack(good_stack())
    del find(stack, "search")["tags"]
    find(stack, "search")["engineVersion"] = "OpenSearch_2.13"
    drop(stack, "search-templates")
    assert check(stack) == []


def test_flat_index_settings_count_as_nested_ones() -> None:
    flat = {"index.knn": "true", "index.number_of_shards": 1, "index.number_of_replicas": 1.0}
    stack = copy_stack(good_stack())
    _vector_template(lambda body: body["template"].update(settings=flat))(stack)
    assert check(stack) == []


def test_an_invocation_whose_input_is_not_json_puts_no_template() -> None:
    stack = copy_stack(good_stack())
    find(stack, "grant-search")["input"] = "not json"
    assert check(stack) == []
    find(stack, "search-templates")["input"] = "not json"
    assert [v.policy for v in check(stack)] == ["opensearch-vector-template-installed"]


def test_a_template_of_unknown_input_in_a_preview_is_not_missing() -> None:
    stack = copy_stack(good_stack())
    find(stack, "search-templates")["input"] = UNKNOWN_STRING_VALUE
    assert check(stack) == []


def test_check_rejects_malformed_resources() -> None:
    with pytest.raises(TypeError, match="needs a 'name'"):
        check([{"type": "aws:sqs/queue:Queue", "props": {}}])
    with pytest.raises(ValueError, match="share a urn"):
        check([res("aws:sqs/queue:Queue", "q"), res("aws:sqs/queue:Queue", "q")])


# ---- the engine's own code path ----------------------------------------------------------------------


def _struct(props: dict) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(props)
    return struct


def _servicer():
    # Private, but it is exactly what `pulumi preview` talks to; building it starts no server.
    return pulumi_policy.policy._PolicyAnalyzerServicer(
        "edna-security", "0.0.1", ALL_POLICIES, EnforcementLevel.MANDATORY
    )


def test_the_engine_path_reports_a_resource_violation_and_tolerates_unknowns() -> None:
    def analyze(props: dict) -> list[str]:
        request = proto.AnalyzeRequest(
            type="aws:lambda/function:Function", properties=_struct(props), urn="urn:f", name="f"
        )
        return [d.policyName for d in _servicer().Analyze(request, None).diagnostics]

    assert analyze({"reservedConcurrentExecutions": -1}) == ["lambda-reserved-concurrency"]
    assert analyze({"reservedConcurrentExecutions": 5}) == []  # arrives as 5.0 through protobuf
    assert analyze({"reservedConcurrentExecutions": UNKNOWN_STRING_VALUE}) == []


def test_the_engine_path_matches_companions_by_property_dependencies() -> None:
    stack = [r for r in good_stack() if r["name"].startswith("data")]
    stack = [r for r in _preview(stack) if r["name"] != "data-ownership"]
    urns = {r["name"]: f"urn:pulumi:dev::edna::{r['type']}::{r['name']}" for r in stack}
    request = proto.AnalyzeStackRequest(
        resources=[
            proto.AnalyzerResource(
                type=r["type"],
                name=r["name"],
                urn=urns[r["name"]],
                properties=_struct(r["props"]),
                propertyDependencies={
                    key: proto.AnalyzerPropertyDependencies(urns=[urns[n] for n in names])
                    for key, names in r.get("property_dependencies", {}).items()
                },
            )
            for r in stack
        ]
    )
    diagnostics = _servicer().AnalyzeStack(request, None).diagnostics
    assert [(d.policyName, d.urn) for d in diagnostics] == [("s3-bucket-owner-enforced", urns["data"])]


# ---- the pack -------------------------------------------------------------------------------------------


def test_the_pack_has_at_least_15_named_mandatory_policies() -> None:
    names = [p.name for p in ALL_POLICIES]
    assert len(names) >= 15
    assert len(set(names)) == len(names)
    for policy in ALL_POLICIES:
        assert isinstance(policy, ResourceValidationPolicy | StackValidationPolicy)
        assert policy.enforcement_level is EnforcementLevel.MANDATORY
        assert policy.description.endswith((".", ")")), policy.name


def test_the_entry_point_serves_the_same_policy_list(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[dict] = []
    monkeypatch.setattr(pulumi_policy, "PolicyPack", lambda **kwargs: built.append(kwargs))
    # __main__ imports `edna_policies` as a top-level module, as Pulumi runs it inside policy/.
    monkeypatch.setitem(sys.modules, "edna_policies", edna_policies)
    runpy.run_path(str(POLICY_DIR / "__main__.py"), run_name="__main__")
    assert built == [
        {"name": "edna-security", "enforcement_level": EnforcementLevel.MANDATORY, "policies": ALL_POLICIES}
    ]
    assert built[0]["policies"] is ALL_POLICIES


def test_the_policy_modules_import_as_pulumi_runs_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inside policy/ the modules are top-level (no package): their imports must work that way too."""
    monkeypatch.syspath_prepend(str(POLICY_DIR))
    for name in POLICY_MODULES:
        monkeypatch.delitem(sys.modules, name, raising=False)
    top_level = __import__("edna_policies")
    assert top_level.__package__ == ""
    assert [p.name for p in top_level.ALL_POLICIES] == [p.name for p in ALL_POLICIES]
    assert top_level.check(good_stack()) == []
    for name in POLICY_MODULES:
        sys.modules.pop(name, None)


def test_the_pack_manifest_and_pin() -> None:
    manifest = (POLICY_DIR / "PulumiPolicy.yaml").read_text()
    assert "name: python" in manifest
    assert "description:" in manifest
    assert "pulumi-policy==1.21.0" in (POLICY_DIR / "requirements.txt").read_text().split()
