"""CloudFront, the only public entry: the site from a private bucket through Origin Access
Control, `/api/*` to the HTTP API uncached, security headers on every response."""

from __future__ import annotations

import mimetypes
from pathlib import Path

import pulumi
import pulumi_aws as aws

from infra.buckets import PrivateBucket
from infra.config import REPO, StackConfig
from infra.documents import statement
from infra.identity import Identity

STATIC = REPO / "static"
SPA_ROUTING = Path(__file__).with_name("spa_routing.js")
# AWS managed policies (ids are the same in every account).
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST_HEADER = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
SECURITY_HEADERS = "67f7725c-6f97-4210-82d7-5512b31e9d03"
SITE_ORIGIN, API_ORIGIN = "site", "api"
ALL_METHODS = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]
# Entry points are revalidated on every load so a deploy shows at once; the rest may be cached briefly.
NO_CACHE = {"index.html", "config.json"}


class Edge(pulumi.ComponentResource):
    def __init__(
        self, config: StackConfig, api_endpoint: pulumi.Input[str], opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("edna:web:Edge", "edge", None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.site = PrivateBucket("site", self, bucket_prefix=f"{config.prefix}-site-", force_destroy=True)
        self.access_control = aws.cloudfront.OriginAccessControl(
            "site-access",
            name=f"{config.prefix}-site",
            origin_access_control_origin_type="s3",
            signing_behavior="always",
            signing_protocol="sigv4",
            opts=child,
        )
        self.routing = aws.cloudfront.Function(
            "spa-routing",
            name=f"{config.prefix}-spa-routing",
            runtime="cloudfront-js-2.0",
            code=SPA_ROUTING.read_text(),
            publish=True,
            opts=child,
        )
        api_domain = pulumi.Output.from_input(api_endpoint).apply(lambda url: url.removeprefix("https://"))
        custom = bool(config.domain_name)
        self.distribution = aws.cloudfront.Distribution(
            "cdn",
            enabled=True,
            is_ipv6_enabled=True,
            http_version="http2and3",
            price_class="PriceClass_100",
            default_root_object="index.html",
            aliases=[config.domain_name] if custom else None,
            origins=[
                {
                    "origin_id": SITE_ORIGIN,
                    "domain_name": self.site.bucket.bucket_regional_domain_name,
                    "origin_access_control_id": self.access_control.id,
                },
                {
                    "origin_id": API_ORIGIN,
                    "domain_name": api_domain,
                    "custom_origin_config": {
                        "http_port": 80,
                        "https_port": 443,
                        "origin_protocol_policy": "https-only",
                        "origin_ssl_protocols": ["TLSv1.2"],
                    },
                },
            ],
            default_cache_behavior={
                "target_origin_id": SITE_ORIGIN,
                "viewer_protocol_policy": "redirect-to-https",
                "allowed_methods": ["GET", "HEAD"],
                "cached_methods": ["GET", "HEAD"],
                "compress": True,
                "cache_policy_id": CACHING_OPTIMIZED,
                "response_headers_policy_id": SECURITY_HEADERS,
                "function_associations": [{"event_type": "viewer-request", "function_arn": self.routing.arn}],
            },
            ordered_cache_behaviors=[
                {
                    "path_pattern": "/api/*",
                    "target_origin_id": API_ORIGIN,
                    "viewer_protocol_policy": "redirect-to-https",
                    "allowed_methods": ALL_METHODS,
                    "cached_methods": ["GET", "HEAD"],
                    "compress": True,
                    "cache_policy_id": CACHING_DISABLED,
                    "origin_request_policy_id": ALL_VIEWER_EXCEPT_HOST_HEADER,
                    "response_headers_policy_id": SECURITY_HEADERS,
                }
            ],
            restrictions={"geo_restriction": {"restriction_type": "none"}},
            # CloudFront's own certificate cannot raise the TLS floor; a custom domain's certificate can.
            viewer_certificate=(
                {
                    "acm_certificate_arn": config.certificate_arn,
                    "ssl_support_method": "sni-only",
                    "minimum_protocol_version": "TLSv1.2_2021",
                }
                if custom
                else {"cloudfront_default_certificate": True}
            ),
            opts=child,
        )
        self.site.seal(
            statement(
                ["s3:GetObject"],
                [pulumi.Output.concat(self.site.arn, "/*")],
                Sid="CloudFrontReadsTheSite",
                Principal={"Service": "cloudfront.amazonaws.com"},
                Condition={"StringEquals": {"AWS:SourceArn": self.distribution.arn}},
            )
        )
        host = config.domain_name or self.distribution.domain_name
        self.url = pulumi.Output.concat("https://", host)

    def publish(self, identity: Identity) -> None:
        """The files of static/ and the config.json the frontend reads at start."""
        child = pulumi.ResourceOptions(parent=self, depends_on=[self.site.policy])
        self.files = [
            aws.s3.BucketObjectv2(
                f"site-{path.relative_to(STATIC).as_posix()}",
                bucket=self.site.id,
                key=path.relative_to(STATIC).as_posix(),
                source=pulumi.FileAsset(str(path)),
                content_type=content_type(path.name),
                cache_control="no-cache" if path.name in NO_CACHE else "public, max-age=300",
                opts=child,
            )
            for path in sorted(STATIC.rglob("*"))
            if path.is_file() and path.relative_to(STATIC).as_posix() != "config.json"  # generated below
        ]
        frontend = {
            "apiBase": "/api",
            "auth": {
                "mode": "cognito",
                "domain": identity.hosted_ui,
                "clientId": identity.client.id,
                "region": identity.config.region,
                "redirectUri": pulumi.Output.concat(self.url, "/"),
            },
        }
        self.frontend_config = aws.s3.BucketObjectv2(
            "site-config.json",
            bucket=self.site.id,
            key="config.json",
            content=pulumi.Output.json_dumps(frontend),
            content_type="application/json",
            cache_control="no-cache",
            opts=child,
        )
        self.register_outputs({"url": self.url})


def content_type(name: str) -> str:
    if name.endswith((".js", ".mjs")):
        return "text/javascript"
    return mimetypes.guess_type(name)[0] or "application/octet-stream"
