"""The Cognito identity adapter against moto's cognito-idp, over real HTTP and real JWTs.

moto signs every pool's tokens with one shared key (`kid: "dummy"`) and names the real AWS issuer
(`https://cognito-idp.us-east-1.amazonaws.com/<pool>`) while serving the JWKS itself: so the app is
configured with the issuer and the JWKS URL separately, and a foreign pool's token verifies its
signature and must be refused on its issuer alone.
"""

from __future__ import annotations

import base64
import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from cognito_pool import PASSWORD, Pool
from conftest import make_config, serve
from flask import Flask, jsonify
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from service import create_app
from service.adapters.identity import InvalidToken
from service.adapters.identity.cognito import cognito_verifier
from service.adapters.identity.jwks import parse_roles

TIMEOUT = 30


def claims_of(token: str) -> dict:
    """A JWT's payload, unverified: only to learn what moto puts in its tokens."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


USERS = {
    "ann": ("acme", ("admin",)),
    "ed": ("acme", ("editor",)),
    "vic": ("acme", ("viewer",)),
    "lea": ("acme", ("viewer", "labeler")),
    "bea": ("beta", ("editor",)),
    "nobody": ("acme", ()),
    "drifter": (None, ("editor",)),
}


@pytest.fixture(scope="module")
def pool(moto_endpoint: str) -> Pool:
    return Pool.create(moto_endpoint, USERS)


@contextlib.contextmanager
def cognito_app(pool: Pool, moto_endpoint: str, data_dir: Path, uses: str = "id") -> Iterator[str]:
    """Edna with Cognito identity over the pool, served on loopback; yields its base URL."""
    config = make_config("local", data_dir, moto_endpoint).replace(
        identity="cognito",
        cognito_issuer=pool.issuer(),
        cognito_jwks_url=f"{moto_endpoint}/{pool.pool_id}/.well-known/jwks.json",
        cognito_client_id=pool.client_id,
        cognito_token_use=uses,
    )
    # the verifier looks each token's member up in the pool: boto3's endpoint override points it at moto
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER", moto_endpoint)
        with serve(create_app(config)) as base_url:
            yield base_url


@pytest.fixture(scope="module")
def base_url(pool: Pool, moto_endpoint: str, tmp_path_factory) -> Iterator[str]:
    with cognito_app(pool, moto_endpoint, tmp_path_factory.mktemp("cognito")) as url:
        yield url


def call(base_url: str, method: str, path: str, token: str | None = None, **kwargs) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.request(method, base_url + path, headers=headers, timeout=TIMEOUT, **kwargs)


def me(base_url: str, token: str) -> requests.Response:
    return call(base_url, "GET", "/api/me", token)


# --- what moto issues (the facts the adapter relies on) ----------------------------------------


def test_moto_tokens_carry_what_the_adapter_reads(pool: Pool):
    tokens = pool.tokens("lea")
    id_claims, access_claims = claims_of(tokens["IdToken"]), claims_of(tokens["AccessToken"])
    assert id_claims["iss"] == access_claims["iss"] == pool.issuer()
    assert id_claims["token_use"] == "id"
    assert id_claims["aud"] == pool.client_id
    assert id_claims["cognito:username"] == "lea"
    assert id_claims["custom:tenant"] == "acme"
    assert sorted(id_claims["cognito:groups"]) == ["labeler", "viewer"]
    # Access tokens name the client in `client_id` and the user in `username`, as Cognito's do,
    # and (as on Cognito without a pre-token-generation trigger) carry no custom attributes.
    assert access_claims["token_use"] == "access"
    assert access_claims["client_id"] == pool.client_id
    assert access_claims["username"] == "lea"
    assert "custom:tenant" not in access_claims


# --- the ID token signs the caller in ----------------------------------------------------------


def test_me_reads_user_tenant_and_roles_from_the_id_token(base_url: str, pool: Pool):
    resp = me(base_url, pool.id_token("ann"))
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"user": "ann", "tenant": "acme", "roles": ["admin"]}

    resp = me(base_url, pool.id_token("lea"))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["user"], body["tenant"]) == ("lea", "acme")
    assert body["roles"] == ["labeler"]  # the member directory's role: the highest of its role groups


def test_health_reports_cognito(base_url: str):
    resp = call(base_url, "GET", "/api/health")
    assert resp.status_code == 200
    assert resp.json()["adapters"]["identity"] == "cognito"


def test_local_sign_in_and_jwks_do_not_exist_in_cognito_mode(base_url: str):
    resp = call(base_url, "POST", "/api/auth/token", json={"username": "ann", "password": PASSWORD})
    assert resp.status_code == 404, resp.text
    assert "Cognito" in resp.json()["message"]
    assert call(base_url, "GET", "/api/auth/jwks").status_code == 404


def test_no_token_is_401_with_a_bearer_challenge(base_url: str):
    resp = call(base_url, "GET", "/api/me")
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


# --- tokens that must be refused -------------------------------------------------------------


def test_token_of_another_app_client_is_401(base_url: str, pool: Pool):
    other_client = pool.new_client("someone-elses-app")
    token = pool.id_token("ann", other_client)
    assert claims_of(token)["aud"] == other_client
    resp = me(base_url, token)
    assert resp.status_code == 401, resp.text
    assert "audience" in resp.json()["message"]


def test_token_of_another_pool_is_401_although_moto_signs_it_with_the_same_key(base_url: str, moto_endpoint: str):
    other = Pool.create(moto_endpoint, {"ann": ("acme", ("admin",))})
    token = other.id_token("ann")
    assert claims_of(token)["iss"] == other.issuer()
    resp = me(base_url, token)
    assert resp.status_code == 401, resp.text
    assert "issuer" in resp.json()["message"]


def test_tampered_id_token_is_401(base_url: str, pool: Pool):
    header, payload, signature = pool.id_token("vic").split(".")
    claims = claims_of(f"{header}.{payload}.{signature}")
    claims["cognito:groups"] = ["admin"]
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    resp = me(base_url, f"{header}.{forged}.{signature}")
    assert resp.status_code == 401, resp.text


def test_access_token_is_401_when_only_id_tokens_are_accepted(base_url: str, pool: Pool):
    resp = me(base_url, pool.tokens("ann")["AccessToken"])
    assert resp.status_code == 401, resp.text
    assert "token_use" in resp.json()["message"]


def test_access_token_passes_token_use_but_has_no_tenant(pool: Pool, moto_endpoint: str, tmp_path: Path):
    """With `id,access` an access token passes issuer, audience (`client_id`) and use, but Cognito
    access tokens carry no custom attribute: without a pre-token-generation trigger that adds
    `custom:tenant`, they are refused for want of a tenant. ID tokens still work."""
    tokens = pool.tokens("ann")
    with cognito_app(pool, moto_endpoint, tmp_path, uses="id,access") as url:
        resp = me(url, tokens["AccessToken"])
        assert resp.status_code == 401, resp.text
        assert "tenant" in resp.json()["message"]
        assert "token_use" not in resp.json()["message"]

        resp = me(url, tokens["IdToken"])
        assert resp.status_code == 200, resp.text
        assert resp.json()["tenant"] == "acme"

        other_client = pool.new_client("another-app")
        resp = me(url, pool.tokens("ann", other_client)["AccessToken"])
        assert resp.status_code == 401
        assert "audience" in resp.json()["message"]


def test_user_without_tenant_attribute_is_401(base_url: str, pool: Pool):
    resp = me(base_url, pool.id_token("drifter"))
    assert resp.status_code == 401, resp.text
    assert "tenant" in resp.json()["message"]


def test_user_in_no_group_is_signed_in_but_has_no_role(base_url: str, pool: Pool):
    resp = me(base_url, pool.id_token("nobody"))
    assert resp.status_code == 403, resp.text


# --- roles and tenants from Cognito --------------------------------------------------------------


def test_viewer_cannot_create_a_dataset_but_an_editor_can(base_url: str, pool: Pool):
    body = {"name": f"cats-{uuid.uuid4().hex[:6]}"}
    resp = call(base_url, "POST", "/api/datasets", pool.id_token("vic"), json=body)
    assert resp.status_code == 403, resp.text

    resp = call(base_url, "POST", "/api/datasets", pool.id_token("ed"), json=body)
    assert resp.status_code == 201, resp.text
    dataset = resp.json()
    assert dataset["name"] == body["name"]

    # The viewer of the same tenant reads it.
    resp = call(base_url, "GET", f"/api/datasets/{dataset['id']}", pool.id_token("vic"))
    assert resp.status_code == 200, resp.text


def test_a_demoted_or_removed_members_token_stops_working(base_url: str, pool: Pool):
    """Roles and membership are the pool's of now, not the token's (the check's cache is off in tests)."""
    name = f"temp-{uuid.uuid4().hex[:6]}"
    pool.add_user(name, "acme", ("editor",))
    token = pool.id_token(name)
    assert call(base_url, "POST", "/api/datasets", token, json={"name": name}).status_code == 201

    pool.idp.admin_remove_user_from_group(UserPoolId=pool.pool_id, Username=name, GroupName="editor")
    pool.idp.admin_add_user_to_group(UserPoolId=pool.pool_id, Username=name, GroupName="viewer")
    assert call(base_url, "POST", "/api/datasets", token, json={"name": name + "2"}).status_code == 403
    assert me(base_url, token).json()["roles"] == ["viewer"]

    pool.idp.admin_delete_user(UserPoolId=pool.pool_id, Username=name)
    assert me(base_url, token).status_code == 401


def test_tenant_comes_from_the_token_and_isolates_datasets(base_url: str, pool: Pool):
    resp = call(base_url, "POST", "/api/datasets", pool.id_token("bea"), json={"name": "beta-only"})
    assert resp.status_code == 201, resp.text
    beta_dataset = resp.json()["id"]

    acme_admin = pool.id_token("ann")
    resp = call(base_url, "GET", f"/api/datasets/{beta_dataset}", acme_admin)
    assert resp.status_code == 404, resp.text
    resp = call(base_url, "DELETE", f"/api/datasets/{beta_dataset}", acme_admin)
    assert resp.status_code == 404, resp.text
    listed = call(base_url, "GET", "/api/datasets", acme_admin).json()["items"]
    assert beta_dataset not in {d["id"] for d in listed}

    resp = call(base_url, "GET", f"/api/datasets/{beta_dataset}", pool.id_token("bea"))
    assert resp.status_code == 200, resp.text


# --- the Cognito verifier's lifetime checks and key fetching, with a key of our own ---------------


class FakeCognito:
    """A JWKS endpoint on loopback and the private keys behind it, to mint Cognito-shaped tokens
    that Cognito itself will not issue (expired, not yet valid, from a rotated key)."""

    issuer = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_fake"
    client_id = "fake-client"

    def __init__(self):
        self.keys = [self.new_key()]
        self.fetches = 0
        app = Flask(__name__)

        @app.get("/jwks.json")
        def jwks():
            self.fetches += 1
            return jsonify(KeySet(self.keys).as_dict(private=False))

        self.app = app

    @staticmethod
    def new_key() -> RSAKey:
        key = RSAKey.generate_key(2048)
        return RSAKey.import_key(key.as_pem(private=True), parameters={"kid": uuid.uuid4().hex})

    def token(self, key: RSAKey | None = None, **changes) -> str:
        key = key or self.keys[0]
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.client_id,
            "token_use": "id",
            "cognito:username": "ann",
            "custom:tenant": "acme",
            "cognito:groups": ["admin"],
            "iat": now,
            "exp": now + 3600,
        }
        claims.update(changes)
        return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key, algorithms=["RS256"])


