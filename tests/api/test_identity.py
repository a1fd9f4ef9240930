"""Local identity: sign-in, JWKS, /api/me, and users added by the CLI while the server runs."""

from __future__ import annotations

import subprocess
import sys

import requests
from joserfc import jwt
from joserfc.jwk import KeySet

from service.client import ApiError, EdnaClient


def test_health_names_the_adapters(stack):
    body = requests.get(stack.base_url + "/api/health", timeout=10).json()
    assert body["status"] == "ok" and body["version"]
    assert body["adapters"] == {"storage": stack.store, "search": "sqlite", "identity": "local", "jobs": "local"}


def test_sign_in_and_me(local_stack):
    local_stack.edna.adapters.users.add("carol", "demo", "labeler", "correct horse")
    client = EdnaClient(local_stack.base_url)
    client.login("carol", "correct horse")
    assert client.call("GET", "/api/me") == {"user": "carol", "tenant": "demo", "roles": ["labeler"]}
    body = requests.post(
        local_stack.base_url + "/api/auth/token",
        json={"username": "carol", "password": "correct horse"},
        timeout=10,
    ).json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    # the token verifies against the published JWKS, as any third party would check it
    jwks = requests.get(local_stack.base_url + "/api/auth/jwks", timeout=10).json()
    assert all("d" not in key for key in jwks["keys"])  # public halves only
    claims = jwt.decode(body["access_token"], KeySet.import_key_set(jwks), algorithms=["RS256"]).claims
    assert claims["tenant"] == "demo" and claims["roles"] == ["labeler"]


def test_wrong_passwords_and_unknown_users_look_alike(local_stack):
    local_stack.edna.adapters.users.add("dave", "demo", "viewer", "right password")
    answers = []
    for username, password in (("dave", "wrong password"), ("nobody", "whatever it is")):
        resp = requests.post(
            local_stack.base_url + "/api/auth/token",
            json={"username": username, "password": password},
            timeout=10,
        )
        assert resp.status_code == 401
        answers.append(resp.json()["message"])
    assert answers[0] == answers[1]


def test_user_added_by_the_cli_signs_in_without_a_restart(local_stack):
    subprocess.run(
        [sys.executable, "-m", "service", "users", "add", "erin", "--tenant", "acme", "--role", "editor",
         "--password", "s3cret-pass", "--data-dir", str(local_stack.config.data_dir)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    client = EdnaClient(local_stack.base_url)
    client.login("erin", "s3cret-pass")
    assert client.call("GET", "/api/me")["tenant"] == "acme"


def test_cli_refuses_bad_users(local_stack):
    data_dir = str(local_stack.config.data_dir)
    base = [sys.executable, "-m", "service", "users", "add"]
    bad = [
        ["ok-user", "--tenant", "Bad Tenant", "--role", "admin", "--password", "longenough"],
        ["ok-user", "--tenant", "t", "--role", "admin", "--password", "short"],
        ["../x", "--tenant", "t", "--role", "admin", "--password", "longenough"],
    ]
    for args in bad:
        result = subprocess.run([*base, *args, "--data-dir", data_dir], capture_output=True, text=True)
        assert result.returncode == 2 and result.stderr.startswith("error:"), result.stderr
    first = [
        *base,
        "frank",
        "--tenant",
        "t",
        "--role",
        "admin",
        "--password",
        "longenough",
        "--data-dir",
        data_dir,
    ]
    assert subprocess.run(first, capture_output=True).returncode == 0
    again = subprocess.run(first, capture_output=True, text=True)
    assert again.returncode == 2 and "already exists" in again.stderr


def test_bad_sign_in_bodies(local_stack):
    url = local_stack.base_url + "/api/auth/token"
    for body in (
        {},
        {"username": "x"},
        {"username": 1, "password": "x"},
        {"username": "x", "password": "y", "z": 1},
    ):
        assert requests.post(url, json=body, timeout=10).status_code == 422
    resp = requests.post(url, data="{oops", headers={"Content-Type": "application/json"}, timeout=10)
    assert resp.status_code == 400


def test_viewer_cannot_create(local_stack):
    viewer = local_stack.client("viewer")
    try:
        viewer.call("POST", "/api/datasets", json={"name": "x"})
    except ApiError as err:
        assert err.status == 403 and "editor" in err.body["message"]
    else:
        raise AssertionError("a viewer created a dataset")
