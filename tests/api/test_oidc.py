"""The generic OIDC identity adapter against an issuer the tests start: discovery and JWKS served
over loopback HTTP, tokens signed with joserfc, the real app over HTTP.

One issuer serves several realms, each with its own discovery document and keys: `` (the root,
Auth0-style: its issuer ends in `/`, its claims are namespaced URLs), `realms/acme` (Keycloak-style:
roles under `realm_access.roles`), `realms/rotating` (keys that change under a running server),
`realms/liar` (a discovery document naming another issuer) and `realms/flaky` (a JWKS endpoint that
goes down).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from conftest import Stack, running_stack
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

from service.adapters.identity import http_jwks
from service.adapters.identity.oidc import DISCOVERY_PATH, OidcSettings, oidc_verifier

TIMEOUT = 30
AUDIENCE = "https://api.edna.example.com"
NS = "https://edna.example.com/"  # Auth0 Actions must namespace custom claims with a URL


def new_key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})


KEY = new_key("key-1")
EC_KEY = ECKey.generate_key("P-256", parameters={"kid": "ec-1", "use": "sig", "alg": "ES256"})


@dataclass
class Realm:
    keys: list
    claimed_issuer: str | None = None  # what its discovery document says; None: the realm's own issuer
    jwks_down: bool = False  # its JWKS endpoint answers 503
    fetches: dict[str, int] = field(default_factory=lambda: {"discovery": 0, "jwks": 0})


class TestIssuer:
    """Discovery documents and JWKS for a few realms, on a loopback port, in a thread."""

    __test__ = False

    def __init__(self):
        self.realms = {
            "": Realm([KEY, EC_KEY]),
            "realms/acme": Realm([KEY]),
            "realms/rotating": Realm([new_key("old")]),
            "realms/liar": Realm([KEY], claimed_issuer=""),  # filled in once the port is known
            "realms/flaky": Realm([KEY], jwks_down=True),
        }
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                path = "/" + self.path.strip("/")
                leaf = "discovery" if path.endswith(DISCOVERY_PATH) else "jwks" if path.endswith("/jwks") else ""
                realm_name = path.removesuffix(DISCOVERY_PATH).removesuffix("/jwks").strip("/")
                realm = issuer.realms.get(realm_name)
                if realm is None or not leaf:
                    self.send_error(404)
                    return
                realm.fetches[leaf] += 1
                if leaf == "jwks" and realm.jwks_down:
                    self.send_error(503)
                    return
                if leaf == "discovery":
                    own = issuer.issuer(realm_name)
                    body = {"issuer": realm.claimed_issuer or own, "jwks_uri": issuer.url(realm_name) + "/jwks"}
                else:
                    body = KeySet(list(realm.keys)).as_dict(private=False)
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_port}"
        self.realms["realms/liar"].claimed_issuer = self.issuer("realms/acme")

    def url(self, realm: str) -> str:
        return f"{self.base}/{realm}".rstrip("/")

    def issuer(self, realm: str) -> str:
        """Auth0's issuer is its domain with a trailing slash; Keycloak's is the realm's URL."""
        return self.url(realm) + ("/" if not realm else "")

    def token(self, realm: str, claims: dict, key=KEY, header: dict | None = None) -> str:
        now = int(time.time())
        claims = {"iss": self.issuer(realm), "aud": AUDIENCE, "iat": now, "exp": now + 600, **claims}
        claims = {k: v for k, v in claims.items() if v is not None}
        alg = "ES256" if isinstance(key, ECKey) else "RS256"
        return jwt.encode({"alg": alg, "kid": key.kid, **(header or {})}, claims, key, algorithms=[alg])