@pytest.fixture
def fake_cognito() -> Iterator[tuple[FakeCognito, object]]:
    fake = FakeCognito()
    with serve(fake.app) as url:
        verifier = cognito_verifier(fake.issuer, f"{url}/jwks.json", fake.client_id, {"id"})
        yield fake, verifier


def test_fake_cognito_token_is_accepted(fake_cognito):
    fake, verifier = fake_cognito
    principal = verifier.verify(fake.token())
    assert (principal.user, principal.tenant, principal.roles) == ("ann", "acme", ("admin",))


def test_expired_token_is_401(fake_cognito):
    fake, verifier = fake_cognito
    now = int(time.time())
    with pytest.raises(InvalidToken, match="expired"):
        verifier.verify(fake.token(iat=now - 7200, exp=now - 3600))


def test_token_not_yet_valid_is_401(fake_cognito):
    fake, verifier = fake_cognito
    now = int(time.time())
    with pytest.raises(InvalidToken, match="not valid yet"):
        verifier.verify(fake.token(nbf=now + 3600))


def test_token_without_expiry_is_401(fake_cognito):
    fake, verifier = fake_cognito
    claims = {"iss": fake.issuer, "aud": fake.client_id, "token_use": "id"}
    claims |= {"cognito:username": "ann", "custom:tenant": "acme"}
    key = fake.keys[0]
    token = jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key, algorithms=["RS256"])
    with pytest.raises(InvalidToken, match="no expiry"):
        verifier.verify(token)


