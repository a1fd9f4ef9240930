"""Applications on AWS: Cognito app clients with the client-credentials grant, bound to a tenant by
Edna, and API Gateway's JWT authorizer kept accepting exactly them (moto's cognito-idp and apigatewayv2).

moto has no token endpoint for the client-credentials grant, so the test mints the token Cognito
would: signed by moto's pool key, `sub` and `client_id` the app client, `token_use: access`, the
scope `edna/<role>`, no audience and no tenant.
"""

from __future__ import annotations

import gzip
import json
import time
from importlib import resources

import boto3
import pytest
import requests
from cognito_pool import Pool
from conftest import make_config, serve
from joserfc import jwt
from joserfc.jwk import RSAKey

from service import create_app

USERS = {"ann": ("acme", ("admin",)), "bea": ("beta", ("admin",))}


@pytest.fixture(scope="module")
def aws(moto_endpoint: str, tmp_path_factory):
    pool = Pool.create(moto_endpoint, USERS)
    gateway = boto3.client("apigatewayv2", endpoint_url=moto_endpoint)
    api_id = gateway.create_api(Name="edna-test-api", ProtocolType="HTTP")["ApiId"]
    authorizer_id = gateway.create_authorizer(
        ApiId=api_id,
        AuthorizerType="JWT",
        IdentitySource=["$request.header.Authorization"],
        Name="cognito",
        JwtConfiguration={"Audience": [pool.client_id], "Issuer": pool.issuer()},
    )["AuthorizerId"]
    config = make_config("local", tmp_path_factory.mktemp("apps"), moto_endpoint).replace(
        identity="cognito",
        cognito_issuer=pool.issuer(),
        cognito_jwks_url=f"{moto_endpoint}/{pool.pool_id}/.well-known/jwks.json",
        cognito_client_id=pool.client_id,
        api_gateway_id=api_id,
        api_authorizer_id=authorizer_id,
        service_token_url="https://auth.example.com/oauth2/token",
    )
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER", moto_endpoint)
        env.setenv("AWS_ENDPOINT_URL_APIGATEWAYV2", moto_endpoint)
        with serve(create_app(config)) as base_url:
            yield base_url, pool, gateway, api_id, authorizer_id


def moto_key():
    raw = resources.files("moto.cognitoidp").joinpath("resources/jwks-private.json.gz").read_bytes()
    return RSAKey.import_key(json.loads(gzip.decompress(raw)))


def client_credentials_token(pool: Pool, client_id: str, scope: str, **changes) -> str:
    """What Cognito's /oauth2/token answers an app client (the claims of its M2M access tokens)."""
    key = moto_key()
    now = int(time.time())
    claims = {"sub": client_id, "client_id": client_id, "token_use": "access", "scope": scope}
    claims |= {"iss": pool.issuer(), "iat": now, "exp": now + 3600, "jti": "x", "version": 2, **changes}
    return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key, algorithms=["RS256"])


def call(base_url: str, method: str, path: str, token: str | None = None, **kwargs) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.request(method, base_url + path, headers=headers, timeout=30, **kwargs)


def audiences(gateway, api_id: str, authorizer_id: str) -> list[str]:
    return gateway.get_authorizer(ApiId=api_id, AuthorizerId=authorizer_id)["JwtConfiguration"]["Audience"]


def test_an_application_is_an_app_client_with_its_roles_scope_and_the_authorizer_accepts_it(aws):
    base_url, pool, gateway, api_id, authorizer_id = aws
    admin = pool.id_token("ann")
    resp = call(base_url, "POST", "/api/service-accounts", admin, json={"name": "trainer", "role": "editor"})
    assert resp.status_code == 201, resp.text
    app = resp.json()
    assert app["token_url"] == "https://auth.example.com/oauth2/token" and app["client_secret"]
    made = pool.idp.describe_user_pool_client(UserPoolId=pool.pool_id, ClientId=app["client_id"])["UserPoolClient"]
    assert made["AllowedOAuthFlows"] == ["client_credentials"] and made["AllowedOAuthScopes"] == ["edna/editor"]
    assert made["ClientSecret"] == app["client_secret"]
    assert audiences(gateway, api_id, authorizer_id) == [pool.client_id, app["client_id"]]

    token = client_credentials_token(pool, app["client_id"], "edna/editor")
    me = call(base_url, "GET", "/api/me", token).json()
    assert me["tenant"] == "acme" and me["roles"] == ["editor"] and me["user"] == f"app:{app['id']}"
    assert call(base_url, "POST", "/api/datasets", token, json={"name": "from-a-pipeline"}).status_code == 201

    assert call(base_url, "DELETE", f"/api/service-accounts/{app['id']}", admin).status_code == 204
    assert call(base_url, "GET", "/api/me", token).status_code == 401
    assert audiences(gateway, api_id, authorizer_id) == [pool.client_id]
    clients = pool.idp.list_user_pool_clients(UserPoolId=pool.pool_id, MaxResults=60)["UserPoolClients"]
    assert app["client_id"] not in {c["ClientId"] for c in clients}


def test_the_tenant_is_edna_binding_and_the_scope_caps_the_role(aws):
    base_url, pool, *_ = aws
    app = call(base_url, "POST", "/api/service-accounts", pool.id_token("ann"), json={"name": "r", "role": "viewer"})
    client_id = app.json()["client_id"]
    assert call(base_url, "GET", "/api/me", client_credentials_token(pool, client_id, "edna/viewer")).status_code == 200
    refused = {
        "another tenant claimed": client_credentials_token(pool, client_id, "edna/viewer", tenant="beta"),
        "a higher scope": client_credentials_token(pool, client_id, "edna/admin"),
        "an id token": client_credentials_token(pool, client_id, "edna/viewer", token_use="id"),
        "an unknown client": client_credentials_token(pool, "unknownclient", "edna/viewer"),
        "another audience": client_credentials_token(pool, client_id, "edna/viewer", aud="someone-else"),
    }
    for why, token in refused.items():
        assert call(base_url, "GET", "/api/me", token).status_code == 401, why
    beta = pool.id_token("bea")
    assert call(base_url, "GET", "/api/service-accounts", beta).json()["items"] == []


def test_local_token_exchange_does_not_exist_with_cognito(aws):
    base_url, *_ = aws
    resp = call(base_url, "POST", "/api/auth/service-token", json={"client_id": "a", "client_secret": "b"})
    assert resp.status_code == 404 and "identity provider" in resp.json()["message"]


def test_the_audiences_are_rebuilt_whole_so_a_reset_list_is_repaired(aws):
    """`pulumi up` (or a lost concurrent update) may leave the list short: the next change rebuilds it."""
    base_url, pool, gateway, api_id, authorizer_id = aws
    admin = pool.id_token("ann")
    first = call(base_url, "POST", "/api/service-accounts", admin, json={"name": "a", "role": "viewer"}).json()
    gateway.update_authorizer(
        ApiId=api_id,
        AuthorizerId=authorizer_id,
        JwtConfiguration={"Audience": [pool.client_id], "Issuer": pool.issuer()},
    )
    second = call(base_url, "POST", "/api/service-accounts", admin, json={"name": "b", "role": "viewer"}).json()
    assert {first["client_id"], second["client_id"], pool.client_id} <= set(audiences(gateway, api_id, authorizer_id))