@pytest.fixture(scope="module")
def idp() -> Iterator[TestIssuer]:
    issuer = TestIssuer()
    thread = threading.Thread(target=issuer.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield issuer
    issuer.server.shutdown()
    thread.join()


@contextlib.contextmanager
def oidc_stack(idp: TestIssuer, realm: str, store: str, data_dir: Path, moto: str, **settings) -> Iterator[Stack]:
    with running_stack(
        store, data_dir, moto, identity="oidc", oidc_issuer=idp.issuer(realm), oidc_audience=AUDIENCE, **settings
    ) as stack:
        yield stack


@pytest.fixture(scope="module")
def auth0(idp: TestIssuer, tmp_path_factory, moto_endpoint: str) -> Iterator[Stack]:
    """Auth0-style: tenant and roles in namespaced claims an Action adds, roles prefixed `edna:`."""
    settings = {
        "oidc_user_claim": f"{NS}email,sub",
        "oidc_tenant_claim": f"{NS}tenant",
        "oidc_roles_claim": f"{NS}roles",
        "oidc_role_prefix": "edna:",
    }
    with oidc_stack(idp, "", "local", tmp_path_factory.mktemp("auth0"), moto_endpoint, **settings) as stack:
        yield stack


@pytest.fixture(scope="module")
def keycloak(idp: TestIssuer, tmp_path_factory, moto_endpoint: str) -> Iterator[Stack]:
    """Keycloak-style over S3: realm roles nested under `realm_access`, the tenant a nested user attribute."""
    with oidc_stack(idp, "realms/acme", "s3", tmp_path_factory.mktemp("kc"), moto_endpoint, **KEYCLOAK) as stack:
        yield stack


KEYCLOAK = {
    "oidc_user_claim": "preferred_username,sub",
    "oidc_tenant_claim": "edna.tenant",
    "oidc_roles_claim": "realm_access.roles",
}


def auth0_claims(user: str = "ann@acme.example", tenant: str | None = "acme", roles=("edna:admin",)) -> dict:
    return {"sub": "auth0|123", f"{NS}email": user, f"{NS}tenant": tenant, f"{NS}roles": list(roles)}


def keycloak_claims(user: str = "kim", tenant: str = "acme", roles=("labeler",)) -> dict:
    realm_roles = ["offline_access", "uma_authorization", "default-roles-acme", *roles]  # Keycloak's own first
    return {
        "sub": "f1e2",
        "preferred_username": user,
        "edna": {"tenant": tenant},
        "realm_access": {"roles": realm_roles},
    }


def call(stack: Stack, method: str, path: str, token: str, **kwargs) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"}
    return requests.request(method, stack.base_url + path, headers=headers, timeout=TIMEOUT, **kwargs)


def b64(data: dict | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# --- good tokens ---------------------------------------------------------------------------------


def test_auth0_namespaced_claims_name_user_tenant_and_roles(auth0: Stack, idp: TestIssuer):
    token = idp.token("", auth0_claims(roles=("edna:editor", "billing-admin", "admin")))
    resp = call(auth0, "GET", "/api/me", token)
    assert resp.status_code == 200, resp.text
    # unprefixed `admin` is another application's role: only `edna:` roles count
    assert resp.json() == {"user": "ann@acme.example", "tenant": "acme", "roles": ["editor"]}


def test_auth0_token_reaches_the_tenants_datasets_with_its_role(auth0: Stack, idp: TestIssuer):
    editor = idp.token("", auth0_claims(roles=("edna:editor",)))
    resp = call(auth0, "POST", "/api/datasets", editor, json={"name": "oidc"})
    assert resp.status_code == 201, resp.text
    dataset = resp.json()
    assert dataset["created_by"] == "ann@acme.example"

    viewer = idp.token("", auth0_claims(user="vic@acme.example", roles=("edna:viewer",)))
    assert call(auth0, "GET", f"/api/datasets/{dataset['id']}", viewer).status_code == 200
    resp = call(auth0, "POST", "/api/datasets", viewer, json={"name": "no"})
    assert resp.status_code == 403, resp.text
    assert "editor" in resp.json()["message"]

    stranger = idp.token("", auth0_claims(user="bo@beta.example", tenant="beta", roles=("edna:admin",)))
    assert call(auth0, "GET", f"/api/datasets/{dataset['id']}", stranger).status_code == 404


def test_the_user_claim_falls_back_in_order(auth0: Stack, idp: TestIssuer):
    claims = auth0_claims() | {f"{NS}email": None}
    resp = call(auth0, "GET", "/api/me", idp.token("", claims))
    assert resp.status_code == 200, resp.text
    assert resp.json()["user"] == "auth0|123"


def test_es256_tokens_from_the_jwks_are_accepted(auth0: Stack, idp: TestIssuer):
    resp = call(auth0, "GET", "/api/me", idp.token("", auth0_claims(), key=EC_KEY))
    assert resp.status_code == 200, resp.text


def test_keycloak_realm_roles_nested_under_realm_access(keycloak: Stack, idp: TestIssuer):
    resp = call(keycloak, "GET", "/api/me", idp.token("realms/acme", keycloak_claims()))
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"user": "kim", "tenant": "acme", "roles": ["labeler"]}

    editor = idp.token("realms/acme", keycloak_claims(user="eve", roles=("editor",)))
    resp = call(keycloak, "POST", "/api/datasets", editor, json={"name": "kc"})
    assert resp.status_code == 201, resp.text
    labeler = idp.token("realms/acme", keycloak_claims())
    assert call(keycloak, "POST", "/api/datasets", labeler, json={"name": "no"}).status_code == 403
    assert call(keycloak, "GET", f"/api/datasets/{resp.json()['id']}", labeler).status_code == 200


@pytest.mark.parametrize("roles", ["viewer editor", "viewer,editor", "[viewer, editor]"])
def test_roles_may_be_a_space_or_comma_separated_string(keycloak: Stack, idp: TestIssuer, roles: str):
    claims = keycloak_claims() | {"realm_access": {"roles": roles}}
    resp = call(keycloak, "GET", "/api/me", idp.token("realms/acme", claims))
    assert resp.status_code == 200, resp.text
    assert resp.json()["roles"] == ["viewer", "editor"]


def test_a_token_with_only_the_providers_own_roles_may_do_nothing(keycloak: Stack, idp: TestIssuer):
    token = idp.token("realms/acme", keycloak_claims(roles=()))
    resp = call(keycloak, "GET", "/api/datasets", token)
    assert resp.status_code == 403, resp.text
    assert "you have none" in resp.json()["message"]


def test_the_provider_owns_users_so_member_and_sign_in_routes_answer_404(keycloak: Stack, idp: TestIssuer):
    admin = idp.token("realms/acme", keycloak_claims(roles=("admin",)))
    resp = call(keycloak, "GET", "/api/members", admin)
    assert resp.status_code == 404, resp.text
    assert "identity provider" in resp.json()["message"]
    resp = requests.post(keycloak.base_url + "/api/auth/token", json={"username": "a", "password": "b"}, timeout=30)
    assert resp.status_code == 404
    assert "(OIDC)" in resp.json()["message"]


# --- refused tokens ------------------------------------------------------------------------------


def forged(idp: TestIssuer) -> dict[str, str]:
    """Tokens for the Auth0 realm that must each be refused with 401."""
    realm, good = "", auth0_claims()
    now = int(time.time())
    head, body, sig = idp.token(realm, good).split(".")
    stranger = new_key("key-1")  # another key under the real kid
    public_pem = KEY.as_pem(private=False)
    hs_head = b64({"alg": "HS256", "kid": KEY.kid})
    hs_sig = hmac.new(public_pem, f"{hs_head}.{body}".encode(), hashlib.sha256).digest()
    tampered = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))) | {f"{NS}tenant": "beta"}
    return {
        "wrong_audience": idp.token(realm, good | {"aud": "https://other-api.example.com"}),
        "wrong_issuer": idp.token(realm, good | {"iss": idp.issuer("realms/acme")}),
        "issuer_without_trailing_slash": idp.token(realm, good | {"iss": idp.url("")}),
        "expired": idp.token(realm, good | {"iat": now - 7200, "exp": now - 3600}),
        "not_yet_valid": idp.token(realm, good | {"nbf": now + 3600}),
        "unknown_kid": idp.token(realm, good, key=new_key("nobody-knows-me")),
        "other_key_same_kid": idp.token(realm, good, key=stranger),
        "es256_other_key_under_the_rsa_kid": idp.token(realm, good, key=ECKey.generate_key("P-256", {"kid": KEY.kid})),
        "es256_other_key_under_the_ec_kid": idp.token(realm, good, key=ECKey.generate_key("P-256", {"kid": "ec-1"})),
        "alg_none": f"{b64({'alg': 'none', 'kid': KEY.kid})}.{body}.",
        "hs256_keyed_with_public_key": f"{hs_head}.{body}.{b64(hs_sig)}",
        "tampered_payload": f"{head}.{b64(tampered)}.{sig}",
        "tenant_missing": idp.token(realm, auth0_claims(tenant=None)),
        "tenant_invalid": idp.token(realm, auth0_claims(tenant="../acme")),
        "tenant_not_a_string": idp.token(realm, auth0_claims() | {f"{NS}tenant": ["acme"]}),
        "user_missing": idp.token(realm, auth0_claims() | {"sub": None, f"{NS}email": None}),
    }


