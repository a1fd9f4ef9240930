"""Run the Pulumi program offline under mocks and list what it declares (like `cdk synth`).

`python -m infra.synth --stack dev` prints a table of every resource with its security-relevant
properties; `--json` prints the resources for tools. The tests and the policy pack's offline
check use `synthesize()`. Config comes from Pulumi.yaml's defaults and Pulumi.<stack>.yaml, as
the CLI would pass it; the mocks answer computed outputs (ARNs, endpoints, domain names).
"""

from __future__ import annotations

import argparse
import json
import runpy
import sys
from dataclasses import dataclass, field
from typing import Any

import pulumi
import yaml
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.settings import get_root_resource, set_root_resource
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from infra.config import REPO

PROJECT = "edna"
ACCOUNT = "123456789012"
REGION = "us-east-1"


@dataclass
class Declared:
    """One resource as the engine would receive it: type, name, URN, camelCase inputs."""

    type: str
    name: str
    urn: str
    custom: bool
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)

    @property
    def props(self) -> dict[str, Any]:
        """Inputs with the computed outputs (id, arn...) the mocks returned, as the policy pack sees them."""
        return {**self.outputs, **self.inputs}

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "name": self.name,
            "urn": self.urn,
            "props": self.props,
            "property_dependencies": self.property_dependencies,
        }


def stack_config(stack: str) -> dict[str, str]:
    """Pulumi.yaml defaults overlaid with Pulumi.<stack>.yaml, keyed `namespace:key`."""
    project = yaml.safe_load((REPO / "Pulumi.yaml").read_text())
    values = {}
    for key, spec in (project.get("config") or {}).items():
        full = key if ":" in key else f"{PROJECT}:{key}"
        if isinstance(spec, dict) and "default" in spec:
            values[full] = spec["default"]
    stack_file = REPO / f"Pulumi.{stack}.yaml"
    if not stack_file.exists():
        raise FileNotFoundError(f"no {stack_file.name}: known stacks are {', '.join(known_stacks())}")
    values.update((yaml.safe_load(stack_file.read_text()) or {}).get("config") or {})
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}


def known_stacks() -> list[str]:
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in REPO.glob("Pulumi.*.yaml"))


class Mocks(pulumi.runtime.Mocks):
    """Cloud-side values the program reads back: ids, ARNs, endpoints, versions."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        inputs, name, kind = args.inputs, args.name, args.typ
        resource_id = inputs.get("name") or f"{name}-id"
        service = kind.split(":")[1].split("/")[0]
        outputs: dict[str, Any] = {"arn": f"arn:aws:{service}:{REGION}:{ACCOUNT}:{name}"}
        if kind == "aws:s3/bucket:Bucket":
            resource_id = inputs.get("bucket") or f"{inputs.get('bucketPrefix', name + '-')}mock"
            outputs = {
                "bucket": resource_id,
                "arn": f"arn:aws:s3:::{resource_id}",
                "bucketRegionalDomainName": f"{resource_id}.s3.{REGION}.amazonaws.com",
            }
        elif kind == "aws:s3/bucketObjectv2:BucketObjectv2":
            outputs["versionId"] = f"v-{name}"
        elif kind == "aws:sqs/queue:Queue":
            resource_id = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"
            outputs.update(name=name, url=resource_id, arn=f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}")
        elif kind == "aws:iam/role:Role":
            outputs.update(name=name, arn=f"arn:aws:iam::{ACCOUNT}:role/{name}")
        elif kind == "aws:lambda/function:Function":
            arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{inputs['name']}"
            outputs.update(arn=arn, version="3", invokeArn=_invoke_arn(arn), qualifiedArn=f"{arn}:3")
        elif kind == "aws:lambda/alias:Alias":
            arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{inputs['functionName']}:{inputs['name']}"
            outputs.update(arn=arn, invokeArn=_invoke_arn(arn))
        elif kind == "aws:apigatewayv2/api:Api":
            resource_id = "a1b2c3d4e5"
            outputs.update(
                apiEndpoint=f"https://{resource_id}.execute-api.{REGION}.amazonaws.com",
                executionArn=f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{resource_id}",
            )
        elif kind == "aws:cognito/userPool:UserPool":
            resource_id = f"{REGION}_MockPool1"
            outputs["endpoint"] = f"cognito-idp.{REGION}.amazonaws.com/{resource_id}"
        elif kind == "aws:cognito/userPoolClient:UserPoolClient":
            resource_id = "mockclientid0123456789abcd"
        elif kind == "aws:opensearch/domain:Domain":
            outputs.update(
                arn=f"arn:aws:es:{REGION}:{ACCOUNT}:domain/{inputs['domainName']}",
                endpoint=f"search-{inputs['domainName']}-mock.{REGION}.es.amazonaws.com",
            )
        elif kind == "aws:cloudfront/distribution:Distribution":
            resource_id = "E2MOCKDISTRIB"
            outputs.update(
                domainName="d111111abcdef8.cloudfront.net",
                arn=f"arn:aws:cloudfront::{ACCOUNT}:distribution/E2MOCKDISTRIB",
            )
        elif kind == "aws:cloudwatch/logGroup:LogGroup":
            outputs["arn"] = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{inputs['name']}"
        elif kind == "aws:sns/topic:Topic":
            outputs.update(name=name, arn=f"arn:aws:sns:{REGION}:{ACCOUNT}:{name}")
        return resource_id, {**inputs, **outputs}

    def call(self, args: pulumi.runtime.MockCallArgs):
        function = args.token  # an invoke's name, e.g. aws:index/getRegion:getRegion
        if function == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": ACCOUNT,
                "arn": f"arn:aws:iam::{ACCOUNT}:user/deployer",
                "userId": "AIDAMOCK",
                "id": ACCOUNT,
            }
        if function == "aws:index/getAvailabilityZones:getAvailabilityZones":
            return {
                "names": [f"{REGION}a", f"{REGION}b", f"{REGION}c"],
                "zoneIds": ["use1-az1", "use1-az2", "use1-az4"],
            }
        raise NotImplementedError(f"the mocks do not answer {function}: add it to infra/synth.py")


def _invoke_arn(function_arn: str) -> str:
    return f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{function_arn}/invocations"


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The mock monitor, also keeping what the engine would see: inputs and property dependencies."""

    def __init__(self, mocks: Mocks):
        super().__init__(mocks)
        self.declared: list[Declared] = []

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            registered = self.resources[response.urn]
            self.declared.append(
                Declared(
                    type=request.type,
                    name=request.name,
                    urn=response.urn,
                    custom=bool(request.custom),
                    inputs=rpc.deserialize_properties(request.object),
                    outputs={"id": registered.id, **registered.state} if request.custom else {},
                    property_dependencies={k: list(v.urns) for k, v in request.propertyDependencies.items()},
                )
            )
        return response


