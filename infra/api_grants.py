"""What each of the API's four functions may do: one least-privilege IAM policy document each.

The API serves every tenant's requests, the indexer and the thumbnailer drain the data bucket's
queues (the thumbnailer parses hostile bytes, so it writes thumbnails only), and the webhooks function
calls URLs that tenants choose, so it reaches webhook records and its own queue, nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from infra.data import Data
from infra.documents import document, statement

SEARCH_WRITES = ["es:ESHttpGet", "es:ESHttpHead", "es:ESHttpPost", "es:ESHttpPut", "es:ESHttpDelete"]
QUEUE_CONSUMER = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"]
COGNITO_MEMBER_ACTIONS = [
    f"cognito-idp:{action}"
    for action in (
        "ListUsersInGroup",
        "AdminGetUser",
        "AdminListGroupsForUser",
        "AdminCreateUser",
        "AdminAddUserToGroup",
        "AdminRemoveUserFromGroup",
        "AdminDisableUser",
        "AdminDeleteUser",
        "AdminUserGlobalSignOut",  # a removed member's refresh tokens stop at once
    )
]
COGNITO_APPLICATION_ACTIONS = [
    f"cognito-idp:{action}" for action in ("CreateUserPoolClient", "DeleteUserPoolClient", "ListUserPoolClients")
]


@dataclass
class Arns:
    """The resources the policies name: the data bucket and its queues, the search domain, the log groups."""

    data: Data
    search_domain: pulumi.Output
    log_groups: dict[str, pulumi.Output]

    @property
    def tenants(self) -> pulumi.Output:
        return pulumi.Output.concat(self.data.bucket.arn, "/tenants/*")

    @property
    def search_paths(self) -> pulumi.Output:
        return pulumi.Output.concat(self.search_domain, "/*")

    def logs(self, function: str) -> pulumi.Output:
        return pulumi.Output.concat(self.log_groups[function], ":*")


def api(
    arns: Arns, pool: pulumi.Output, authorizer: pulumi.Output, secrets_key: pulumi.Output, airflow_user: pulumi.Output
) -> pulumi.Output:
    """Every tenant's requests: items, the ledger, members and applications, the search index, the
    queues it feeds, the MWAA REST API of its jobs."""
    return document(
        statement(
            [
                "s3:GetObject",
                "s3:PutObject",
                "s3:DeleteObject",
                "s3:GetObjectTagging",
                "s3:PutObjectTagging",
                "s3:AbortMultipartUpload",
                "s3:ListMultipartUploadParts",
            ],
            [arns.tenants],
        ),
        statement(
            ["s3:ListBucket", "s3:ListBucketMultipartUploads"],
            [arns.data.bucket.arn],
            Condition={"StringLike": {"s3:prefix": ["tenants/*", "ledger/*", "identity/*"]}},
        ),
        # Usage shards, audit parts and quotas (service/vocabulary/layout.py, "the ledger").
        statement(["s3:GetObject", "s3:PutObject"], [pulumi.Output.concat(arns.data.bucket.arn, "/ledger/*")]),
        # Members: the service manages the users of the caller's tenant (service/adapters/identity).
        statement(COGNITO_MEMBER_ACTIONS, [pool]),
        # Applications: their records, their app clients, and the authorizer's audiences of them.
        statement(
            ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            [pulumi.Output.concat(arns.data.bucket.arn, "/identity/*")],
        ),
        statement(COGNITO_APPLICATION_ACTIONS, [pool]),
        statement(["apigateway:GET", "apigateway:PATCH"], [authorizer]),
        statement(["kms:Encrypt"], [secrets_key]),  # seals a new webhook's secret
        statement(SEARCH_WRITES, [arns.search_paths]),
        statement(["sqs:SendMessage"], [arns.data.thumbnails.arn]),  # `complete` queues a new image's thumbnail
        statement(["sqs:SendMessage"], [arns.data.webhooks.arn]),  # changes queue their webhook deliveries
        statement(["airflow:InvokeRestApi"], [airflow_user]),
        statement(["logs:CreateLogStream", "logs:PutLogEvents"], [arns.logs("api")]),
    )


def indexer(arns: Arns) -> pulumi.Output:
    return document(
        statement(["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:GetObjectTagging"], [arns.tenants]),
        statement(["s3:ListBucket"], [arns.data.bucket.arn], Condition={"StringLike": {"s3:prefix": ["tenants/*"]}}),
        statement(SEARCH_WRITES, [arns.search_paths]),
        statement(QUEUE_CONSUMER, [arns.data.events.arn]),
        statement(["sqs:SendMessage"], [arns.data.thumbnails.arn]),
        statement(["sqs:SendMessage"], [arns.data.webhooks.arn]),  # job.finished, item.available
        statement(["logs:CreateLogStream", "logs:PutLogEvents"], [arns.logs("indexer")]),
    )


def thumbnailer(arns: Arns) -> pulumi.Output:
    """Reads items (and the records an index refresh reads), writes thumbnails only: it parses hostile bytes."""
    return document(
        statement(["s3:GetObject", "s3:GetObjectTagging"], [arns.tenants]),
        statement(["s3:PutObject"], [pulumi.Output.concat(arns.data.bucket.arn, "/tenants/*/thumbnails/*")]),
        # A HEAD of a missing key answers 404 (not 403) only with ListBucket.
        statement(["s3:ListBucket"], [arns.data.bucket.arn], Condition={"StringLike": {"s3:prefix": ["tenants/*"]}}),
        statement(SEARCH_WRITES, [arns.search_paths]),
        statement(QUEUE_CONSUMER, [arns.data.thumbnails.arn]),
        statement(["logs:CreateLogStream", "logs:PutLogEvents"], [arns.logs("thumbnailer")]),
    )


def webhooks(arns: Arns, secrets_key: pulumi.Output) -> pulumi.Output:
    """Webhook records and delivery logs only, and its own queue: it calls URLs tenants choose, from
    outside any VPC (nothing private is reachable), and sends the retries back to its queue."""
    return document(
        statement(
            ["s3:GetObject", "s3:PutObject"], [pulumi.Output.concat(arns.data.bucket.arn, "/tenants/*/webhooks/*")]
        ),
        # A GET of a deleted webhook's record answers 404 (not 403) only with ListBucket.
        statement(
            ["s3:ListBucket"],
            [arns.data.bucket.arn],
            Condition={"StringLike": {"s3:prefix": ["tenants/*/webhooks/*"]}},
        ),
        statement([*QUEUE_CONSUMER, "sqs:SendMessage"], [arns.data.webhooks.arn]),
        statement(["kms:Decrypt"], [secrets_key]),  # opens the secret a delivery is signed with
        statement(["logs:CreateLogStream", "logs:PutLogEvents"], [arns.logs("webhooks")]),
    )