def test_forged_and_foreign_tokens_are_401(auth0: Stack, idp: TestIssuer):
    assert call(auth0, "GET", "/api/me", idp.token("", auth0_claims())).status_code == 200
    for name, token in forged(idp).items():
        resp = call(auth0, "GET", "/api/datasets", token)
        assert resp.status_code == 401, (name, resp.status_code, resp.text)


def test_unknown_kids_do_not_hammer_the_jwks_endpoint(auth0: Stack, idp: TestIssuer):
    realm = idp.realms[""]
    assert call(auth0, "GET", "/api/me", idp.token("", auth0_claims())).status_code == 200
    before = dict(realm.fetches)
    for n in range(5):
        token = idp.token("", auth0_claims(), key=new_key(f"forged-{n}"))
        assert call(auth0, "GET", "/api/me", token).status_code == 401
    assert realm.fetches["discovery"] == before["discovery"] == 1  # discovery is read once per process
    assert realm.fetches["jwks"] - before["jwks"] <= 1  # at most one refetch per REFRESH_AT_MOST_EVERY


# --- rotation and misconfiguration ---------------------------------------------------------------


def test_a_rotated_key_is_fetched_when_a_token_names_it(
    idp: TestIssuer, tmp_path: Path, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
):
    realm = idp.realms["realms/rotating"]
    old = realm.keys[0]
    claims = keycloak_claims()
    with oidc_stack(idp, "realms/rotating", "local", tmp_path, moto_endpoint, **KEYCLOAK) as stack:
        assert call(stack, "GET", "/api/me", idp.token("realms/rotating", claims, key=old)).status_code == 200
        fetched = realm.fetches["jwks"]
        newer = new_key("new")
        realm.keys[:] = [newer]  # the provider rotates: the new key signs, the old one is retired
        monkeypatch.setattr(http_jwks, "REFRESH_AT_MOST_EVERY", 0)  # no waiting out the refetch guard
        resp = call(stack, "GET", "/api/me", idp.token("realms/rotating", claims, key=newer))
        assert resp.status_code == 200, resp.text
        assert realm.fetches["jwks"] == fetched + 1
        assert call(stack, "GET", "/api/me", idp.token("realms/rotating", claims, key=old)).status_code == 401


