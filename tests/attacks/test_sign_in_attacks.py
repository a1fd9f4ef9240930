"""Attacks on identity against a real `python -m service run` over HTTP: guessing passwords, probing
and squatting other tenants' usernames through invites, reusing one-time passwords, and tokens of
members who were removed or demoted."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
import requests
from attack_harness import Target, started

pytest_plugins = ["attack_harness"]

# The first lockout, short so a test can wait it out (the defaults are in the README), yet long enough for
# 35 refused attempts on a loaded machine: at 3 s, a clean-clone run saw it end before the last of them.
LOCKOUT = 10
NEW = "a brand new passphrase"


@pytest.fixture(scope="module")
def target(tmp_path_factory, moto_endpoint: str) -> Iterator[Target]:
    """The local identity with a short first lockout and the default member check (5 s)."""
    data_dir = tmp_path_factory.mktemp("identity") / "data"
    with started("local", data_dir, moto_endpoint, signin_lockout_seconds=LOCKOUT) as t:
        yield t


def post(target: Target, path: str, body: dict) -> requests.Response:
    return requests.post(target.base_url + path, json=body, timeout=30)


def sign_in(target: Target, username: str, password: str) -> requests.Response:
    return post(target, "/api/auth/token", {"username": username, "password": password})


def within(seconds: float, condition: Callable[[], bool]) -> bool:
    """Polls until the condition holds, at most `seconds`; a bound, not a measurement."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.25)
    return True


def test_forty_wrong_passwords_lock_the_name_out_even_for_the_right_one(target):
    user, password = target.add_user("demo", "viewer")
    answers = [sign_in(target, user, f"guess-{n}") for n in range(40)]
    codes = [a.status_code for a in answers]
    assert codes[:5] == [401] * 5 and set(codes[5:]) == {429}, codes
    assert all(1 <= int(a.headers["Retry-After"]) <= LOCKOUT for a in answers[5:])
    refused = sign_in(target, user, password)
    assert refused.status_code == 429 and "access_token" not in refused.json()
    assert within(LOCKOUT + 5, lambda: sign_in(target, user, password).status_code == 200)


def test_wrong_passwords_from_one_address_across_many_names_are_throttled(tmp_path, moto_endpoint):
    with started("local", tmp_path / "data", moto_endpoint) as server:
        user, password = server.add_user("demo", "viewer")
        codes = [sign_in(server, f"someone-{n}", "guess").status_code for n in range(40)]
        assert codes[:30] == [401] * 30 and set(codes[30:]) == {429}, codes
        refused = sign_in(server, user, password)
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1


def test_an_invite_cannot_probe_or_squat_another_tenants_username(target):
    victim, attacker = target.tenant(), target.tenant()
    name = victim.users["viewer"]
    admin = attacker.clients["admin"]
    fresh = admin.call("POST", "/api/members", json={"username": "never-used-name", "role": "viewer"})
    taken = admin.call("POST", "/api/members", json={"username": name, "role": "viewer"})
    # the same answer whether the name exists elsewhere or not
    assert sorted(taken) == sorted(fresh) and taken["role"] == fresh["role"] == "viewer"
    assert taken["sign_in_name"] == f"{attacker.name}/{name}"
    # the one-time password does not sign in as the victim, by any spelling
    assert sign_in(target, name, taken["password"]).status_code == 401
    assert sign_in(target, f"{victim.name}/{name}", taken["password"]).status_code == 401
    # it makes the attacker's own member, in the attacker's own tenant, and nothing else
    token = post(
        target,
        "/api/auth/password",
        {"username": taken["sign_in_name"], "password": taken["password"], "new_password": NEW},
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    own = requests.get(target.base_url + "/api/me", headers=headers, timeout=30).json()
    assert own == {"user": name, "tenant": attacker.name, "roles": ["viewer"]}
    # the victim keeps its name, its password, its tenant and its role
    victim_token = sign_in(target, name, victim.passwords["viewer"]).json()["access_token"]
    mine = requests.get(target.base_url + "/api/me", headers={"Authorization": f"Bearer {victim_token}"}, timeout=30)
    assert mine.json() == {"user": name, "tenant": victim.name, "roles": ["viewer"]}
    roles = {m["username"]: m["role"] for m in victim.clients["admin"].pages("/api/members")}
    assert roles[name] == "viewer" and len(roles) == 4


def test_a_one_time_password_sets_a_new_password_once_and_signs_in_never(target):
    tenant = target.tenant()
    invited = tenant.clients["admin"].call("POST", "/api/members", json={"username": "newbie", "role": "editor"})
    login, one_time = invited["sign_in_name"], invited["password"]
    for _ in range(3):
        refused = sign_in(target, login, one_time)
        assert refused.status_code == 403 and "password change required" in refused.json()["message"]
        assert "access_token" not in refused.json()
    change = {"username": login, "password": one_time, "new_password": NEW}
    assert post(target, "/api/auth/password", change).status_code == 200
    assert post(target, "/api/auth/password", {**change, "new_password": "yet another passphrase"}).status_code == 401
    assert sign_in(target, login, one_time).status_code == 401
    assert sign_in(target, login, NEW).status_code == 200


def test_a_removed_members_token_stops_within_seconds(target):
    tenant = target.tenant()
    editor = tenant.clients["editor"]
    assert editor.call("GET", "/api/me")["user"] == tenant.users["editor"]
    tenant.clients["admin"].call("DELETE", f"/api/members/{tenant.users['editor']}")
    me = lambda: requests.get(  # noqa: E731
        target.base_url + "/api/me", headers={"Authorization": f"Bearer {editor.token}"}, timeout=30
    )
    assert within(20, lambda: me().status_code == 401)
    assert post_dataset(target, editor.token).status_code == 401


def test_a_demoted_editors_token_loses_the_editor_routes_within_seconds(target):
    tenant = target.tenant()
    token = tenant.clients["editor"].token
    assert post_dataset(target, token).status_code == 201
    tenant.clients["admin"].call("PATCH", f"/api/members/{tenant.users['editor']}", json={"role": "viewer"})
    assert within(20, lambda: post_dataset(target, token).status_code == 403)
    assert post_dataset(target, token).status_code == 403
    viewer = requests.get(target.base_url + "/api/datasets", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert viewer.ok  # what a viewer may, it still may


def post_dataset(target: Target, token: str) -> requests.Response:
    return requests.post(
        target.base_url + "/api/datasets",
        json={"name": f"d{time.monotonic_ns()}"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
