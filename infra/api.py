"""The API: an HTTP API with a Cognito JWT authorizer in front of the service's Lambda, the
indexer Lambda draining the data bucket's events, and the thumbnailer Lambda draining the
thumbnails queue. One Zappa zip serves the three functions."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from infra import api_grants as grants
from infra.config import LAMBDA_RUNTIME, StackConfig
from infra.data import INDEXER_TIMEOUT_SECONDS, THUMBNAILER_TIMEOUT_SECONDS, WEBHOOKS_TIMEOUT_SECONDS, Data
from infra.documents import assume_role
from infra.identity import Identity
from infra.search import SEARCH_INDEX, Search

HEALTH_ROUTE = "GET /api/health"
# The routes without the JWT authorizer: health, and the API's own description and docs (public by API.md).
PUBLIC_ROUTES = {
    "health": HEALTH_ROUTE,
    "openapi": "GET /api/openapi.json",
    "docs": "GET /api/docs",
    "docs-assets": "GET /api/docs/assets/{asset}",
}
API_HANDLER = "handler.lambda_handler"  # Zappa's handler around service.wsgi.app
INDEXER_HANDLER = "service.handlers.sqs_s3_events"
THUMBNAILER_HANDLER = "service.handlers.sqs_thumbnails"
WEBHOOKS_HANDLER = "service.handlers.sqs_webhooks"
WEBHOOKS_MEMORY_MB = 256  # signs and POSTs small JSON bodies
WEBHOOKS_RESERVED_CONCURRENCY = 5  # receivers are hit by a few deliveries at a time, never a flood
# Model `complete` spools the file (up to 1 GiB) to /tmp to check it without holding it in memory.
API_TMP_MB = 2048
GRANT_SEARCH_ACCESS = "service.handlers.grant_search_access"
ALIAS = "live"
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "time": "$context.requestTime",
        "method": "$context.httpMethod",
        "route": "$context.routeKey",
        "status": "$context.status",
        "bytes": "$context.responseLength",
        "latencyMs": "$context.responseLatency",
        "user": "$context.authorizer.claims.sub",
        "tenant": "$context.authorizer.claims.custom:tenant",
        "authorizerError": "$context.authorizer.error",
        "integrationError": "$context.integrationErrorMessage",
    }
)


class Api(pulumi.ComponentResource):
    """Built in two steps, because the site's URL sits between them: the gateway and the roles
    first (CloudFront needs the gateway, OpenSearch the roles), the functions and routes once the
    Cognito client for that URL exists."""

    def __init__(self, config: StackConfig, opts: pulumi.ResourceOptions | None = None):
        super().__init__("edna:web:Api", "api", None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.config = config
        self.gateway = aws.apigatewayv2.Api("http-api", name=f"{config.prefix}-api", protocol_type="HTTP", opts=child)
        self.access_logs = aws.cloudwatch.LogGroup(
            "access-logs",
            name=f"/aws/apigateway/{config.prefix}-api",
            retention_in_days=config.log_retention_days,
            opts=child,
        )
        self.stage = aws.apigatewayv2.Stage(
            "default-stage",
            api_id=self.gateway.id,
            name="$default",
            auto_deploy=True,
            default_route_settings={
                "throttling_rate_limit": config.throttle_rate,
                "throttling_burst_limit": config.throttle_burst,
            },
            access_log_settings={"destination_arn": self.access_logs.arn, "format": ACCESS_LOG_FORMAT},
            opts=child,
        )
        self.role = aws.iam.Role("api-role", assume_role_policy=assume_role("lambda.amazonaws.com"), opts=child)
        self.indexer_role = aws.iam.Role(
            "indexer-role", assume_role_policy=assume_role("lambda.amazonaws.com"), opts=child
        )
        self.thumbnailer_role = aws.iam.Role(
            "thumbnailer-role", assume_role_policy=assume_role("lambda.amazonaws.com"), opts=child
        )
        self.webhooks_role = aws.iam.Role(
            "webhooks-role", assume_role_policy=assume_role("lambda.amazonaws.com"), opts=child
        )
        self.endpoint = self.gateway.api_endpoint

    def serve(self, identity: Identity, data: Data, search: Search) -> None:
        config = self.config
        child = pulumi.ResourceOptions(parent=self)
        # Applications' app clients join the audiences at run time (service/adapters/identity/cognito_clients.py),
        # which rewrites the whole list from the pool: an update here must not drop them.
        self.authorizer = aws.apigatewayv2.Authorizer(
            "cognito",
            api_id=self.gateway.id,
            authorizer_type="JWT",
            identity_sources=["$request.header.Authorization"],
            name="cognito",
            jwt_configuration={"issuer": identity.issuer, "audiences": [identity.client.id]},
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["jwtConfiguration.audiences"]),
        )
        # Seals webhook signing secrets (service/adapters/secretbox/kms.py): the API seals, the delivery function opens.
        self.secrets_key = aws.kms.Key(
            "webhook-secrets",
            description=f"{config.prefix}: webhook signing secrets",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            opts=child,
        )
        authorizer_arn = pulumi.Output.concat(
            "arn:aws:apigateway:", config.region, "::/apis/", self.gateway.id, "/authorizers/", self.authorizer.id
        )
        account = aws.get_caller_identity_output().account_id
        environment = {
            "EDNA_STORAGE": "s3",
            "EDNA_S3_BUCKET": data.bucket.id,
            "EDNA_IDENTITY": "cognito",
            "EDNA_COGNITO_ISSUER": identity.issuer,
            "EDNA_COGNITO_CLIENT_ID": identity.client.id,
            "EDNA_SERVICE_TOKEN_URL": pulumi.Output.concat(identity.hosted_ui, "/oauth2/token"),
            "EDNA_API_GATEWAY_ID": self.gateway.id,
            "EDNA_API_AUTHORIZER_ID": self.authorizer.id,
            "EDNA_SECRETS_KMS_KEY": self.secrets_key.arn,
            "EDNA_SEARCH": "opensearch",
            "EDNA_SEARCH_URL": search.url,
            "EDNA_SEARCH_INDEX": SEARCH_INDEX,
            "EDNA_JOBS": "mwaa",
            "EDNA_MWAA_ENVIRONMENT": config.mwaa_environment,
            "EDNA_THUMBNAIL_QUEUE_URL": data.thumbnails.url,
            "EDNA_WEBHOOK_QUEUE_URL": data.webhooks.url,
            "EDNA_DATA_DIR": "/tmp/edna",  # noqa: S108 - the only writable path in Lambda
            "EDNA_LOG_LEVEL": "INFO",
        }
        self.logs = logs = {name: self._log_group(name) for name in ("api", "indexer", "thumbnailer", "webhooks")}
        airflow_user = pulumi.Output.concat(
            "arn:aws:airflow:", config.region, ":", account, ":role/", config.mwaa_environment, "/User"
        )
        arns = grants.Arns(data, search.domain.arn, {name: group.arn for name, group in logs.items()})
        self.policy = aws.iam.RolePolicy(
            "api-policy",
            role=self.role.id,
            policy=grants.api(arns, identity.pool.arn, authorizer_arn, self.secrets_key.arn, airflow_user),
            opts=child,
        )
        self.indexer_policy = aws.iam.RolePolicy(
            "indexer-policy", role=self.indexer_role.id, policy=grants.indexer(arns), opts=child
        )
        self.thumbnailer_policy = aws.iam.RolePolicy(
            "thumbnailer-policy", role=self.thumbnailer_role.id, policy=grants.thumbnailer(arns), opts=child
        )
        self.webhooks_policy = aws.iam.RolePolicy(
            "webhooks-policy",
            role=self.webhooks_role.id,
            policy=grants.webhooks(arns, self.secrets_key.arn),
            opts=child,
        )
        code = pulumi.FileArchive(str(config.lambda_package))
        self.function, self.alias = self._function(
            "api",
            logs["api"],
            self.role,
            self.policy,
            code,
            API_HANDLER,
            environment,
            config.api_memory_mb,
            config.api_timeout_seconds,
            config.api_reserved_concurrency,
            config.api_version,
            API_TMP_MB,
        )
        self.indexer, self.indexer_alias = self._function(
            "indexer",
            logs["indexer"],
            self.indexer_role,
            self.indexer_policy,
            code,
            INDEXER_HANDLER,
            environment,
            config.indexer_memory_mb,
            INDEXER_TIMEOUT_SECONDS,
            config.indexer_reserved_concurrency,
            "",
        )
        self.thumbnailer, self.thumbnailer_alias = self._function(
            "thumbnailer",
            logs["thumbnailer"],
            self.thumbnailer_role,
            self.thumbnailer_policy,
            code,
            THUMBNAILER_HANDLER,
            environment,
            config.thumbnailer_memory_mb,
            THUMBNAILER_TIMEOUT_SECONDS,
            config.thumbnailer_reserved_concurrency,
            "",
        )
        self.webhooks, self.webhooks_alias = self._function(
            "webhooks",
            logs["webhooks"],
            self.webhooks_role,
            self.webhooks_policy,
            code,
            WEBHOOKS_HANDLER,
            environment,
            WEBHOOKS_MEMORY_MB,
            WEBHOOKS_TIMEOUT_SECONDS,
            WEBHOOKS_RESERVED_CONCURRENCY,
            "",
        )
        self.webhook_events = aws.lambda_.EventSourceMapping(
            "webhooks-events",
            event_source_arn=data.webhooks.arn,
            function_name=self.webhooks_alias.arn,
            batch_size=5,  # one attempt each, each within 2 x EDNA_WEBHOOK_TIMEOUT_SECONDS
            maximum_batching_window_in_seconds=1,
            function_response_types=["ReportBatchItemFailures"],
            opts=child,
        )
        self.thumbnail_events = aws.lambda_.EventSourceMapping(
            "thumbnailer-events",
            event_source_arn=data.thumbnails.arn,
            function_name=self.thumbnailer_alias.arn,
            batch_size=5,  # decoded one at a time; a batch must finish well within the timeout
            maximum_batching_window_in_seconds=1,
            function_response_types=["ReportBatchItemFailures"],
            opts=child,
        )
        self.events = aws.lambda_.EventSourceMapping(
            "indexer-events",
            event_source_arn=data.events.arn,
            function_name=self.indexer_alias.arn,
            batch_size=10,
            maximum_batching_window_in_seconds=1,
            function_response_types=["ReportBatchItemFailures"],
            opts=child,
        )
        self.integration = aws.apigatewayv2.Integration(
            "service",
            api_id=self.gateway.id,
            integration_type="AWS_PROXY",
            integration_uri=self.alias.invoke_arn,
            payload_format_version="2.0",
            timeout_milliseconds=(config.api_timeout_seconds + 1) * 1000,
            opts=child,
        )
        target = pulumi.Output.concat("integrations/", self.integration.id)
        self.routes = [
            *[
                aws.apigatewayv2.Route(name, api_id=self.gateway.id, route_key=key, target=target, opts=child)
                for name, key in PUBLIC_ROUTES.items()
            ],
            aws.apigatewayv2.Route(
                "authorized",
                api_id=self.gateway.id,
                route_key="ANY /api/{proxy+}",
                target=target,
                authorization_type="JWT",
                authorizer_id=self.authorizer.id,
                opts=child,
            ),
        ]
        self.invoke_permission = aws.lambda_.Permission(
            "gateway-invokes-api",
            action="lambda:InvokeFunction",
            function=self.function.name,
            qualifier=self.alias.name,
            principal="apigateway.amazonaws.com",
            source_arn=pulumi.Output.concat(self.gateway.execution_arn, "/*/*"),
            opts=child,
        )
        # Fine-grained access trusts only the master (this API's role): it maps the indexer's and the
        # thumbnailer's roles to Edna's index at deploy time, through Zappa's `command` event (service/handlers.py).
        self.search_access = aws.lambda_.Invocation(
            "grant-indexer-search",
            function_name=self.function.name,
            qualifier=self.alias.name,
            input=pulumi.Output.json_dumps(
                {"command": GRANT_SEARCH_ACCESS, "roles": [self.indexer_role.arn, self.thumbnailer_role.arn]}
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[search.domain]),
        )
        self.register_outputs({"url": self.endpoint, "function": self.function.name})

    def _log_group(self, name: str) -> aws.cloudwatch.LogGroup:
        return aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/aws/lambda/{self.config.prefix}-{name}",
            retention_in_days=self.config.log_retention_days,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _function(
        self, name, group, role, policy, code, handler, environment, memory, timeout, reserved, pinned, tmp_mb=512
    ):
        """A function publishing a version per deploy, and the alias callers use: repointing the alias
        switches all traffic at once, and pointing it back (edna:apiVersion) is the rollback."""
        function = aws.lambda_.Function(
            name,
            name=f"{self.config.prefix}-{name}",
            runtime=LAMBDA_RUNTIME,
            architectures=["x86_64"],
            handler=handler,
            code=code,
            role=role.arn,
            memory_size=memory,
            ephemeral_storage={"size": tmp_mb},
            timeout=timeout,
            reserved_concurrent_executions=reserved,
            publish=True,
            environment={"variables": environment},
            logging_config={"log_format": "JSON", "log_group": group.name, "application_log_level": "INFO"},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[group, policy]),
        )
        alias = aws.lambda_.Alias(
            f"{name}-{ALIAS}",
            name=ALIAS,
            function_name=function.name,
            function_version=pinned or function.version,
            opts=pulumi.ResourceOptions(parent=self),
        )
        return function, alias
