"""Local sign-in's defences: throttling, one-time invite passwords, password changes, tenant-scoped
names, and tokens that follow the member directory (removal and role changes)."""

from __future__ import annotations

import sqlite3
import time

import pytest
import requests
from conftest import running_stack

from service.adapters.identity.local import LocalUserStore, hash_password

NEW = "a brand new passphrase"


def post(stack, path: str, body: dict, token: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(stack.base_url + path, json=body, headers=headers, timeout=10)


def sign_in(stack, username: str, password: str) -> requests.Response:
    return post(stack, "/api/auth/token", {"username": username, "password": password})


def change(stack, username: str, password: str, new_password: str) -> requests.Response:
    return post(stack, "/api/auth/password", {"username": username, "password": password, "new_password": new_password})


def me(stack, token: str) -> requests.Response:
    return requests.get(stack.base_url + "/api/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)


@pytest.fixture
def guarded(tmp_path, moto_endpoint):
    """A stack with a short first lockout, so a test can wait it out."""
    with running_stack("local", tmp_path, moto_endpoint, signin_lockout_seconds=2) as stack:
        yield stack


def test_failures_for_a_name_lock_it_out_even_for_the_right_password(guarded):
    guarded.edna.adapters.users.add("dave", "demo", "viewer", "right password")
    for _ in range(guarded.config.signin_max_failures_per_user):
        assert sign_in(guarded, "dave", "wrong password").status_code == 401
    locked = sign_in(guarded, "dave", "right password")
    assert locked.status_code == 429 and 1 <= int(locked.headers["Retry-After"]) <= 2
    assert sign_in(guarded, "demo/dave", "right password").status_code == 429  # the same name spelt with its tenant
    assert change(guarded, "dave", "right password", NEW).status_code == 429  # a password change is no way round
    # an unknown name is locked out alike: the answer tells nothing about who exists
    for _ in range(guarded.config.signin_max_failures_per_user):
        sign_in(guarded, "nobody", "wrong password")
    unknown = sign_in(guarded, "nobody", "wrong password")
    assert (unknown.status_code, unknown.json()["message"]) == (429, locked.json()["message"])
    time.sleep(int(locked.headers["Retry-After"]) + 0.5)  # the lockout ends, and dave fails again: twice as long
    for _ in range(guarded.config.signin_max_failures_per_user):
        assert sign_in(guarded, "dave", "wrong password").status_code == 401
    again = sign_in(guarded, "dave", "right password")
    assert again.status_code == 429 and 3 <= int(again.headers["Retry-After"]) <= 4
    deadline = time.monotonic() + 10
    while sign_in(guarded, "dave", "right password").status_code == 429:
        assert time.monotonic() < deadline, "the lockout never ended"
        time.sleep(0.5)


def test_failures_from_one_address_across_names_lock_it_out(guarded):
    guarded.edna.adapters.users.add("erin", "demo", "viewer", "erins password")
    for n in range(guarded.config.signin_max_failures_per_address):
        assert sign_in(guarded, f"guess{n}", "wrong password").status_code == 401
    refused = sign_in(guarded, "erin", "erins password")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1


def test_successes_from_one_address_are_never_throttled(guarded):
    users = guarded.edna.adapters.users
    for n in range(4):
        users.add(f"user{n}", "demo", "viewer", "the password")
    for _ in range(10):  # 40 sign-ins, more than the per-address limit of failures
        for n in range(4):
            assert sign_in(guarded, f"user{n}", "the password").status_code == 200


def test_a_one_time_password_only_sets_a_new_password_once(local_stack):
    admin = local_stack.client("admin")
    invited = admin.call("POST", "/api/members", json={"username": "bob", "role": "editor"})
    assert invited["sign_in_name"] == "demo/bob"
    one_time = invited["password"]
    refused = sign_in(local_stack, "demo/bob", one_time)
    assert refused.status_code == 403 and "password change required" in refused.json()["message"]
    assert "access_token" not in refused.json()
    assert sign_in(local_stack, "bob", one_time).status_code == 401  # an invited member has no bare name
    assert change(local_stack, "demo/bob", one_time, "too short").status_code == 400
    assert change(local_stack, "demo/bob", one_time, one_time).status_code == 400
    changed = change(local_stack, "demo/bob", one_time, NEW)
    assert changed.status_code == 200
    assert me(local_stack, changed.json()["access_token"]).json() == {
        "user": "bob",
        "tenant": "demo",
        "roles": ["editor"],
    }
    assert sign_in(local_stack, "demo/bob", one_time).status_code == 401  # spent
    assert change(local_stack, "demo/bob", one_time, "yet another passphrase").status_code == 401
    assert sign_in(local_stack, "demo/bob", NEW).status_code == 200


def test_a_member_changes_its_password(local_stack):
    local_stack.edna.adapters.users.add("carol", "demo", "labeler", "old password")  # operator-made: not forced
    assert sign_in(local_stack, "carol", "old password").status_code == 200
    assert change(local_stack, "carol", "wrong password", NEW).status_code == 401
    assert change(local_stack, "demo/carol", "old password", NEW).status_code == 200
    assert sign_in(local_stack, "carol", "old password").status_code == 401
    assert sign_in(local_stack, "carol", NEW).status_code == 200


def test_invites_never_meet_other_tenants_names(local_stack):
    users = local_stack.edna.adapters.users
    users.add("alice", "acme", "admin", "alices password")  # acme's alice, made by the operator
    admin = local_stack.client("admin", "demo")
    fresh = admin.call("POST", "/api/members", json={"username": "newname", "role": "viewer"})
    taken = admin.call("POST", "/api/members", json={"username": "alice", "role": "viewer"})
    assert {k for k in taken if k != "password"} == {k for k in fresh if k != "password"}
    assert (taken["username"], taken["sign_in_name"]) == ("alice", "demo/alice")
    # demo's alice is demo's own; acme's alice signs in as before and is untouched
    token = change(local_stack, "demo/alice", taken["password"], NEW).json()["access_token"]
    assert me(local_stack, token).json()["tenant"] == "demo"
    acme = sign_in(local_stack, "alice", "alices password").json()["access_token"]
    assert me(local_stack, acme).json() == {"user": "alice", "tenant": "acme", "roles": ["admin"]}
    assert sign_in(local_stack, "alice", NEW).status_code == 401
    assert admin.call("PATCH", "/api/members/alice", json={"role": "editor"})["role"] == "editor"
    assert users.find("acme", "alice").role == "admin"


def test_tokens_follow_removal_and_role_changes(local_stack):
    admin = local_stack.client("admin")
    local_stack.edna.adapters.users.add("ed", "demo", "editor", "eds password")
    token = sign_in(local_stack, "ed", "eds password").json()["access_token"]
    assert post(local_stack, "/api/datasets", {"name": "by ed"}, token).status_code == 201
    admin.call("PATCH", "/api/members/ed", json={"role": "viewer"})
    assert post(local_stack, "/api/datasets", {"name": "again"}, token).status_code == 403
    assert me(local_stack, token).json()["roles"] == ["viewer"]
    admin.call("DELETE", "/api/members/ed")
    assert me(local_stack, token).status_code == 401


def test_the_member_look_up_is_cached_for_the_configured_seconds(tmp_path, moto_endpoint):
    with running_stack("local", tmp_path, moto_endpoint, member_check_seconds=2) as stack:
        token = stack.token("ed", "demo", "editor")
        assert me(stack, token).json()["roles"] == ["editor"]
        stack.edna.adapters.users.set_role("demo", "ed", "viewer")
        started = time.monotonic()
        while me(stack, token).json()["roles"] != ["viewer"]:
            assert time.monotonic() - started < 10, "the role change never showed"
            time.sleep(0.2)


def test_cognito_has_no_password_route(tmp_path, moto_endpoint):
    from test_members import cognito_directory

    with pytest.MonkeyPatch.context() as env, cognito_directory(tmp_path, moto_endpoint, env) as directory:
        body = {"username": "x", "password": "y", "new_password": NEW}
        resp = requests.post(directory.base_url + "/api/auth/password", json=body, timeout=10)
        assert resp.status_code == 404 and "Cognito" in resp.json()["message"]


def test_a_first_version_identity_db_is_moved_over(tmp_path):
    path = tmp_path / "identity.db"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE users (username TEXT PRIMARY KEY, tenant TEXT NOT NULL, role TEXT NOT NULL,"
            " email TEXT NOT NULL DEFAULT '', password_hash TEXT NOT NULL, created_at REAL NOT NULL)"
        )
        db.execute("INSERT INTO users VALUES ('old', 'demo', 'admin', '', ?, 0)", (hash_password("old password"),))
    db.close()
    users = LocalUserStore(path)
    assert users.authenticate("old", "old password").tenant == "demo"  # its bare name still signs in
    assert users.authenticate("demo/old", "old password").role == "admin"


def test_a_password_change_or_a_re_created_name_voids_older_tokens(local_stack):
    users = local_stack.edna.adapters.users
    users.add("fay", "demo", "editor", "fays password")
    old = sign_in(local_stack, "fay", "fays password").json()["access_token"]
    time.sleep(1.1)  # tokens carry whole seconds: one issued in the second of the change would survive it
    new = change(local_stack, "fay", "fays password", NEW).json()["access_token"]
    assert me(local_stack, old).status_code == 401
    assert me(local_stack, new).json()["user"] == "fay"
    # removed, then a new fay invited under the same name: the first fay's token is not hers
    time.sleep(1.1)
    users.remove("demo", "fay")
    invited = local_stack.client("admin").call("POST", "/api/members", json={"username": "fay", "role": "viewer"})
    assert invited["username"] == "fay"
    assert me(local_stack, new).status_code == 401