@dataclass
class Synthesis:
    stack: str
    resources: list[Declared]
    outputs: dict[str, Any]


def synthesize(stack: str) -> Synthesis:
    """Every resource the program declares for this stack, run to completion (preview=False)."""
    monitor = RecordingMonitor(Mocks())
    set_root_resource(None)  # a fresh root Stack, so several stacks can run in one process
    pulumi.runtime.set_mocks(Mocks(), project=PROJECT, stack=stack, preview=False, monitor=monitor)
    pulumi.runtime.set_all_config(stack_config(stack))
    root = get_root_resource()
    _sync_await(run_pulumi_func(lambda: runpy.run_path(str(REPO / "__main__.py"))))
    outputs = _sync_await(pulumi.Output.from_input(root.outputs).future())
    return Synthesis(stack, monitor.declared, outputs)


def _statements(document: Any) -> list[dict]:
    doc = json.loads(document) if isinstance(document, str) else document or {}
    found = doc.get("Statement", [])
    return found if isinstance(found, list) else [found]


def _policy_summary(document: Any) -> str:
    parts = []
    for s in _statements(document):
        actions = s.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        parts.append(f"{s['Effect']} {','.join(actions[:3])}{'…' if len(actions) > 3 else ''}")
    return "; ".join(parts)


def _behaviours(p: dict) -> str:
    behaviours = [p.get("defaultCacheBehavior") or {}, *(p.get("orderedCacheBehaviors") or [])]
    return ",".join(sorted({b.get("viewerProtocolPolicy", "?") for b in behaviours}))


