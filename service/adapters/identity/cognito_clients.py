"""Applications on AWS: one Cognito app client each, with the client-credentials grant.

An application asks the pool's token endpoint (`https://<domain>/oauth2/token`, grant
`client_credentials`) for an access token whose `sub` and `client_id` are its client and whose
scope is `<resource server>/<role>`. Edna binds the client to its tenant (the application
directory), so nothing the caller sends names a tenant.

API Gateway's JWT authorizer accepts an access token only when its `client_id` is one of the
authorizer's audiences. So creating or revoking an application also rewrites that list: the site's
client plus every live application's client. The list is recomputed whole each time (not patched),
so a lost concurrent update or a `pulumi up` that reset it is repaired by the next change; the
Pulumi program ignores later changes to it (infra/api.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from service.adapters.identity.applications import AppClients, Credentials
from service.adapters.identity.cognito_members import pool_of_issuer
from service.vocabulary.errors import Unavailable

TOKEN_MINUTES = 60


class CognitoAppClients(AppClients):
    name = "cognito"

    def __init__(
        self,
        pool_id: str,
        connect: Callable[[str], Any],
        scope_server: str,
        site_client_id: str,
        api_id: str = "",
        authorizer_id: str = "",
    ):
        self.pool_id = pool_id
        self._connect = connect  # service name → boto3 client, made on first use
        self.scope_server = scope_server
        self.site_client_id = site_client_id
        self.api_id = api_id
        self.authorizer_id = authorizer_id

    def create(self, tenant: str, account_id: str, name: str, role: str) -> Credentials:
        try:
            made = self._connect("cognito-idp").create_user_pool_client(
                UserPoolId=self.pool_id,
                ClientName=f"app-{tenant}-{account_id}"[:128],
                GenerateSecret=True,
                AllowedOAuthFlowsUserPoolClient=True,
                AllowedOAuthFlows=["client_credentials"],
                AllowedOAuthScopes=[f"{self.scope_server}/{role}"],
                ExplicitAuthFlows=["ALLOW_REFRESH_TOKEN_AUTH"],
                AccessTokenValidity=TOKEN_MINUTES,
                TokenValidityUnits={"AccessToken": "minutes"},
                PreventUserExistenceErrors="ENABLED",
                EnableTokenRevocation=True,
            )["UserPoolClient"]
        except ClientError as exc:
            raise Unavailable(f"the identity provider refused a new app client: {_code(exc)}") from None
        self.sync_audiences()
        return Credentials(made["ClientId"], made["ClientSecret"])

    def delete(self, client_id: str) -> None:
        try:
            self._connect("cognito-idp").delete_user_pool_client(UserPoolId=self.pool_id, ClientId=client_id)
        except ClientError as exc:
            if _code(exc) != "ResourceNotFoundException":
                raise Unavailable(f"the identity provider did not delete the app client: {_code(exc)}") from None
        self.sync_audiences()

    def app_client_ids(self) -> list[str]:
        """The pool's application clients: those made here (by their name) that still exist."""
        idp = self._connect("cognito-idp")
        ids, token = [], None
        while True:
            kwargs = {"UserPoolId": self.pool_id, "MaxResults": 60, **({"NextToken": token} if token else {})}
            page = idp.list_user_pool_clients(**kwargs)
            ids += [c["ClientId"] for c in page["UserPoolClients"] if c["ClientName"].startswith("app-")]
            token = page.get("NextToken")
            if not token:
                return sorted(ids)

    def sync_audiences(self) -> None:
        """The authorizer's audiences become the site's client plus every application's client."""
        if not (self.api_id and self.authorizer_id):
            return  # no API Gateway in front (local runs, tests of the directory alone)
        gateway = self._connect("apigatewayv2")
        issuer = gateway.get_authorizer(ApiId=self.api_id, AuthorizerId=self.authorizer_id)["JwtConfiguration"][
            "Issuer"
        ]
        gateway.update_authorizer(
            ApiId=self.api_id,
            AuthorizerId=self.authorizer_id,
            JwtConfiguration={"Audience": [self.site_client_id, *self.app_client_ids()], "Issuer": issuer},
        )


def _code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "error")


def cognito_app_clients(config) -> CognitoAppClients:
    """The issuer's pool and region; boto3's `AWS_ENDPOINT_URL_*` variables point it elsewhere (tests)."""
    region, pool_id = pool_of_issuer(config.cognito_issuer)

    def connect(service: str) -> Any:
        import boto3

        return boto3.client(service, region_name=region)

    return CognitoAppClients(
        pool_id,
        connect,
        scope_server=config.cognito_scope_server,
        site_client_id=config.cognito_client_id,
        api_id=config.api_gateway_id,
        authorizer_id=config.api_authorizer_id,
    )
