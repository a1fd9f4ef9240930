"""Amazon MWAA running the `edna_inference` DAG: private web server, every log type, a least-privilege
execution role; the DAGs, plugins.zip and requirements are versioned objects this program uploads."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra.buckets import PrivateBucket
from infra.config import AIRFLOW_VERSION, REPO, StackConfig
from infra.data import Data
from infra.documents import assume_role, document, statement
from infra.network import Network

LOG_TYPES = ("dag_processing_logs", "scheduler_logs", "task_logs", "webserver_logs", "worker_logs")


class Batch(pulumi.ComponentResource):
    def __init__(self, config: StackConfig, data: Data, network: Network, opts: pulumi.ResourceOptions | None = None):
        super().__init__("edna:batch:Batch", "batch", None, opts)
        child = pulumi.ResourceOptions(parent=self)
        env = config.mwaa_environment
        account = aws.get_caller_identity_output().account_id
        # MWAA reads its DAGs and plugins from a versioned bucket whose name starts with "airflow-".
        self.assets = PrivateBucket("airflow", self, bucket_prefix=f"airflow-{config.prefix}-", force_destroy=True)
        self.assets.seal()
        uploaded = pulumi.ResourceOptions(parent=self, depends_on=[self.assets.versioning])
        self.dags = [
            aws.s3.BucketObjectv2(
                f"dag-{path.name}",
                bucket=self.assets.id,
                key=f"dags/{path.name}",
                source=pulumi.FileAsset(str(path)),
                opts=uploaded,
            )
            for path in sorted((REPO / "dags").glob("*.py"))
        ]
        self.plugins = aws.s3.BucketObjectv2(
            "plugins.zip",
            bucket=self.assets.id,
            key="plugins.zip",
            source=pulumi.FileAsset(str(config.mwaa_artifacts / "plugins.zip")),
            opts=uploaded,
        )
        self.requirements = aws.s3.BucketObjectv2(
            "requirements.txt",
            bucket=self.assets.id,
            key="requirements.txt",
            source=pulumi.FileAsset(str(config.mwaa_artifacts / "requirements.txt")),
            opts=uploaded,
        )
        env_arn = pulumi.Output.concat("arn:aws:airflow:", config.region, ":", account, ":environment/", env)
        log_groups = pulumi.Output.concat(
            "arn:aws:logs:", config.region, ":", account, ":log-group:airflow-", env, "-*"
        )
        tenants = pulumi.Output.concat(data.bucket.arn, "/tenants/*")
        self.role = aws.iam.Role(
            "execution-role",
            assume_role_policy=assume_role("airflow.amazonaws.com", "airflow-env.amazonaws.com"),
            opts=child,
        )
        self.policy = aws.iam.RolePolicy(
            "execution-policy",
            role=self.role.id,
            policy=document(
                statement(["airflow:PublishMetrics"], [env_arn]),
                statement(
                    ["s3:GetObject*", "s3:GetBucket*", "s3:List*"],
                    [self.assets.arn, pulumi.Output.concat(self.assets.arn, "/*")],
                ),
                statement(["s3:GetAccountPublicAccessBlock"], ["*"]),  # MWAA checks the account's setting
                # The engine reads items and models, and writes a job's parts, status and metrics.
                statement(["s3:GetObject"], [tenants]),
                statement(
                    ["s3:PutObject", "s3:DeleteObject"], [pulumi.Output.concat(data.bucket.arn, "/tenants/*/jobs/*")]
                ),
                statement(["s3:ListBucket"], [data.bucket.arn], Condition={"StringLike": {"s3:prefix": ["tenants/*"]}}),
                statement(
                    [
                        "logs:CreateLogStream",
                        "logs:CreateLogGroup",
                        "logs:PutLogEvents",
                        "logs:GetLogEvents",
                        "logs:GetLogRecord",
                        "logs:GetLogGroupFields",
                        "logs:GetQueryResults",
                    ],
                    [log_groups],
                ),
                statement(["logs:DescribeLogGroups"], ["*"]),
                statement(["cloudwatch:PutMetricData"], ["*"]),
                statement(
                    [
                        "sqs:ChangeMessageVisibility",
                        "sqs:DeleteMessage",
                        "sqs:GetQueueAttributes",
                        "sqs:GetQueueUrl",
                        "sqs:ReceiveMessage",
                        "sqs:SendMessage",
                    ],
                    [pulumi.Output.concat("arn:aws:sqs:", config.region, ":*:airflow-celery-*")],
                ),
                statement(
                    ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey*", "kms:Encrypt"],
                    [pulumi.Output.concat("arn:aws:kms:", config.region, ":", account, ":key/*")],
                    Condition={"StringLike": {"kms:ViaService": [f"sqs.{config.region}.amazonaws.com"]}},
                ),
            ),
            opts=child,
        )
        self.environment = aws.mwaa.Environment(
            "mwaa",
            name=env,
            airflow_version=AIRFLOW_VERSION,
            environment_class=config.mwaa_environment_class,
            min_workers=config.mwaa_min_workers,
            max_workers=config.mwaa_max_workers,
            schedulers=config.mwaa_schedulers,
            execution_role_arn=self.role.arn,
            source_bucket_arn=self.assets.arn,
            dag_s3_path="dags/",
            plugins_s3_path="plugins.zip",
            plugins_s3_object_version=self.plugins.version_id,
            requirements_s3_path="requirements.txt",
            requirements_s3_object_version=self.requirements.version_id,
            network_configuration={
                "security_group_ids": [network.security_group.id],
                "subnet_ids": [s.id for s in network.private_subnets],
            },
            webserver_access_mode="PRIVATE_ONLY",
            logging_configuration={t: {"enabled": True, "log_level": "INFO"} for t in LOG_TYPES},
            airflow_configuration_options={
                "edna.data_bucket": data.bucket.id,
                "edna.retry_delay_seconds": "60",
            },
            # New workers take over before old ones stop, so running tasks finish during an update.
            worker_replacement_strategy="GRACEFUL",
            weekly_maintenance_window_start="SUN:03:00",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.policy, *self.dags]),
        )
        self.register_outputs({"environment": self.environment.name})