def test_keys_already_held_outlive_a_jwks_outage(
    idp: TestIssuer, tmp_path: Path, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
):
    realm, token = idp.realms["realms/flaky"], idp.token("realms/flaky", keycloak_claims())
    with oidc_stack(idp, "realms/flaky", "local", tmp_path, moto_endpoint, **KEYCLOAK) as stack:
        resp = call(stack, "GET", "/api/me", token)
        assert resp.status_code == 503, resp.text  # no keys yet: nothing can be verified
        assert "cannot fetch the identity provider's keys" in resp.json()["message"]
        realm.jwks_down = False
        assert call(stack, "GET", "/api/me", token).status_code == 200
        realm.jwks_down = True
        monkeypatch.setattr(http_jwks, "JWKS_TTL_SECONDS", 0)  # every request now tries to refresh the keys
        fetched = realm.fetches["jwks"]
        assert call(stack, "GET", "/api/me", token).status_code == 200
        assert realm.fetches["jwks"] == fetched + 1


def test_a_discovery_document_naming_another_issuer_answers_503(idp: TestIssuer, tmp_path: Path, moto_endpoint: str):
    with oidc_stack(idp, "realms/liar", "local", tmp_path, moto_endpoint) as stack:
        token = idp.token("realms/liar", keycloak_claims() | {"tenant": "acme", "roles": ["admin"]})
        resp = call(stack, "GET", "/api/me", token)
        assert resp.status_code == 503, resp.text
        assert "discovery document names another issuer" in resp.json()["message"]
        assert idp.realms["realms/liar"].fetches["jwks"] == 0  # keys from a mismatched document are never read


def test_an_unreachable_provider_answers_503(idp: TestIssuer, tmp_path: Path, moto_endpoint: str):
    with oidc_stack(idp, "realms/gone", "local", tmp_path, moto_endpoint) as stack:
        resp = call(stack, "GET", "/api/me", idp.token("realms/gone", keycloak_claims()))
        assert resp.status_code == 503, resp.text
        assert "discovery document" in resp.json()["message"]


def test_a_static_tenant_serves_tokens_without_a_tenant_claim(idp: TestIssuer, tmp_path: Path, moto_endpoint: str):
    with oidc_stack(idp, "realms/acme", "local", tmp_path, moto_endpoint, **KEYCLOAK, oidc_tenant="solo") as stack:
        claims = {k: v for k, v in keycloak_claims(roles=("viewer",)).items() if k != "edna"}
        resp = call(stack, "GET", "/api/me", idp.token("realms/acme", claims))
        assert resp.status_code == 200, resp.text
        assert resp.json() == {"user": "kim", "tenant": "solo", "roles": ["viewer"]}


@pytest.mark.parametrize(
    ("settings", "error"),
    [
        (OidcSettings(issuer="http://idp.example.com/", audience="edna"), "https"),
        (OidcSettings(issuer="idp.example.com", audience="edna"), "https"),
        (OidcSettings(issuer="https://idp.example.com/", audience=""), "AUDIENCE"),
        (OidcSettings(issuer="https://idp.example.com/", audience="edna", tenant="../x"), "EDNA_OIDC_TENANT"),
        (OidcSettings(issuer="https://idp.example.com/", audience="edna", tenant_claim=""), "TENANT"),
    ],
)
def test_bad_settings_stop_the_server_at_start(settings: OidcSettings, error: str):
    with pytest.raises(ValueError, match=error):
        oidc_verifier(settings)


@pytest.mark.parametrize(
    "issuer", ["https://idp.example.com/", "http://127.0.0.1:9/", "http://localhost:9", "http://[::1]:9"]
)
def test_https_or_loopback_issuers_are_accepted(issuer: str):
    assert oidc_verifier(OidcSettings(issuer=issuer, audience="edna")).name == "oidc"
