"""The OpenSearch domain behind the search and vector indexes: encrypted, HTTPS only, fine-grained
access by IAM, sized for the HNSW graphs of the vectors it must hold."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from infra.config import OPENSEARCH_VERSION, StackConfig
from infra.documents import document, statement
from infra.knn_memory import graph_bytes, node_budget_bytes
from infra.search_templates import index_templates, vector_index_prefix

TLS_POLICY = "Policy-Min-TLS-1-2-PFS-2023-10"
SEARCH_INDEX = "edna-items"  # the service's EDNA_SEARCH_INDEX; its vector indexes are named after it
# Tags the domain with the vector indexes it serves: the policy pack holds such a domain to k-NN's needs.
VECTOR_INDEX_TAG = "edna:vector-index-prefix"
PUT_INDEX_TEMPLATES = "service.handlers.put_index_templates"


class Search(pulumi.ComponentResource):
    def __init__(
        self,
        config: StackConfig,
        master_role: aws.iam.Role,
        readers: list[aws.iam.Role],
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("edna:web:Search", "search", None, opts)
        _check_knn_memory(config)
        count = config.opensearch_instance_count
        domain_name = config.prefix  # 3-28 lowercase characters
        domain_arn = pulumi.Output.concat(
            "arn:aws:es:", config.region, ":", aws.get_caller_identity_output().account_id, ":domain/", domain_name
        )
        roles = [master_role, *readers]
        self.index_templates = index_templates(SEARCH_INDEX, count)
        # k-NN needs no switch: the plugin ships enabled with every OpenSearch engine version. Its
        # settings are cluster settings (`PUT _cluster/settings` by the master), not AdvancedOptions,
        # which OpenSearch Service takes for a few fixed keys only; the stack keeps their defaults, which
        # _check_knn_memory assumes. OpenSearch 2.19 is the first to do cosine similarity with faiss
        # as well as lucene, and both engines filter during the graph search (faiss since 2.9).
        self.domain = aws.opensearch.Domain(
            "search",
            domain_name=domain_name,
            engine_version=OPENSEARCH_VERSION,
            cluster_config={
                "instance_type": config.opensearch_instance_type,
                "instance_count": count,
                "zone_awareness_enabled": count > 1,
                "zone_awareness_config": {"availability_zone_count": 2} if count > 1 else None,
            },
            ebs_options={"ebs_enabled": True, "volume_type": "gp3", "volume_size": config.opensearch_volume_gb},
            encrypt_at_rest={"enabled": True},
            node_to_node_encryption={"enabled": True},
            domain_endpoint_options={"enforce_https": True, "tls_security_policy": TLS_POLICY},
            advanced_security_options={
                "enabled": True,
                "anonymous_auth_enabled": False,
                "internal_user_database_enabled": False,
                "master_user_options": {"master_user_arn": master_role.arn},
            },
            # IAM lets the service's roles reach the domain; fine-grained access decides what they may do.
            access_policies=document(
                statement(
                    ["es:ESHttp*"],
                    [pulumi.Output.concat(domain_arn, "/*")],
                    Principal={"AWS": [r.arn for r in roles]},
                )
            ),
            tags={VECTOR_INDEX_TAG: vector_index_prefix(SEARCH_INDEX)},
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.url = pulumi.Output.concat("https://", self.domain.endpoint)
        self.register_outputs({"endpoint": self.domain.endpoint})

    def install_templates(self, function: aws.lambda_.Function, alias: aws.lambda_.Alias) -> None:
        """Put the index templates into the domain at deploy time, before the service creates an index.

        pulumi-aws has no OpenSearch index-template resource and only the master (the API's role) may
        put one, so the API function does it, as it maps the other roles (Zappa's `command` event).
        A changed template is a new input, a replaced domain a new endpoint: either invokes it again,
        and putting the same template twice changes nothing.
        """
        self.templates = aws.lambda_.Invocation(
            "search-templates",
            function_name=function.name,
            qualifier=alias.name,
            input=json.dumps({"command": PUT_INDEX_TEMPLATES, "index_templates": self.index_templates}, sort_keys=True),
            triggers={"endpoint": self.domain.endpoint},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.domain, alias]),
        )


def _check_knn_memory(config: StackConfig) -> None:
    """Refuse a domain whose nodes cannot hold the graphs of the vectors it must serve. Each vector index
    has one shard and its replica on another node, so one node may have to hold every graph."""
    need = graph_bytes(config.opensearch_vectors, config.opensearch_vector_dims)
    budget = node_budget_bytes(config.opensearch_instance_type)
    if need > budget:
        raise ValueError(
            f"{config.opensearch_vectors} vectors of {config.opensearch_vector_dims} dimensions need "
            f"{need / 2**30:.2f} GiB of HNSW graphs per node; a {config.opensearch_instance_type} gives k-NN "
            f"{budget / 2**30:.2f} GiB: pick a larger edna:opensearchInstanceType or lower edna:opensearchVectors"
        )
