"""Members of a tenant (local identity): invite, sign in, change role, remove, last-admin rule."""

from __future__ import annotations

import pytest

from service.client import ApiError, EdnaClient


@pytest.fixture
def admin(local_stack):
    local_stack.edna.adapters.users.add("alice", "demo", "admin", "alice-password")
    client = EdnaClient(local_stack.base_url)
    client.login("alice", "alice-password")
    return client


def status_of(call) -> int:
    with pytest.raises(ApiError) as err:
        call()
    return err.value.status


def test_invite_sign_in_change_role_remove(local_stack, admin):
    invited = admin.call("POST", "/api/members", json={"username": "bob", "email": "bob@example.com", "role": "viewer"})
    assert invited["role"] == "viewer" and invited["email"] == "bob@example.com" and invited["password"]
    bob = EdnaClient(local_stack.base_url)
    bob.login("bob", invited["password"])
    assert bob.call("GET", "/api/me") == {"user": "bob", "tenant": "demo", "roles": ["viewer"]}
    assert [m["username"] for m in admin.pages("/api/members")] == ["alice", "bob"]
    assert admin.call("PATCH", "/api/members/bob", json={"role": "editor"})["role"] == "editor"
    bob.login("bob", invited["password"])  # roles live in the token: a new token carries the new role
    assert bob.call("GET", "/api/me")["roles"] == ["editor"]
    admin.call("DELETE", "/api/members/bob")
    assert status_of(lambda: bob.login("bob", invited["password"])) == 401
    assert [m["username"] for m in admin.pages("/api/members")] == ["alice"]


def test_the_last_admin_stays(local_stack, admin):
    assert status_of(lambda: admin.call("PATCH", "/api/members/alice", json={"role": "editor"})) == 409
    assert status_of(lambda: admin.call("DELETE", "/api/members/alice")) == 409
    admin.call("POST", "/api/members", json={"username": "carol", "role": "admin"})
    admin.call("PATCH", "/api/members/alice", json={"role": "editor"})  # carol is still admin
    # alice's token still says admin until it expires, but carol is now the last admin
    assert status_of(lambda: admin.call("DELETE", "/api/members/carol")) == 409
    roles = {m["username"]: m["role"] for m in local_stack.client("admin", "demo").pages("/api/members")}
    assert roles == {"alice": "editor", "carol": "admin"}


def test_other_tenants_members_are_not_found(local_stack, admin):
    local_stack.edna.adapters.users.add("mallory", "acme", "admin", "mallory-password")
    assert status_of(lambda: admin.call("PATCH", "/api/members/mallory", json={"role": "viewer"})) == 404
    assert status_of(lambda: admin.call("DELETE", "/api/members/mallory")) == 404
    assert [m["username"] for m in admin.pages("/api/members")] == ["alice"]
    mallory = EdnaClient(local_stack.base_url)
    mallory.login("mallory", "mallory-password")
    assert mallory.call("GET", "/api/me")["roles"] == ["admin"]


def test_a_taken_username_is_a_conflict(local_stack, admin):
    local_stack.edna.adapters.users.add("taken", "acme", "viewer", "whatever-password")
    assert status_of(lambda: admin.call("POST", "/api/members", json={"username": "taken", "role": "viewer"})) == 409


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"username": "x"},
        {"username": "x", "role": "owner"},
        {"username": "x", "role": "viewer", "email": "not-an-email"},
        {"username": "x", "role": "viewer", "tenant": "acme"},
        {"username": "", "role": "viewer"},
        {"username": "../x", "role": "viewer"},
        {"username": "a b", "role": "viewer"},
        {"username": 5, "role": "viewer"},
    ],
)
def test_bad_invites_change_nothing(local_stack, admin, body):
    assert status_of(lambda: admin.call("POST", "/api/members", json=body)) in (400, 422)
    assert [m["username"] for m in admin.pages("/api/members")] == ["alice"]


def test_member_pages(local_stack, admin):
    for n in range(5):
        admin.call("POST", "/api/members", json={"username": f"user{n}", "role": "viewer"})
    first = admin.call("GET", "/api/members", params={"limit": 4})
    rest = admin.call("GET", "/api/members", params={"limit": 4, "cursor": first["next_cursor"]})
    names = [m["username"] for m in first["items"] + rest["items"]]
    assert names == ["alice", "user0", "user1", "user2", "user3", "user4"] and rest["next_cursor"] is None


def test_two_admins_demoting_each_other_at_once_leave_one_admin(local_stack):
    from concurrent.futures import ThreadPoolExecutor

    from service.domain.errors import Conflict

    users = local_stack.edna.adapters.users
    for round_ in range(10):
        tenant = f"race{round_}"
        users.add(f"a{round_}", tenant, "admin", "password-a")
        users.add(f"b{round_}", tenant, "admin", "password-b")

        def demote(name, tenant=tenant):
            try:
                users.set_role(tenant, name, "viewer")
            except Conflict:
                return "refused"
            return "done"

        with ThreadPoolExecutor(2) as pool:
            outcomes = sorted(pool.map(demote, [f"a{round_}", f"b{round_}"]))
        assert outcomes == ["done", "refused"]
        assert [m.role for m in users.list(tenant, 10, None)].count("admin") == 1