def test_keys_are_fetched_once_and_cached(fake_cognito):
    fake, verifier = fake_cognito
    for _ in range(3):
        verifier.verify(fake.token())
    assert fake.fetches == 1


def test_unknown_kid_is_401_without_refetching_at_once(fake_cognito):
    """A token naming a kid the JWKS lacks is refused; within REFRESH_AT_MOST_EVERY seconds of the
    last fetch it does not trigger another fetch (forged kids cannot hammer the JWKS endpoint)."""
    fake, verifier = fake_cognito
    verifier.verify(fake.token())
    stranger = FakeCognito.new_key()
    with pytest.raises(InvalidToken, match="unknown key"):
        verifier.verify(fake.token(key=stranger))
    assert fake.fetches == 1


def test_token_signed_with_a_key_the_jwks_does_not_hold_is_401(fake_cognito):
    fake, verifier = fake_cognito
    forger = FakeCognito.new_key()
    forged = RSAKey.import_key(forger.as_pem(private=True), parameters={"kid": fake.keys[0].kid})
    with pytest.raises(InvalidToken):
        verifier.verify(fake.token(key=forged))


# --- parse_roles -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "roles"),
    [
        (["admin", "editor"], ("admin", "editor")),
        ([], ()),
        ("[admin editor]", ("admin", "editor")),
        ("[viewer]", ("viewer",)),
        ("[]", ()),
        ("admin", ("admin",)),
        ("[admin, editor]", ("admin", "editor")),
        (None, ()),
        (42, ()),
        ({"admin": True}, ()),
    ],
)
def test_parse_roles(value, roles):
    assert parse_roles(value) == roles
