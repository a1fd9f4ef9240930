"""IAM policy documents as JSON Outputs: statements in, one document out."""

from __future__ import annotations

import json
from typing import Any

import pulumi


def statement(actions: list[str], resources: list[Any], effect: str = "Allow", **extra: Any) -> dict:
    return {"Effect": effect, "Action": actions, "Resource": resources, **extra}


def document(*statements: dict) -> pulumi.Output[str]:
    """A policy document; statements may hold Outputs (ARNs), resolved before serialising."""
    return pulumi.Output.from_input({"Version": "2012-10-17", "Statement": list(statements)}).apply(
        lambda d: json.dumps(d, sort_keys=True)
    )


def assume_role(*services: str) -> str:
    """The trust policy letting these AWS services assume a role."""
    principal = {"Service": services[0] if len(services) == 1 else list(services)}
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}],
        }
    )


def deny_insecure_transport(bucket_arn: pulumi.Input[str]) -> dict:
    """Refuse any request to the bucket that does not arrive over TLS."""
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn, pulumi.Output.concat(bucket_arn, "/*")],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
