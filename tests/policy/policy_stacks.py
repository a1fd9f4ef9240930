"""A compliant Edna stack as `check()` takes it (camelCase props, outputs merged in), and helpers to break it."""

from __future__ import annotations

import copy
import json
from typing import Any

ACCOUNT = "123456789012"
DISTRIBUTION_ARN = f"arn:aws:cloudfront::{ACCOUNT}:distribution/E2EXAMPLE"


def res(type_: str, name: str, /, **props: Any) -> dict:
    return {"type": type_, "name": name, "props": props}


def deny_insecure_transport(bucket: str) -> dict:
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def site_bucket_policy(bucket: str) -> str:
    """The site bucket's policy as the program builds it: a JSON string, Statement a list."""
    allow_cloudfront = {
        "Sid": "AllowCloudFrontRead",
        "Effect": "Allow",
        "Principal": {"Service": "cloudfront.amazonaws.com"},
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/*",
        "Condition": {"StringEquals": {"AWS:SourceArn": DISTRIBUTION_ARN}},
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [allow_cloudfront, deny_insecure_transport(bucket)]})


def bucket_with_companions(name: str, bucket: str, *, v2: bool = False) -> list[dict]:
    """A bucket and its five companions, pointing at it by bucket name (as the mocks give them)."""
    suffix = "V2" if v2 else ""
    return [
        {
            "type": f"aws:s3/bucket{suffix}:Bucket{suffix}",
            "name": name,
            "props": {"bucket": bucket, "id": bucket, "arn": f"arn:aws:s3:::{bucket}"},
        },
        res(
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            f"{name}-public-access",
            bucket=bucket,
            blockPublicAcls=True,
            blockPublicPolicy=True,
            ignorePublicAcls=True,
            restrictPublicBuckets=True,
        ),
        res(
            f"aws:s3/bucketServerSideEncryptionConfiguration{suffix}:BucketServerSideEncryptionConfiguration{suffix}",
            f"{name}-encryption",
            bucket=bucket,
            rules=[{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}, "bucketKeyEnabled": True}],
        ),
        res(
            f"aws:s3/bucketVersioning{suffix}:BucketVersioning{suffix}",
            f"{name}-versioning",
            bucket=bucket,
            versioningConfiguration={"status": "Enabled"},
        ),
        res(
            "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
            f"{name}-ownership",
            bucket=bucket,
            rule={"objectOwnership": "BucketOwnerEnforced"},
        ),
        # A dict document whose Statement is a single dict.
        res(
            "aws:s3/bucketPolicy:BucketPolicy",
            f"{name}-policy",
            bucket=bucket,
            policy={"Version": "2012-10-17", "Statement": deny_insecure_transport(bucket)},
        ),
    ]


def s3_origin(bucket: str) -> dict:
    return {
        "originId": "site",
        "domainName": f"{bucket}.s3.us-east-1.amazonaws.com",
        "originAccessControlId": "E3OACEXAMPLE",
    }


def distribution(name: str, **viewer_certificate: Any) -> dict:
    return res(
        "aws:cloudfront/distribution:Distribution",
        name,
        enabled=True,
        origins=[
            s3_origin("edna-site-dev"),
            {
                "originId": "api",
                "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
                "customOriginConfig": {
                    "httpPort": 80,
                    "httpsPort": 443,
                    "originProtocolPolicy": "https-only",
                    "originSslProtocols": ["TLSv1.2"],
                },
            },
        ],
        defaultCacheBehavior={
            "targetOriginId": "site",
            "viewerProtocolPolicy": "redirect-to-https",
            "allowedMethods": ["GET", "HEAD"],
            "cachedMethods": ["GET", "HEAD"],
            "responseHeadersPolicyId": "67f7725c-6f97-4210-82d7-5512b31e9d03",
        },
        orderedCacheBehaviors=[
            {"pathPattern": "/api/*", "targetOriginId": "api", "viewerProtocolPolicy": "https-only"},
        ],
        viewerCertificate=viewer_certificate,
        arn=DISTRIBUTION_ARN,
        id="E2EXAMPLE",
    )


def vector_templates(replicas: int = 1) -> dict:
    """The index templates the search-templates invocation puts: the vector one, nested settings, and an
    unrelated one the vector rules leave alone."""
    vector = {
        "index_patterns": ["edna-items-vectors-*"],
        "template": {
            "settings": {"index": {"knn": True, "number_of_shards": 1, "number_of_replicas": replicas}},
            "mappings": {
                "dynamic": False,
                "properties": {
                    **{key: {"type": "keyword"} for key in ("tenant", "dataset_id", "model_id", "item_id", "job_id")},
                    "finished_at": {"type": "double"},
                },
            },
        },
    }
    return {"edna-items-vectors": vector, "edna-logs": {"index_patterns": ["edna-logs-*"], "template": {}}}


def good_stack() -> list[dict]:
    """Every resource type the pack knows, configured as the checklist wants: check() must report nothing."""
    stack = [
        *bucket_with_companions("data", "edna-data-dev"),
        *bucket_with_companions("site", "edna-site-dev"),
        *bucket_with_companions("legacy", "edna-legacy-dev", v2=True),
    ]
    site_policy = next(r for r in stack if r["name"] == "site-policy")
    site_policy["props"]["policy"] = site_bucket_policy("edna-site-dev")
    legacy_policy = next(r for r in stack if r["name"] == "legacy-policy")
    legacy_policy["props"]["policy"] = json.dumps({"Statement": [deny_insecure_transport("edna-legacy-dev")]})
    read_data = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "arn:aws:s3:::edna-data-dev/*"},
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::edna-data-dev"},
        ],
    }
    stack += [
        distribution("cdn", cloudfrontDefaultCertificate=True),
        distribution(
            "cdn-custom-domain",
            acmCertificateArn=f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/abc",
            sslSupportMethod="sni-only",
            minimumProtocolVersion="TLSv1.2_2021",
        ),
        res(
            "aws:apigatewayv2/route:Route", "health", apiId="api1", routeKey="GET /api/health", target="integrations/i1"
        ),
        res(
            "aws:apigatewayv2/route:Route",
            "api-proxy",
            apiId="api1",
            routeKey="ANY /api/{proxy+}",
            authorizationType="JWT",
            authorizerId="auth1",
            target="integrations/i1",
        ),
        res(
            "aws:apigatewayv2/stage:Stage",
            "default-stage",
            apiId="api1",
            name="$default",
            autoDeploy=True,
            accessLogSettings={
                "destinationArn": f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/edna/api-access",
                "format": json.dumps({"requestId": "$context.requestId", "status": "$context.status"}),
            },
            defaultRouteSettings={"throttlingBurstLimit": 100, "throttlingRateLimit": 50},
        ),
        res(
            "aws:lambda/function:Function",
            "api",
            name="edna-api-dev",
            id="edna-api-dev",
            runtime="python3.11",
            handler="handler.lambda_handler",
            reservedConcurrentExecutions=10,
        ),
        res("aws:cloudwatch/logGroup:LogGroup", "api-logs", name="/aws/lambda/edna-api-dev", retentionInDays=30),
        res(
            "aws:lambda/function:Function",
            "ingest",
            name="edna-ingest-dev",
            reservedConcurrentExecutions=2,
            loggingConfig={"logFormat": "JSON", "logGroup": "/edna/ingest"},
        ),
        res("aws:cloudwatch/logGroup:LogGroup", "ingest-logs", name="/edna/ingest", retentionInDays=14),
        res("aws:cloudwatch/logGroup:LogGroup", "api-access-logs", name="/edna/api-access", retentionInDays=90),
        res(
            "aws:opensearch/domain:Domain",
            "search",
            domainName="edna-dev",
            engineVersion="OpenSearch_2.19",
            clusterConfig={"instanceType": "m6g.large.search", "instanceCount": 2},
            tags={"edna:vector-index-prefix": "edna-items-vectors-"},
            encryptAtRest={"enabled": True},
            nodeToNodeEncryption={"enabled": True},
            domainEndpointOptions={"enforceHttps": True, "tlsSecurityPolicy": "Policy-Min-TLS-1-2-PFS-2023-10"},
            advancedSecurityOptions={
                "enabled": True,
                "anonymousAuthEnabled": False,
                "masterUserOptions": {"masterUserArn": f"arn:aws:iam::{ACCOUNT}:role/edna-search-admin"},
            },
        ),
        res(
            "aws:lambda/invocation:Invocation",
            "search-templates",
            functionName="edna-api-dev",
            qualifier="live",
            input=json.dumps(
                {"command": "service.handlers.put_index_templates", "index_templates": vector_templates()}
            ),
        ),
        res(
            "aws:lambda/invocation:Invocation",
            "grant-search",
            functionName="edna-api-dev",
            input=json.dumps({"command": "service.handlers.grant_search_access", "roles": []}),
        ),
        res(
            "aws:mwaa/environment:Environment",
            "airflow",
            name="edna-dev",
            webserverAccessMode="PRIVATE_ONLY",
            loggingConfiguration={
                kind: {"enabled": True, "logLevel": "INFO"}
                for kind in ("dagProcessingLogs", "schedulerLogs", "taskLogs", "webserverLogs", "workerLogs")
            },
        ),
        res(
            "aws:iam/role:Role",
            "api-role",
            assumeRolePolicy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    },
                }
            ),
            inlinePolicies=[{"name": "data", "policy": json.dumps(read_data)}],
        ),
        res("aws:iam/rolePolicy:RolePolicy", "api-role-data", role="api-role", policy=read_data),
        res(
            "aws:iam/policy:Policy",
            "queue-consumer",
            policy=json.dumps(
                {
                    "Statement": {
                        "Effect": "Allow",
                        "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage"],
                        "Resource": "*",
                    }
                }
            ),
        ),
        res("aws:sqs/queue:Queue", "events", sqsManagedSseEnabled=True),
        res("aws:sqs/queue:Queue", "events-dlq", kmsMasterKeyId="alias/aws/sqs"),
        res(
            "aws:cognito/userPool:UserPool",
            "users",
            name="edna-dev",
            deletionProtection="ACTIVE",
            passwordPolicy={"minimumLength": 12, "requireSymbols": True},
        ),
    ]
    return stack


def find(stack: list[dict], name: str) -> dict:
    """The props of the resource called `name` (to edit in place)."""
    return next(r for r in stack if r["name"] == name)["props"]


def drop(stack: list[dict], name: str) -> None:
    stack[:] = [r for r in stack if r["name"] != name]


def everywhere(value: Any, replace) -> Any:
    """Copy `value` with every leaf passed through `replace`."""
    if isinstance(value, dict):
        return {k: everywhere(v, replace) for k, v in value.items()}
    if isinstance(value, list):
        return [everywhere(v, replace) for v in value]
    return replace(value)


def copy_stack(stack: list[dict]) -> list[dict]:
    return copy.deepcopy(stack)
