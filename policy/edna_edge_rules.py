"""Edge rules: CloudFront is HTTPS-only over private S3 origins; API routes need JWTs; stages log and throttle."""

from __future__ import annotations

import re
from collections.abc import Iterator

if __package__:  # imported as policy.edna_edge_rules from the repo root
    from policy.edna_values import UNKNOWN, as_list, get, is_number, is_set, resource_policy
else:  # Pulumi runs `python __main__.py` inside policy/
    from edna_values import UNKNOWN, as_list, get, is_number, is_set, resource_policy

DISTRIBUTION = ("aws:cloudfront/distribution:Distribution",)
ROUTE = ("aws:apigatewayv2/route:Route",)
STAGE = ("aws:apigatewayv2/stage:Stage",)

HTTPS_VIEWER_POLICIES = {"redirect-to-https", "https-only"}
# Health, and the API's own description and docs (public by API.md): nothing that reads or changes data.
PUBLIC_ROUTES = {"GET /api/health", "GET /api/openapi.json", "GET /api/docs", "GET /api/docs/assets/{asset}"}
# CloudFront security policies are named TLSv1.<minor>_<year>; TLSv1.2_2021 is the oldest one accepted.
_TLS_POLICY = re.compile(r"^TLSv1\.(\d+)_(\d{4})$")
_S3_WEBSITE = re.compile(r"\.s3-website[.-][a-z0-9.-]*amazonaws\.com(\.cn)?$", re.IGNORECASE)
_S3_REST = re.compile(r"\.s3([.-][a-z0-9-]+)*\.amazonaws\.com(\.cn)?$", re.IGNORECASE)


def _behaviours(props: dict) -> Iterator[tuple[str, dict]]:
    default = get(props, "defaultCacheBehavior")
    if default is not UNKNOWN:
        yield "default_cache_behavior", default if isinstance(default, dict) else {}
    ordered = as_list(get(props, "orderedCacheBehaviors"))
    for index, behaviour in enumerate(ordered if ordered is not UNKNOWN else []):
        if isinstance(behaviour, dict):
            pattern = behaviour.get("pathPattern")
            yield f"ordered_cache_behaviors[{index}] ({pattern!r})", behaviour


def _viewer_https(props: dict, _name: str) -> Iterator[str]:
    for label, behaviour in _behaviours(props):
        policy = get(behaviour, "viewerProtocolPolicy")
        if policy is not UNKNOWN and policy not in HTTPS_VIEWER_POLICIES:
            yield f"{label} has viewer_protocol_policy {policy!r}: set it to 'redirect-to-https' (or 'https-only')."


def tls_policy_ok(version: object) -> bool:
    """TLSv1.2_2021 or newer (TLSv1.2_2025, TLSv1.3_2025, ...)."""
    match = _TLS_POLICY.match(version) if isinstance(version, str) else None
    if not match:
        return False
    minor, year = int(match.group(1)), int(match.group(2))
    return minor > 2 or (minor == 2 and year >= 2021)


def _tls_minimum(props: dict, _name: str) -> Iterator[str]:
    certificate = get(props, "viewerCertificate", default={})
    custom = get(certificate, "acmCertificateArn") or get(certificate, "iamCertificateId")
    if not custom:
        # The *.cloudfront.net certificate always accepts TLSv1 whatever minimum_protocol_version says
        # (AWS ViewerCertificate docs): only a custom certificate can enforce a minimum.
        return
    version = get(certificate, "minimumProtocolVersion")
    if version is not UNKNOWN and not tls_policy_ok(version):
        yield (
            f"viewer_certificate.minimum_protocol_version is {version or 'TLSv1 (the default)'!r}: "
            "set it to 'TLSv1.2_2021' or newer."
        )


def _s3_origins_use_oac(props: dict, _name: str) -> Iterator[str]:
    origins = as_list(get(props, "origins"))
    for origin in origins if origins is not UNKNOWN else []:
        if not isinstance(origin, dict):
            continue
        label = f"origin {origin.get('originId')!r}"
        domain = get(origin, "domainName")
        s3_config = get(origin, "s3OriginConfig")
        if is_set(get(s3_config, "originAccessIdentity")):
            yield (
                f"{label} uses a legacy origin access identity: drop s3_origin_config.origin_access_identity and "
                "set origin_access_control_id to an aws.cloudfront.OriginAccessControl (signing_behavior='always')."
            )
            continue
        if isinstance(domain, str) and _S3_WEBSITE.search(domain):
            yield (
                f"{label} points at the S3 website endpoint {domain!r} (public, HTTP only): use the bucket's "
                "bucket_regional_domain_name with origin_access_control_id instead."
            )
            continue
        is_s3 = isinstance(s3_config, dict) or (isinstance(domain, str) and _S3_REST.search(domain) is not None)
        oac = get(origin, "originAccessControlId")
        if is_s3 and oac is not UNKNOWN and not is_set(oac):
            yield (
                f"{label} reads S3 without origin access control: set origin_access_control_id to an "
                "aws.cloudfront.OriginAccessControl and keep the bucket private."
            )


