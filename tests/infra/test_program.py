"""The Pulumi program run under mocks (preview=False) for each stack's config: assertions run inside
`apply` of `@pulumi.runtime.test` functions that return their Output, so they cannot pass unseen."""

from __future__ import annotations

import json
import runpy
from types import SimpleNamespace

import pulumi
import pytest
from pulumi.runtime.settings import set_root_resource

from infra import knn_memory
from infra.api import PUBLIC_ROUTES
from infra.config import AIRFLOW_VERSION, REPO
from infra.synth import PROJECT, Mocks, known_stacks, stack_config

STACKS = ["dev", "prod"]
ALL = pulumi.Output.all


def test_both_stacks_have_config_files():
    assert set(STACKS) <= set(known_stacks())


@pytest.fixture(params=STACKS)
def program(request):
    """Mocks and the stack's config in place; calling the result runs __main__.py and returns its globals."""
    set_root_resource(None)
    pulumi.runtime.set_mocks(Mocks(), project=PROJECT, stack=request.param, preview=False)
    pulumi.runtime.set_all_config(stack_config(request.param))
    return lambda: SimpleNamespace(stack=request.param, **runpy.run_path(str(REPO / "__main__.py")))


def statements(document: str) -> list[dict]:
    found = json.loads(document)["Statement"]
    return found if isinstance(found, list) else [found]


class Props(dict):
    """Nested inputs come back from the mocks as snake_case dicts: read them as attributes (missing: None)."""

    def __getattr__(self, name):
        return self.get(name)


