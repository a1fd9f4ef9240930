"""Alarms that page the operators (e-mail through SNS) and one dashboard for the stack."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra.api import Api
from infra.config import StackConfig
from infra.data import Data

PERIOD = 300


class Observability(pulumi.ComponentResource):
    def __init__(self, config: StackConfig, api: Api, data: Data, opts: pulumi.ResourceOptions | None = None):
        super().__init__("edna:web:Observability", "observability", None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.topic = aws.sns.Topic("alarms", kms_master_key_id="alias/aws/sns", opts=child)
        if config.alarm_email:
            aws.sns.TopicSubscription(
                "alarm-email", topic=self.topic.arn, protocol="email", endpoint=config.alarm_email, opts=child
            )
        self.alarms = []

        def alarm(name: str, description: str, **metric) -> None:
            self.alarms.append(
                aws.cloudwatch.MetricAlarm(
                    name,
                    alarm_description=description,
                    comparison_operator="GreaterThanOrEqualToThreshold",
                    evaluation_periods=1,
                    threshold=metric.pop("threshold", 1),
                    treat_missing_data="notBreaching",
                    alarm_actions=[self.topic.arn],
                    ok_actions=[self.topic.arn],
                    **metric,
                    opts=child,
                )
            )

        functions = ((api.function, "api"), (api.indexer, "indexer"), (api.thumbnailer, "thumbnailer"))
        for fn, label in (*functions, (api.webhooks, "webhooks")):
            for metric, what in (("Errors", "errors"), ("Throttles", "throttles")):
                alarm(
                    f"{label}-{what}",
                    f"The {label} Lambda reported {what} in the last 5 minutes",
                    namespace="AWS/Lambda",
                    metric_name=metric,
                    dimensions={"FunctionName": fn.name},
                    statistic="Sum",
                    period=PERIOD,
                    threshold=5 if metric == "Errors" else 1,
                )
        alarm(
            "api-5xx",
            "The HTTP API answered 5xx",
            namespace="AWS/ApiGateway",
            metric_name="5xx",
            dimensions={"ApiId": api.gateway.id, "Stage": "$default"},
            statistic="Sum",
            period=PERIOD,
            threshold=5,
        )
        alarm(
            "events-dead-letters",
            "Storage events failed indexing five times and wait in the dead-letter queue",
            namespace="AWS/SQS",
            metric_name="ApproximateNumberOfMessagesVisible",
            dimensions={"QueueName": data.dead_letters.name},
            statistic="Maximum",
            period=PERIOD,
        )
        alarm(
            "thumbnails-dead-letters",
            "Thumbnails failed three times and wait in the dead-letter queue",
            namespace="AWS/SQS",
            metric_name="ApproximateNumberOfMessagesVisible",
            dimensions={"QueueName": data.thumbnail_dead_letters.name},
            statistic="Maximum",
            period=PERIOD,
        )
        alarm(
            "webhooks-dead-letters",
            "Webhook deliveries could not be logged three times and wait in the dead-letter queue",
            namespace="AWS/SQS",
            metric_name="ApproximateNumberOfMessagesVisible",
            dimensions={"QueueName": data.webhook_dead_letters.name},
            statistic="Maximum",
            period=PERIOD,
        )
        # Metrics Insights matches whatever dimensions MWAA attaches to the failure count.
        failures = (
            f"SELECT SUM(TaskInstanceFailures) FROM \"AmazonMWAA\" WHERE Environment = '{config.mwaa_environment}'"  # noqa: S608 - Metrics Insights, not SQL
        )
        alarm(
            "mwaa-task-failures",
            "Airflow task instances failed in the MWAA environment",
            metric_queries=[
                {
                    "id": "failures",
                    "expression": failures,
                    "period": PERIOD,
                    "return_data": True,
                }
            ],
        )
        self.dashboard = aws.cloudwatch.Dashboard(
            "dashboard",
            dashboard_name=config.prefix,
            dashboard_body=pulumi.Output.json_dumps(
                {
                    "widgets": [
                        _widget(
                            "API requests and errors",
                            config.region,
                            0,
                            [
                                ["AWS/ApiGateway", "Count", "ApiId", api.gateway.id],
                                ["AWS/ApiGateway", "4xx", "ApiId", api.gateway.id],
                                ["AWS/ApiGateway", "5xx", "ApiId", api.gateway.id],
                            ],
                        ),
                        _widget(
                            "API latency (p95)",
                            config.region,
                            12,
                            [["AWS/ApiGateway", "Latency", "ApiId", api.gateway.id, {"stat": "p95"}]],
                        ),
                        _widget(
                            "Lambda errors, throttles",
                            config.region,
                            0,
                            [
                                ["AWS/Lambda", m, "FunctionName", fn.name]
                                for fn in (api.function, api.indexer, api.thumbnailer)
                                for m in ("Errors", "Throttles")
                            ],
                        ),
                        _widget(
                            "Storage events and thumbnails waiting",
                            config.region,
                            12,
                            [
                                ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", q.name]
                                for q in (data.events, data.dead_letters, data.thumbnails, data.thumbnail_dead_letters)
                            ],
                        ),
                    ]
                }
            ),
            opts=child,
        )
        self.register_outputs({"topic": self.topic.arn})


def _widget(title: str, region: str, x: int, metrics: list) -> dict:
    return {
        "type": "metric",
        "x": x,
        "width": 12,
        "height": 6,
        "properties": {"title": title, "region": region, "metrics": metrics, "stat": "Sum", "period": PERIOD},
    }