def _response_headers(props: dict, _name: str) -> Iterator[str]:
    policy_id = get(props, "defaultCacheBehavior", "responseHeadersPolicyId")
    if policy_id is not UNKNOWN and not is_set(policy_id):
        yield (
            "default_cache_behavior has no response_headers_policy_id: attach an aws.cloudfront.ResponseHeadersPolicy "
            "(HSTS, nosniff, frame options, CSP) or a managed SecurityHeadersPolicy id."
        )


def _route_jwt(props: dict, _name: str) -> Iterator[str]:
    route_key = get(props, "routeKey")
    if route_key is UNKNOWN or route_key in PUBLIC_ROUTES:
        return
    kind = get(props, "authorizationType", default="NONE")
    authorizer = get(props, "authorizerId")
    if kind is not UNKNOWN and kind != "JWT":
        yield f"route {route_key!r} has authorization_type {kind!r}: set authorization_type='JWT' and authorizer_id."
    elif authorizer is not UNKNOWN and not is_set(authorizer):
        yield f"route {route_key!r} has no authorizer_id: point it at the Cognito JWT authorizer."


def _stage_access_logs(props: dict, _name: str) -> Iterator[str]:
    settings = get(props, "accessLogSettings")
    if settings is UNKNOWN:
        return
    missing = [
        py
        for engine, py in (("destinationArn", "destination_arn"), ("format", "format"))
        if not _known_or_set(get(settings, engine))
    ]
    if missing:
        yield (
            f"stage {get(props, 'name')!r} access_log_settings lacks {' and '.join(missing)}: send access logs to a "
            "LogGroup (destination_arn=log_group.arn) with a JSON format."
        )


def _known_or_set(value: object) -> bool:
    return value is UNKNOWN or is_set(value)


def _stage_throttling(props: dict, _name: str) -> Iterator[str]:
    settings = get(props, "defaultRouteSettings")
    if settings is UNKNOWN:
        return
    missing = [
        py
        for engine, py in (
            ("throttlingBurstLimit", "throttling_burst_limit"),
            ("throttlingRateLimit", "throttling_rate_limit"),
        )
        if not (get(settings, engine) is UNKNOWN or (is_number(get(settings, engine)) and get(settings, engine) > 0))
    ]
    if missing:
        yield (
            f"stage {get(props, 'name')!r} default_route_settings lacks {' and '.join(missing)}: "
            "set both to positive limits."
        )


POLICIES = [
    resource_policy(
        "cloudfront-viewer-https",
        "Every CloudFront cache behaviour (default and ordered) redirects viewers to HTTPS or accepts HTTPS only.",
        DISTRIBUTION,
        _viewer_https,
    ),
    resource_policy(
        "cloudfront-tls-minimum",
        "A CloudFront distribution with a custom certificate requires TLSv1.2_2021 or newer "
        "(the default *.cloudfront.net certificate cannot enforce a minimum).",
        DISTRIBUTION,
        _tls_minimum,
    ),
    resource_policy(
        "cloudfront-s3-origin-access-control",
        "CloudFront reads S3 origins through origin access control: no legacy OAI, no S3 website endpoints.",
        DISTRIBUTION,
        _s3_origins_use_oac,
    ),
    resource_policy(
        "cloudfront-response-headers-policy",
        "The default CloudFront cache behaviour attaches a response headers policy (security headers).",
        DISTRIBUTION,
        _response_headers,
    ),
    resource_policy(
        "apigateway-route-jwt",
        "Every API Gateway v2 route uses a JWT authorizer, except health and the API docs.",
        ROUTE,
        _route_jwt,
    ),
    resource_policy(
        "apigateway-stage-access-logs",
        "Every API Gateway v2 stage writes access logs (destination and format).",
        STAGE,
        _stage_access_logs,
    ),
    resource_policy(
        "apigateway-stage-throttling",
        "Every API Gateway v2 stage sets default route throttling (burst and rate limits).",
        STAGE,
        _stage_throttling,
    ),
]