# What a reviewer checks first on each kind of resource (camelCase inputs as the engine sees them).
SECURITY_VIEW = {
    "aws:s3/bucket:Bucket": lambda p: f"name {p.get('bucket') or p.get('bucketPrefix', '') + '*'}",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": lambda p: (
        "all blocked"
        if all(p.get(k) for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))
        else "NOT all blocked"
    ),
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": lambda p: (
        "sse " + p["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"]
    ),
    "aws:s3/bucketVersioning:BucketVersioning": lambda p: "versioning " + p["versioningConfiguration"]["status"],
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": lambda p: p["rule"]["objectOwnership"],
    "aws:s3/bucketPolicy:BucketPolicy": lambda p: _policy_summary(p["policy"]),
    "aws:s3/bucketCorsConfiguration:BucketCorsConfiguration": lambda p: (
        "origins " + ",".join(p["corsRules"][0]["allowedOrigins"])
    ),
    "aws:cloudfront/distribution:Distribution": lambda p: (
        f"viewers {_behaviours(p)}, tls "
        + (p["viewerCertificate"].get("minimumProtocolVersion") or "CloudFront default certificate")
        + f", error pages {len(p.get('customErrorResponses') or [])}"
    ),
    "aws:apigatewayv2/route:Route": lambda p: f"{p['routeKey']} auth {p.get('authorizationType', 'NONE')}",
    "aws:apigatewayv2/authorizer:Authorizer": lambda p: f"{p['authorizerType']} iss {p['jwtConfiguration']['issuer']}",
    "aws:apigatewayv2/integration:Integration": lambda p: f"payload {p.get('payloadFormatVersion')}",
    "aws:apigatewayv2/stage:Stage": lambda p: (
        "throttle {throttlingRateLimit}/s burst {throttlingBurstLimit}".format(**p["defaultRouteSettings"])
        + (", access logs" if p.get("accessLogSettings") else ", NO access logs")
    ),
    "aws:lambda/function:Function": lambda p: (
        f"{p['runtime']} {p['handler']} {p['memorySize']} MB "
        f"{p['timeout']} s reserved {p.get('reservedConcurrentExecutions')}"
    ),
    "aws:lambda/alias:Alias": lambda p: f"alias {p['name']} -> version {p['functionVersion']}",
    "aws:cloudwatch/logGroup:LogGroup": lambda p: f"{p['name']} kept {p.get('retentionInDays')} d",
    "aws:iam/rolePolicy:RolePolicy": lambda p: _policy_summary(p["policy"]),
    "aws:sqs/queue:Queue": lambda p: "sse" if p.get("sqsManagedSseEnabled") else "NOT encrypted",
    "aws:opensearch/domain:Domain": lambda p: (
        f"{p['engineVersion']} {p['clusterConfig']['instanceCount']}x"
        f"{p['clusterConfig']['instanceType']}, at rest {p['encryptAtRest']['enabled']}, node-to-node "
        f"{p['nodeToNodeEncryption']['enabled']}, {p['domainEndpointOptions']['tlsSecurityPolicy']}, "
        f"fine-grained {p['advancedSecurityOptions']['enabled']}"
    ),
    "aws:mwaa/environment:Environment": lambda p: (
        f"airflow {p['airflowVersion']} {p['environmentClass']} "
        f"workers {p['minWorkers']}-{p['maxWorkers']} web {p['webserverAccessMode']}, "
        f"{sum(1 for v in p['loggingConfiguration'].values() if v.get('enabled'))}/5 logs"
    ),
    "aws:cognito/userPool:UserPool": lambda p: (
        f"deletion {p['deletionProtection']} mfa {p['mfaConfiguration']} "
        f"password >= {p['passwordPolicy']['minimumLength']}"
    ),
    "aws:cognito/userPoolClient:UserPoolClient": lambda p: (
        f"flows {p['allowedOauthFlows']} secret {p.get('generateSecret', False)}"
    ),
    "aws:cloudwatch/metricAlarm:MetricAlarm": lambda p: p.get("alarmDescription", ""),
}


def _integral(value: Any) -> Any:
    """The engine's numbers are floats: show 28.0 as 28."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    return value


def table(synthesis: Synthesis) -> str:
    """One row per resource, grouped by component (URN order)."""
    rows = [("TYPE", "NAME", "SECURITY-RELEVANT PROPERTIES")]
    for r in sorted(synthesis.resources, key=lambda r: r.urn.replace("$", "~")):  # a component before its children
        view = SECURITY_VIEW.get(r.type)
        kind = r.type if r.custom else f"{r.type} (component)"
        rows.append((kind, r.name, view(_integral(r.inputs)) if view else ""))
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    return "\n".join(f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c}".rstrip() for a, b, c in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.synth", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="dev", help=f"one of {', '.join(known_stacks())}")
    parser.add_argument("--json", action="store_true", help="print the resources as JSON")
    args = parser.parse_args(argv)
    synthesis = synthesize(args.stack)
    if args.json:
        print(json.dumps([r.as_dict() for r in synthesis.resources], indent=1, default=str))
        return 0
    from policy.edna_policies import ALL_POLICIES, check, format_violations

    violations = check([r.as_dict() for r in synthesis.resources if r.custom])
    custom = sum(r.custom for r in synthesis.resources)
    print(table(synthesis))
    print(f"\nstack {args.stack}: {custom} resources in {len(synthesis.resources) - custom} components")
    for name, value in synthesis.outputs.items():
        print(f"output {name} = {value}")
    print(f"policy pack edna-security: {len(ALL_POLICIES)} rules, {len(violations)} violations")
    if violations:
        print(format_violations(violations))
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
