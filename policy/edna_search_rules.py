"""Search rules: every OpenSearch domain is encrypted, HTTPS-only and fine-grained; one that serves vector
indexes runs a k-NN-capable engine and gets a valid index template for them, fit for its nodes."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

if __package__:  # imported as policy.edna_search_rules from the repo root
    from policy.edna_values import UNKNOWN, Res, as_list, get, is_number, of_type, resource_policy, stack_policy
else:  # Pulumi runs `python __main__.py` inside policy/
    from edna_values import UNKNOWN, Res, as_list, get, is_number, of_type, resource_policy, stack_policy

DOMAIN = ("aws:opensearch/domain:Domain",)
# Index templates reach a domain through a Lambda invocation: {"index_templates": {name: body}} in its input.
INVOCATION = ("aws:lambda/invocation:Invocation",)
# A domain tagged with this serves vector indexes named `<value><dims>`.
VECTOR_TAG = "edna:vector-index-prefix"
VECTOR_PATTERN_SUFFIX = "-vectors-*"
# Cosine similarity with faiss (and lucene), both filtering during the graph search: OpenSearch 2.19.
KNN_MIN_VERSION = (2, 19)
KEYWORD_FIELDS = ("tenant", "dataset_id", "model_id", "item_id", "job_id")  # every vector query filters on them
VECTOR_ENGINES = {"lucene", "faiss"}

_OPENSEARCH_TLS12 = re.compile(r"^Policy-Min-TLS-1-[2-9]")
_ENGINE_VERSION = re.compile(r"^OpenSearch_(\d+)\.(\d+)$")


def _opensearch_at_rest(props: dict, _name: str) -> Iterator[str]:
    if get(props, "encryptAtRest", "enabled") not in (True, UNKNOWN):
        yield "encrypt_at_rest is not enabled: set encrypt_at_rest={'enabled': True} (optionally with kms_key_id)."


def _opensearch_node_to_node(props: dict, _name: str) -> Iterator[str]:
    if get(props, "nodeToNodeEncryption", "enabled") not in (True, UNKNOWN):
        yield "node_to_node_encryption is not enabled: set node_to_node_encryption={'enabled': True}."


def _opensearch_https(props: dict, _name: str) -> Iterator[str]:
    options = get(props, "domainEndpointOptions", default={})
    if get(options, "enforceHttps") not in (True, UNKNOWN):
        yield "domain_endpoint_options.enforce_https is not True: set it to True."
    policy = get(options, "tlsSecurityPolicy")
    if policy is not UNKNOWN and not (isinstance(policy, str) and _OPENSEARCH_TLS12.match(policy)):
        yield (
            f"domain_endpoint_options.tls_security_policy is {policy!r}: "
            "set it to 'Policy-Min-TLS-1-2-PFS-2023-10' (or another TLS 1.2 policy)."
        )


def _opensearch_fgac(props: dict, _name: str) -> Iterator[str]:
    if get(props, "advancedSecurityOptions", "enabled") not in (True, UNKNOWN):
        yield (
            "fine-grained access control is off: set advanced_security_options={'enabled': True, "
            "'anonymous_auth_enabled': False, 'master_user_options': {'master_user_arn': ...}}."
        )


def _vector_prefix(props: dict) -> str | None:
    """The vector index prefix a domain is tagged with; None when it serves none (or its tags are unknown)."""
    prefix = get(props, "tags", VECTOR_TAG)
    return prefix if isinstance(prefix, str) and prefix else None


def _knn_engine_version(props: dict, _name: str) -> Iterator[str]:
    prefix = _vector_prefix(props)
    version = get(props, "engineVersion")
    if prefix is None or version is UNKNOWN:
        return
    match = _ENGINE_VERSION.match(version) if isinstance(version, str) else None
    if not match or (int(match.group(1)), int(match.group(2))) < KNN_MIN_VERSION:
        shown = "unset (whatever is newest at creation)" if version is None else repr(version)
        yield (
            f"engine_version is {shown} but the domain serves vector indexes ({prefix}*): pin "
            f"'OpenSearch_{KNN_MIN_VERSION[0]}.{KNN_MIN_VERSION[1]}' or later, the first with cosine similarity "
            "on both faiss and lucene, each filtering during the graph search."
        )


def index_templates(props: dict) -> Any:
    """name -> body of the templates an invocation puts ({} for any other invocation); UNKNOWN if its input is."""
    raw = get(props, "input")
    if raw is UNKNOWN:
        return UNKNOWN
    try:
        payload = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        return {}
    templates = payload.get("index_templates") if isinstance(payload, dict) else None
    if not isinstance(templates, dict):
        return {}
    return {name: body for name, body in templates.items() if isinstance(body, dict)}


def _is_vector_template(body: dict) -> bool:
    patterns = as_list(body.get("index_patterns"))
    return any(isinstance(p, str) and p.endswith(VECTOR_PATTERN_SUFFIX) for p in patterns)


def _index_setting(settings: Any, key: str) -> Any:
    """An index setting given nested ({"index": {key: v}}) or flat ({"index.<key>": v})."""
    nested = get(settings, "index", key)
    return nested if nested is not None else get(settings, f"index.{key}")


def _count(value: Any, minimum: int) -> bool:
    return is_number(value) and float(value).is_integer() and value >= minimum


def _template_problems(body: dict) -> Iterator[str]:
    settings = get(body, "template", "settings", default={})
    if _index_setting(settings, "knn") not in (True, "true"):
        yield "does not set index.knn: true, without which its knn_vector fields cannot be searched"
    if not _count(_index_setting(settings, "number_of_shards"), 1):
        yield "sets no index.number_of_shards (1 or more)"
    if not _count(_index_setting(settings, "number_of_replicas"), 0):
        yield "sets no index.number_of_replicas (0 or more)"
    mappings = get(body, "template", "mappings", default={})
    if get(mappings, "dynamic") not in (False, "false", "strict"):
        yield "maps unknown fields dynamically: set mappings.dynamic to false or 'strict'"
    fields = get(mappings, "properties", default={})
    for name in KEYWORD_FIELDS:
        if get(fields, name, "type") != "keyword":
            yield f"does not map {name!r} as a keyword, which the tenant, dataset and model filters need"
    if get(fields, "finished_at", "type") != "double":
        yield "does not map 'finished_at' as a double (a float's 2-minute steps blur which job is older)"
    vector = get(fields, "vector")
    if vector is not None:
        space = get(vector, "method", "space_type") or get(vector, "space_type")
        if get(vector, "type") != "knn_vector" or get(vector, "method", "name") != "hnsw" or space != "cosinesimil":
            yield "maps 'vector' other than as a knn_vector with method hnsw and space_type cosinesimil"
        if get(vector, "method", "engine") not in VECTOR_ENGINES:
            yield f"maps 'vector' on an engine other than {' or '.join(sorted(VECTOR_ENGINES))}"


def _vector_template_valid(props: dict, _name: str) -> Iterator[str]:
    templates = index_templates(props)
    if templates is UNKNOWN:
        return
    for name, body in sorted(templates.items()):
        if _is_vector_template(body):
            for problem in _template_problems(body):
                yield f"index template {name!r} {problem}."


def _vector_templates_installed(resources: list[Res]) -> Iterator[tuple[str, str]]:
    installed, unknown = [], False
    for invocation in of_type(resources, INVOCATION):
        templates = index_templates(invocation.props)
        if templates is UNKNOWN:
            unknown = True
        else:
            installed += [body for body in templates.values() if _is_vector_template(body)]
    for domain in of_type(resources, DOMAIN):
        prefix = _vector_prefix(domain.props)
        if prefix is None:
            continue
        covering = [body for body in installed if f"{prefix}*" in as_list(body.get("index_patterns"))]
        if not covering and not unknown:
            yield (
                domain.urn,
                f"OpenSearch domain {domain.name!r} serves vector indexes {prefix}* but no index template for them "
                "is installed: put one (index.knn, shards, replicas, keyword filter fields) at deploy time.",
            )
        count = get(domain.props, "clusterConfig", "instanceCount", default=1)
        for body in covering:
            replicas = _index_setting(get(body, "template", "settings", default={}), "number_of_replicas")
            if not (is_number(count) and _count(replicas, 0)):
                continue
            if replicas > count - 1:
                yield (
                    domain.urn,
                    f"the vector index template asks {replicas:g} replica(s) of each shard but domain "
                    f"{domain.name!r} has {count:g} node(s): a replica is never assigned and the index stays "
                    "yellow; set number_of_replicas to the node count - 1 at most.",
                )
            elif count >= 2 and replicas < 1:
                yield (
                    domain.urn,
                    f"the vector index template keeps no replica although domain {domain.name!r} has "
                    f"{count:g} nodes: losing one node loses vector search; set number_of_replicas to 1.",
                )


POLICIES = [
    resource_policy(
        "opensearch-encryption-at-rest",
        "Every OpenSearch domain encrypts data at rest.",
        DOMAIN,
        _opensearch_at_rest,
    ),
    resource_policy(
        "opensearch-node-to-node-encryption",
        "Every OpenSearch domain encrypts traffic between nodes.",
        DOMAIN,
        _opensearch_node_to_node,
    ),
    resource_policy(
        "opensearch-https-tls12",
        "Every OpenSearch domain enforces HTTPS with a TLS 1.2+ security policy.",
        DOMAIN,
        _opensearch_https,
    ),
    resource_policy(
        "opensearch-fine-grained-access",
        "Every OpenSearch domain enables fine-grained access control (advanced security options).",
        DOMAIN,
        _opensearch_fgac,
    ),
    resource_policy(
        "opensearch-knn-engine-version",
        "Every OpenSearch domain serving vector indexes runs OpenSearch 2.19 or later.",
        DOMAIN,
        _knn_engine_version,
    ),
    resource_policy(
        "opensearch-vector-template-valid",
        "Every vector index template sets index.knn, shards and replicas, and keyword filter fields.",
        INVOCATION,
        _vector_template_valid,
    ),
    stack_policy(
        "opensearch-vector-template-installed",
        "Every OpenSearch domain serving vector indexes gets an index template for them, its replicas fit for "
        "the domain's nodes.",
        _vector_templates_installed,
    ),
]