def wrap(value):
    if isinstance(value, dict):
        return Props({k: wrap(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return [wrap(v) for v in value]
    return value


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


@pulumi.runtime.test
def test_every_bucket_is_private_versioned_encrypted_and_tls_only(program):
    p = program()
    stores = [p.data.store, p.edge.site, p.batch.assets]

    def check(per_bucket):
        for block, versioning, rules, policy, ownership in per_bucket:
            assert block == [True, True, True, True]
            assert versioning.status == "Enabled"
            assert rules[0].apply_server_side_encryption_by_default.sse_algorithm in {"AES256", "aws:kms"}
            deny = [s for s in statements(policy) if s["Effect"] == "Deny"]
            assert deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            assert all(s.get("Principal") != "*" for s in statements(policy) if s["Effect"] == "Allow")
            assert ownership.object_ownership == "BucketOwnerEnforced"

    return ALL(
        *[
            ALL(
                ALL(
                    s.public_access.block_public_acls,
                    s.public_access.block_public_policy,
                    s.public_access.ignore_public_acls,
                    s.public_access.restrict_public_buckets,
                ),
                s.versioning.versioning_configuration,
                s.encryption.rules,
                s.policy.policy,
                s.ownership.rule,
            )
            for s in stores
        ]
    ).apply(lambda args: check(wrap(args)))


@pulumi.runtime.test
def test_data_bucket_lifecycle_cors_and_events(program):
    p = program()

    def check(args):
        rules, cors, site_url, queues, redrive, dlq_arn = args
        by_id = {r.id: r for r in rules}
        assert by_id["abort-incomplete-multipart"].abort_incomplete_multipart_upload.days_after_initiation == 7
        assert by_id["expire-noncurrent-versions"].noncurrent_version_expiration.noncurrent_days > 0
        assert cors[0].allowed_origins == [site_url]
        assert "PUT" in cors[0].allowed_methods and "ETag" in cors[0].expose_headers
        assert queues[0].filter_prefix == "tenants/"
        assert {"s3:ObjectCreated:*", "s3:ObjectRemoved:*", "s3:ObjectTagging:*"} <= set(queues[0].events)
        assert json.loads(redrive)["deadLetterTargetArn"] == dlq_arn

    return ALL(
        p.data.lifecycle.rules,
        p.data.cors.cors_rules,
        p.edge.url,
        p.data.notifications.queues,
        p.data.events.redrive_policy,
        p.data.dead_letters.arn,
    ).apply(lambda args: check(wrap(args)))


@pulumi.runtime.test
def test_every_api_route_but_health_needs_the_cognito_jwt(program):
    p = program()
    api = p.api

    def check(args):
        routes, authorizer_id, jwt, issuer, client_id, payload, uri, alias_arn = args
        for key, kind, authorizer in routes:
            if key in PUBLIC_ROUTES.values():
                assert kind in (None, "NONE")
            else:
                assert (kind, authorizer) == ("JWT", authorizer_id)
        # Only health and the API's description and docs are public; everything else needs a token.
        assert {key for key, _, _ in routes} == {*PUBLIC_ROUTES.values(), "ANY /api/{proxy+}"}
        assert jwt.issuer == issuer and jwt.audiences == [client_id]
        assert payload == "2.0"
        assert alias_arn.endswith(":live") and alias_arn in uri  # the alias, so a deploy switches at once

    return ALL(
        ALL(*[ALL(r.route_key, r.authorization_type, r.authorizer_id) for r in api.routes]),
        api.authorizer.id,
        api.authorizer.jwt_configuration,
        p.identity.issuer,
        p.identity.client.id,
        api.integration.payload_format_version,
        api.integration.integration_uri,
        api.alias.arn,
    ).apply(lambda args: check(wrap(args)))


@pulumi.runtime.test
def test_lambdas_are_bounded_logged_and_published(program):
    p = program()
    functions = [p.api.function, p.api.indexer, p.api.thumbnailer, p.api.webhooks]

    def check(args):
        stage_throttle, stage_logs, gateway_logs_retention, per_function = args
        assert stage_throttle.throttling_rate_limit > 0 and stage_throttle.throttling_burst_limit > 0
        assert json.loads(stage_logs.format)["requestId"] == "$context.requestId"
        assert gateway_logs_retention > 0
        for runtime, _, reserved, publish, logging, env, handler, _ in per_function:
            assert runtime == "python3.11" and publish is True
            assert reserved >= 1
            assert logging.log_group.startswith("/aws/lambda/")
            assert env.variables["EDNA_LOG_LEVEL"] == "INFO"
            assert env.variables["EDNA_IDENTITY"] == "cognito" and env.variables["EDNA_STORAGE"] == "s3"
            assert env.variables["EDNA_DATA_DIR"].startswith("/tmp/")
            assert handler in {
                "handler.lambda_handler",
                "service.handlers.sqs_s3_events",
                "service.handlers.sqs_thumbnails",
                "service.handlers.sqs_webhooks",
            }
        assert per_function[0][1] < 30  # below API Gateway's 30 s
        # the API spools a model of up to 1 GiB to /tmp to check it; the others keep the default
        assert [f[7].size for f in per_function] == [2048, 512, 512, 512]

    return ALL(
        p.api.stage.default_route_settings,
        p.api.stage.access_log_settings,
        p.api.access_logs.retention_in_days,
        ALL(
            *[
                ALL(
                    f.runtime,
                    f.timeout,
                    f.reserved_concurrent_executions,
                    f.publish,
                    f.logging_config,
                    f.environment,
                    f.handler,
                    f.ephemeral_storage,
                )
                for f in functions
            ]
        ),
    ).apply(lambda args: check(wrap(args)))


@pulumi.runtime.test
def test_lambda_roles_are_least_privilege(program):
    p = program()

    def check(documents):
        for document in documents:
            for s in statements(document):
                actions, resources = as_list(s["Action"]), as_list(s["Resource"])
                assert "*" not in actions and not any(a.endswith(":*") for a in actions), s
                if "*" in resources:
                    assert all(
                        a in {"s3:GetAccountPublicAccessBlock", "logs:DescribeLogGroups", "cloudwatch:PutMetricData"}
                        for a in actions
                    ), s
                for r in resources:
                    if r.startswith("arn:aws:s3:::") and "/" in r:
                        allowed = ("/tenants/", "/ledger/", "/identity/")
                        assert any(a in r for a in allowed) or r.startswith("arn:aws:s3:::airflow-"), r

    return ALL(
        p.api.policy.policy,
        p.api.indexer_policy.policy,
        p.api.thumbnailer_policy.policy,
        p.api.webhooks_policy.policy,
        p.batch.policy.policy,
    ).apply(lambda args: check(wrap(args)))


@pulumi.runtime.test
def test_edge_is_https_only_with_oac_and_spa_routing_on_the_site_only(program):
    p = program()
    d = p.edge.distribution

    def check(args):
        default, ordered, origins, certificate, errors, oac_id, function_arn = args
        behaviours = [default, *ordered]
        assert all(b.viewer_protocol_policy in {"redirect-to-https", "https-only"} for b in behaviours)
        assert all(b.response_headers_policy_id == "67f7725c-6f97-4210-82d7-5512b31e9d03" for b in behaviours)
        api = next(b for b in ordered if b.path_pattern == "/api/*")
        assert api.cache_policy_id == "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"  # CachingDisabled
        assert api.origin_request_policy_id == "b689b0a8-53d0-40ab-baf2-68738e2966ac"  # AllViewerExceptHostHeader
        assert not api.function_associations
        assert [f.function_arn for f in default.function_associations] == [function_arn]
        assert not errors  # no distribution-wide error pages: API errors must reach the client as they are
        site = next(o for o in origins if o.origin_id == "site")
        assert site.origin_access_control_id == oac_id and not site.s3_origin_config
        if p.stack == "prod":
            assert certificate.minimum_protocol_version == "TLSv1.2_2021" and certificate.acm_certificate_arn
        else:
            assert certificate.cloudfront_default_certificate

    return ALL(
        d.default_cache_behavior,
        d.ordered_cache_behaviors,
        d.origins,
        d.viewer_certificate,
        d.custom_error_responses,
        p.edge.access_control.id,
        p.edge.routing.arn,
    ).apply(lambda args: check(wrap(args)))


@pulumi.runtime.test
def test_site_files_and_frontend_config(program):
    p = program()

    def check(args):
        keys, config, client_id = args
        assert "index.html" in keys and "config.json" in keys
        config = json.loads(config)
        assert config["apiBase"] == "/api" and config["auth"]["clientId"] == client_id
        assert config["auth"]["domain"].endswith(".amazoncognito.com")

    return ALL(
        ALL(*[f.key for f in [*p.edge.files, p.edge.frontend_config]]), p.edge.frontend_config.content, p.client.id
    ).apply(lambda args: check(wrap(args)))


@pulumi.runtime.test
def test_applications_get_role_scopes_and_only_the_api_manages_their_clients(program):
    """Service accounts: app clients of the pool with `edna/<role>` scopes, made by the API function
    alone, which may rewrite that one authorizer's audiences and read the application records."""
    p = program()
    api = p.api

    def check(args):
        scopes, server, pool_arn, authorizer_id, gateway_id, env, api_doc, others = args
        assert server == "edna" and sorted(s.scope_name for s in scopes) == ["admin", "editor", "labeler", "viewer"]
        assert env["EDNA_API_AUTHORIZER_ID"] == authorizer_id and env["EDNA_API_GATEWAY_ID"] == gateway_id
        assert env["EDNA_SERVICE_TOKEN_URL"].startswith("https://") and env["EDNA_SERVICE_TOKEN_URL"].endswith(
            "/oauth2/token"
        )
        found = statements(api_doc)
        clients = [s for s in found if "cognito-idp:CreateUserPoolClient" in as_list(s["Action"])]
        assert len(clients) == 1 and as_list(clients[0]["Resource"]) == [pool_arn]
        gateway = [s for s in found if any(a.startswith("apigateway:") for a in as_list(s["Action"]))]
        assert len(gateway) == 1 and as_list(gateway[0]["Resource"]) == [
            f"arn:aws:apigateway:{p.config.region}::/apis/{gateway_id}/authorizers/{authorizer_id}"
        ]
        for document in others:  # the functions that parse events or images never reach credentials
            for s in statements(document):
                assert not any("/identity/" in r for r in as_list(s["Resource"])), s
                assert not any(a.startswith(("cognito-idp:", "apigateway:")) for a in as_list(s["Action"])), s

    return ALL(
        p.identity.resource_server.scopes,
        p.identity.resource_server.identifier,
        p.identity.pool.arn,
        api.authorizer.id,
        api.gateway.id,
        api.function.environment.apply(lambda e: e["variables"]),
        api.policy.policy,
        ALL(api.indexer_policy.policy, api.thumbnailer_policy.policy),
    ).apply(lambda args: check(wrap(args)))


@pulumi.runtime.test
def test_identity_pool_groups_and_pkce_client(program):
    p = program()
    pool, client = p.identity.pool, p.identity.client

    def check(args):
        protection, password, schemas, admin_only, groups, flows, secret, write_attributes, callbacks, site = args
        assert protection == "ACTIVE" and admin_only.allow_admin_create_user_only
        assert password.minimum_length >= 12
        tenant = next(s for s in schemas if s.name == "tenant")
        assert tenant.mutable is False
        assert sorted(groups) == ["admin", "editor", "labeler", "viewer"]
        assert flows == ["code"] and not secret
        assert "custom:tenant" not in write_attributes
        assert callbacks == [site + "/"]

    return ALL(
        pool.deletion_protection,
        pool.password_policy,
        pool.schemas,
        pool.admin_create_user_config,
        ALL(*[g.name for g in p.identity.groups]),
        client.allowed_oauth_flows,
        client.generate_secret,
        client.write_attributes,
        client.callback_urls,
        p.edge.url,
    ).apply(lambda args: check(wrap(args)))


@pulumi.runtime.test
def test_search_domain_is_encrypted_https_and_fine_grained(program):
    p = program()
    d = p.search.domain

    def check(args):
        at_rest, node_to_node, endpoint, security, ebs, access, domain_arn, api_role, readers = args
        assert at_rest.enabled and node_to_node.enabled
        assert endpoint.enforce_https and endpoint.tls_security_policy == "Policy-Min-TLS-1-2-PFS-2023-10"
        assert security.enabled and not security.anonymous_auth_enabled
        assert security.master_user_options.master_user_arn == api_role
        assert ebs.volume_type == "gp3"
        (allow,) = statements(access)  # the service's three roles, nobody else, and only over HTTP
        assert allow["Effect"] == "Allow" and allow["Action"] == ["es:ESHttp*"]
        assert sorted(allow["Principal"]["AWS"]) == sorted([api_role, *readers])
        assert allow["Resource"] == [domain_arn + "/*"]

    return ALL(
        d.encrypt_at_rest,
        d.node_to_node_encryption,
        d.domain_endpoint_options,
        d.advanced_security_options,
        d.ebs_options,
        d.access_policies,
        d.arn,
        p.api.role.arn,
        ALL(p.api.indexer_role.arn, p.api.thumbnailer_role.arn),
    ).apply(lambda args: check(wrap(args)))


@pulumi.runtime.test
def test_search_domain_runs_knn_with_memory_for_the_graphs_of_its_vectors(program):
    p = program()
    d = p.search.domain

    def check(args):
        version, cluster, tags, environment = args
        major, minor = map(int, version.removeprefix("OpenSearch_").split("."))
        assert (major, minor) >= (2, 19)  # cosine similarity on faiss as on lucene, both filtering in the graph
        config = p.config
        assert cluster.instance_type == config.opensearch_instance_type
        need = knn_memory.graph_bytes(config.opensearch_vectors, config.opensearch_vector_dims)
        assert 0 < need <= knn_memory.node_budget_bytes(cluster.instance_type)
        assert config.opensearch_vectors >= (1_000_000 if p.stack == "prod" else 100_000)
        assert tags == {"edna:vector-index-prefix": environment.variables["EDNA_SEARCH_INDEX"] + "-vectors-"}

    return ALL(d.engine_version, d.cluster_config, d.tags, p.api.function.environment).apply(
        lambda args: check(wrap(args))
    )


@pulumi.runtime.test
def test_the_deploy_installs_the_vector_index_template_through_the_master(program):
    p = program()
    invocation = p.search.templates

    def check(args):
        payload, function, qualifier, triggers, endpoint, api_function, environment, count = args
        payload = json.loads(payload)
        assert payload["command"] == "service.handlers.put_index_templates"
        assert function == api_function and qualifier == "live"  # the API's role is the domain's master
        assert triggers == {"endpoint": endpoint}  # a replaced domain gets its template again
        index = environment.variables["EDNA_SEARCH_INDEX"]
        template = payload["index_templates"][f"{index}-vectors"]
        assert template["index_patterns"] == [f"{index}-vectors-*"]
        settings = template["template"]["settings"]["index"]
        assert settings["knn"] is True and settings["number_of_shards"] == 1
        assert settings["number_of_replicas"] == (1 if count > 1 else 0) == (1 if p.stack == "prod" else 0)
        mappings = template["template"]["mappings"]
        assert mappings["dynamic"] is False
        assert {name: field["type"] for name, field in mappings["properties"].items()} == {
            "tenant": "keyword",
            "dataset_id": "keyword",
            "model_id": "keyword",
            "item_id": "keyword",
            "job_id": "keyword",
            "finished_at": "double",
        }

    return ALL(
        invocation.input,
        invocation.function_name,
        invocation.qualifier,
        invocation.triggers,
        p.search.domain.endpoint,
        p.api.function.name,
        p.api.function.environment,
        p.search.domain.cluster_config.apply(lambda c: c.instance_count),
    ).apply(lambda args: check(wrap(args)))


def test_a_domain_too_small_for_the_graphs_of_its_vectors_is_refused():
    set_root_resource(None)
    pulumi.runtime.set_mocks(Mocks(), project=PROJECT, stack="dev", preview=False)
    pulumi.runtime.set_all_config({**stack_config("dev"), "edna:opensearchVectors": "2000000"})
    with pytest.raises(ValueError, match=r"2000000 vectors of 128 dimensions need 1\.31 GiB .* t3\.small\.search"):
        runpy.run_path(str(REPO / "__main__.py"))


@pulumi.runtime.test
def test_mwaa_is_private_logged_pinned_and_uses_the_uploaded_versions(program):
    p = program()
    env = p.batch.environment

    def check(args):
        version, access, logging, plugins_version, requirements_version, uploaded, options, subnets, strategy = args
        assert version == AIRFLOW_VERSION
        assert access == "PRIVATE_ONLY"
        for kind in ("dag_processing_logs", "scheduler_logs", "task_logs", "webserver_logs", "worker_logs"):
            assert getattr(logging, kind).enabled, kind
        assert [plugins_version, requirements_version] == uploaded
        assert options["edna.data_bucket"].startswith(f"edna-{p.stack}-data-")
        assert len(subnets) == 2
        assert strategy == "GRACEFUL"

    return ALL(
        env.airflow_version,
        env.webserver_access_mode,
        env.logging_configuration,
        env.plugins_s3_object_version,
        env.requirements_s3_object_version,
        ALL(p.batch.plugins.version_id, p.batch.requirements.version_id),
        env.airflow_configuration_options,
        env.network_configuration.apply(lambda n: n.subnet_ids),
        env.worker_replacement_strategy,
    ).apply(lambda args: check(wrap(args)))


def test_airflow_version_is_the_one_the_tests_run():
    pins = dict(
        line.split("#")[0].strip().split("==")
        for line in (REPO / "requirements-dev.txt").read_text().splitlines()
        if "==" in line
    )
    assert pins["apache-airflow"] == AIRFLOW_VERSION


@pulumi.runtime.test
def test_stack_outputs(program):
    p = program()
    return ALL(p.edge.url, p.api.endpoint, p.data.bucket.id, p.batch.environment.name).apply(
        lambda args: all(args) or pytest.fail(f"an output is empty: {args}")
    )


@pulumi.runtime.test
def test_the_deploy_maps_the_indexer_role_in_opensearch_through_the_master(program):
    p = program()
    invocation = p.api.search_access

    def check(args):
        payload, function, qualifier, indexer_role, thumbnailer_role = args
        payload = json.loads(payload)
        roles = [indexer_role, thumbnailer_role]
        assert payload == {"command": "service.handlers.grant_search_access", "roles": roles}
        assert function == "edna-" + p.stack + "-api" and qualifier == "live"

    return ALL(
        invocation.input,
        invocation.function_name,
        invocation.qualifier,
        p.api.indexer_role.arn,
        p.api.thumbnailer_role.arn,
    ).apply(lambda args: check(wrap(args)))


@pulumi.runtime.test
def test_thumbnails_have_their_own_encrypted_queue_and_a_bounded_lambda_that_cannot_touch_items(program):
    p = program()
    api, data = p.api, p.data

    def check(args):
        (queue_sse, redrive, dlq_sse, dlq_arn, queue_arn, visibility, timeout) = args[:7]
        (mapping_source, mapping_function, responses, batch, alias_arn) = args[7:12]
        (reserved, retention, group_name, logging, policy, environments, alarm_dims, queue_name) = args[12:]
        assert queue_sse and dlq_sse
        redrive = json.loads(redrive)
        assert redrive["deadLetterTargetArn"] == dlq_arn and 1 <= redrive["maxReceiveCount"] <= 5
        assert visibility >= 6 * timeout  # a message is not handed out again while a batch still runs on it
        assert (
            mapping_source == queue_arn and mapping_function == alias_arn and responses == ["ReportBatchItemFailures"]
        )
        assert 1 <= batch <= 10 and reserved >= 1
        assert retention > 0 and logging.log_group == group_name
        assert alarm_dims == {"QueueName": queue_name}
        for env in environments:  # every function that indexes queues thumbnails instead of decoding them
            assert env.variables["EDNA_THUMBNAIL_QUEUE_URL"].endswith("thumbnails")
        granted = statements(policy)
        writes = {
            r for s in granted for r in as_list(s["Resource"]) for a in as_list(s["Action"]) if a == "s3:PutObject"
        }
        assert writes and all(r.endswith("/tenants/*/thumbnails/*") for r in writes)
        actions = {a for s in granted for a in as_list(s["Action"])}
        assert not actions & {"s3:DeleteObject", "s3:PutObjectTagging", "sqs:SendMessage", "iam:PassRole"}
        consumed = {
            r for s in granted for r in as_list(s["Resource"]) for a in as_list(s["Action"]) if a.startswith("sqs:")
        }
        assert consumed == {queue_arn}

    dlq_alarm = next(a for a in p.observability.alarms if a._name == "thumbnails-dead-letters")
    return ALL(
        data.thumbnails.sqs_managed_sse_enabled,
        data.thumbnails.redrive_policy,
        data.thumbnail_dead_letters.sqs_managed_sse_enabled,
        data.thumbnail_dead_letters.arn,
        data.thumbnails.arn,
        data.thumbnails.visibility_timeout_seconds,
        api.thumbnailer.timeout,
        api.thumbnail_events.event_source_arn,
        api.thumbnail_events.function_name,
        api.thumbnail_events.function_response_types,
        api.thumbnail_events.batch_size,
        api.thumbnailer_alias.arn,
        api.thumbnailer.reserved_concurrent_executions,
        api.logs["thumbnailer"].retention_in_days,
        api.logs["thumbnailer"].name,
        api.thumbnailer.logging_config,
        api.thumbnailer_policy.policy,
        ALL(api.function.environment, api.indexer.environment, api.thumbnailer.environment),
        dlq_alarm.dimensions,
        data.thumbnail_dead_letters.name,
    ).apply(lambda args: check(wrap(args)))


@pulumi.runtime.test
def test_webhooks_leave_through_an_encrypted_queue_and_a_lambda_outside_any_vpc_that_reaches_only_their_records(
    program,
):
    p = program()
    api, data = p.api, p.data

    def check(args):
        (queue_sse, redrive, dlq_sse, dlq_arn, queue_arn, visibility, timeout, vpc) = args[:8]
        (mapping_source, mapping_function, responses, batch, alias_arn, reserved, policy) = args[8:15]
        (senders, environments, alarm_dims, dlq_name, rotation, key_arn) = args[15:]
        assert queue_sse and dlq_sse
        redrive = json.loads(redrive)
        assert redrive["deadLetterTargetArn"] == dlq_arn and 1 <= redrive["maxReceiveCount"] <= 5
        assert visibility >= 6 * timeout
        assert not vpc  # outside any VPC: a delivery can reach nothing private of the stack
        assert mapping_source == queue_arn and mapping_function == alias_arn
        assert responses == ["ReportBatchItemFailures"] and 1 <= batch <= 10 and reserved >= 1
        granted = statements(policy)
        s3 = {
            r for s in granted for r in as_list(s["Resource"]) for a in as_list(s["Action"]) if a.startswith("s3:Get")
        }
        writes = {
            r for s in granted for r in as_list(s["Resource"]) for a in as_list(s["Action"]) if a == "s3:PutObject"
        }
        assert s3 and writes and all(r.endswith("/tenants/*/webhooks/*") for r in s3 | writes)
        actions = {a for s in granted for a in as_list(s["Action"])}
        assert not actions & {"s3:DeleteObject", "s3:GetObjectTagging", "s3:PutObjectTagging", "iam:PassRole"}
        assert not any(a.startswith(("es:", "cognito-idp:", "airflow:")) for a in actions)
        queues = {
            r for s in granted for r in as_list(s["Resource"]) for a in as_list(s["Action"]) if a.startswith("sqs:")
        }
        assert queues == {queue_arn} and "sqs:SendMessage" in actions  # retries go back to its own queue
        for sender in senders:  # the API and the indexer queue deliveries
            sent = {
                r
                for s in statements(sender)
                for r in as_list(s["Resource"])
                if "sqs:SendMessage" in as_list(s["Action"])
            }
            assert queue_arn in sent
        for env in environments:
            assert env.variables["EDNA_WEBHOOK_QUEUE_URL"].endswith("webhooks")
            assert not env.variables.get("EDNA_WEBHOOK_ALLOWED_HOSTS")  # no private address is ever allowed on AWS
        assert alarm_dims == {"QueueName": dlq_name}
        # Secrets at rest: sealed by a rotating KMS key; the API may only seal, the delivery function only open.
        assert rotation and env.variables["EDNA_SECRETS_KMS_KEY"] == key_arn
        kms = {a: as_list(s["Resource"]) for s in granted for a in as_list(s["Action"]) if a.startswith("kms:")}
        assert kms == {"kms:Decrypt": [key_arn]}
        api_kms = {a for s in statements(senders[0]) for a in as_list(s["Action"]) if a.startswith("kms:")}
        assert api_kms == {"kms:Encrypt"}
        assert not any(a.startswith("kms:") for s in statements(senders[1]) for a in as_list(s["Action"]))

    dlq_alarm = next(a for a in p.observability.alarms if a._name == "webhooks-dead-letters")
    return ALL(
        data.webhooks.sqs_managed_sse_enabled,
        data.webhooks.redrive_policy,
        data.webhook_dead_letters.sqs_managed_sse_enabled,
        data.webhook_dead_letters.arn,
        data.webhooks.arn,
        data.webhooks.visibility_timeout_seconds,
        api.webhooks.timeout,
        api.webhooks.vpc_config,
        api.webhook_events.event_source_arn,
        api.webhook_events.function_name,
        api.webhook_events.function_response_types,
        api.webhook_events.batch_size,
        api.webhooks_alias.arn,
        api.webhooks.reserved_concurrent_executions,
        api.webhooks_policy.policy,
        ALL(api.policy.policy, api.indexer_policy.policy),
        ALL(api.function.environment, api.indexer.environment, api.webhooks.environment),
        dlq_alarm.dimensions,
        data.webhook_dead_letters.name,
        api.secrets_key.enable_key_rotation,
        api.secrets_key.arn,
    ).apply(lambda args: check(wrap(args)))
