"""The OpenSearch domain behind the search index: encrypted, HTTPS only, fine-grained access by IAM."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra.config import OPENSEARCH_VERSION, StackConfig
from infra.documents import document, statement

TLS_POLICY = "Policy-Min-TLS-1-2-PFS-2023-10"


class Search(pulumi.ComponentResource):
    def __init__(
        self,
        config: StackConfig,
        master_role: aws.iam.Role,
        readers: list[aws.iam.Role],
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("edna:web:Search", "search", None, opts)
        count = config.opensearch_instance_count
        domain_name = config.prefix  # 3-28 lowercase characters
        domain_arn = pulumi.Output.concat(
            "arn:aws:es:", config.region, ":", aws.get_caller_identity_output().account_id, ":domain/", domain_name
        )
        roles = [master_role, *readers]
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
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.url = pulumi.Output.concat("https://", self.domain.endpoint)
        self.register_outputs({"endpoint": self.domain.endpoint})
