"""Members of a tenant over both directories (local SQLite and Cognito on the moto server): invite,
sign in, change role, remove, the last-admin rule, tenant isolation, pages."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from cognito_pool import PASSWORD, Pool
from conftest import make_config, running_stack, serve

from service import create_app
from service.client import ApiError, EdnaClient


class SignInRefused(Exception):
    """The directory would not sign this user in (removed, unknown, wrong password)."""


class Directory:
    """One Edna over one member directory, and the directory's own back door for the tests."""

    def __init__(self, kind: str, base_url: str, edna, pool: Pool | None = None):
        self.kind, self.base_url, self.edna, self.pool = kind, base_url, edna, pool

    def add(self, username: str, tenant: str, role: str) -> None:
        """A user put straight into the directory, bypassing the API (as an operator would)."""
        if self.pool:
            self.pool.add_user(username, tenant, (role,))
        else:
            self.edna.adapters.users.add(username, tenant, role, PASSWORD)

    def accept(self, invited: dict) -> str:
        """What the invited user signs in with: the one-time password, or (Cognito mails it) a
        password the test sets as the user would after the first sign-in."""
        if not self.pool:
            # the one-time password signs no one in: it only sets the member's own password
            sign_in = {"username": invited["sign_in_name"], "password": invited["password"]}
            assert status_of(lambda: EdnaClient(self.base_url).call("POST", "/api/auth/token", json=sign_in)) == 403
            EdnaClient(self.base_url).call("POST", "/api/auth/password", json={**sign_in, "new_password": PASSWORD})
            return PASSWORD
        assert invited["password"] is None
        self.pool.idp.admin_set_user_password(
            UserPoolId=self.pool.pool_id, Username=invited["sign_in_name"], Password=PASSWORD, Permanent=True
        )
        return PASSWORD

    def client(self, username: str, password: str = PASSWORD, tenant: str = "demo") -> EdnaClient:
        """Signed in as a user would be: the local token route (`tenant/username`), or Cognito's ID token
        (an invited member's Cognito username is its `sign_in_name`; operator-made users keep theirs)."""
        client = EdnaClient(self.base_url)
        if self.pool:
            try:
                client.token = self.pool.idp.admin_initiate_auth(
                    UserPoolId=self.pool.pool_id,
                    ClientId=self.pool.client_id,
                    AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                    AuthParameters={"USERNAME": username, "PASSWORD": password},
                )["AuthenticationResult"]["IdToken"]
            except ClientError as exc:
                raise SignInRefused(username) from exc
        else:
            try:
                client.login(username if "/" in username else f"{tenant}/{username}", password)
            except ApiError as exc:
                assert exc.status == 401
                raise SignInRefused(username) from exc
        return client


@contextlib.contextmanager
def cognito_directory(tmp_path: Path, moto_endpoint: str, monkeypatch) -> Iterator[Directory]:
    """A pool of its own (deleted after), with Edna wired to it by bootstrap as in production."""
    pool = Pool.create(moto_endpoint, {})
    config = make_config("local", tmp_path, moto_endpoint).replace(
        identity="cognito",
        cognito_issuer=pool.issuer(),
        cognito_jwks_url=f"{moto_endpoint}/{pool.pool_id}/.well-known/jwks.json",
        cognito_client_id=pool.client_id,
    )
    # boto3's own endpoint override: the adapter's client is made on first use, inside the test
    monkeypatch.setenv("AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER", moto_endpoint)
    app = create_app(config)
    try:
        with serve(app) as base_url:
            yield Directory("cognito", base_url, app.extensions["edna"], pool)
    finally:
        app.extensions["edna"].close()
        pool.delete()


@pytest.fixture(params=["local", "cognito"])
def directory(request, tmp_path: Path, moto_endpoint: str, monkeypatch) -> Iterator[Directory]:
    if request.param == "local":
        with running_stack("local", tmp_path, moto_endpoint) as stack:
            yield Directory("local", stack.base_url, stack.edna)
    else:
        with cognito_directory(tmp_path, moto_endpoint, monkeypatch) as d:
            yield d


@pytest.fixture
def admin(directory: Directory) -> EdnaClient:
    directory.add("alice", "demo", "admin")
    return directory.client("alice")


def status_of(call) -> int:
    with pytest.raises(ApiError) as err:
        call()
    return err.value.status


def usernames(client: EdnaClient) -> list[str]:
    return [m["username"] for m in client.pages("/api/members")]


def invite(admin: EdnaClient, username: str, role: str) -> dict:
    body = {"username": username, "email": f"{username}@example.com", "role": role}
    return admin.call("POST", "/api/members", json=body)


def test_invite_sign_in_change_role_remove(directory, admin):
    invited = invite(admin, "bob", "viewer")
    assert (invited["username"], invited["role"], invited["email"]) == ("bob", "viewer", "bob@example.com")
    password = directory.accept(invited)
    bob = directory.client(invited["sign_in_name"], password)
    assert bob.call("GET", "/api/me") == {"user": "bob", "tenant": "demo", "roles": ["viewer"]}
    assert usernames(admin) == ["alice", "bob"]
    assert admin.call("PATCH", "/api/members/bob", json={"role": "editor"})["role"] == "editor"
    assert bob.call("GET", "/api/me")["roles"] == ["editor"]  # the same token: roles come from the directory
    admin.call("DELETE", "/api/members/bob")
    assert status_of(lambda: bob.call("GET", "/api/me")) == 401  # a removed member's token stops at once
    with pytest.raises(SignInRefused):
        directory.client(invited["sign_in_name"], password)
    assert usernames(admin) == ["alice"]


def test_the_last_admin_stays(directory, admin):
    assert status_of(lambda: admin.call("PATCH", "/api/members/alice", json={"role": "editor"})) == 409
    assert status_of(lambda: admin.call("DELETE", "/api/members/alice")) == 409
    invite(admin, "carol", "admin")
    admin.call("PATCH", "/api/members/alice", json={"role": "editor"})  # carol is still admin
    # alice's token says admin, but the directory says editor now
    assert status_of(lambda: admin.call("DELETE", "/api/members/carol")) == 403
    roles = {m.username: m.role for m in directory.edna.adapters.members.list("demo", 10, None)}
    assert roles == {"alice": "editor", "carol": "admin"}


def test_an_admin_can_be_removed_while_another_remains(directory, admin):
    invite(admin, "carol", "admin")
    admin.call("DELETE", "/api/members/carol")
    assert usernames(admin) == ["alice"]
    assert status_of(lambda: admin.call("DELETE", "/api/members/alice")) == 409


def test_other_tenants_members_are_not_found(directory, admin):
    directory.add("mallory", "acme", "admin")
    assert status_of(lambda: admin.call("PATCH", "/api/members/mallory", json={"role": "viewer"})) == 404
    assert status_of(lambda: admin.call("DELETE", "/api/members/mallory")) == 404
    assert status_of(lambda: admin.call("PATCH", "/api/members/nobody", json={"role": "viewer"})) == 404
    assert status_of(lambda: admin.call("DELETE", "/api/members/nobody")) == 404
    assert usernames(admin) == ["alice"]
    mallory = directory.client("mallory", tenant="acme")
    assert mallory.call("GET", "/api/me") == {"user": "mallory", "tenant": "acme", "roles": ["admin"]}
    assert usernames(mallory) == ["mallory"]


def test_a_username_taken_in_the_own_tenant_is_a_conflict(directory, admin):
    directory.add("taken", "demo", "viewer")
    assert status_of(lambda: invite(admin, "taken", "admin")) == 409
    taken = directory.client("taken")
    assert taken.call("GET", "/api/me") == {"user": "taken", "tenant": "demo", "roles": ["viewer"]}


def test_an_invite_of_another_tenants_name_answers_as_a_fresh_one(directory, admin):
    directory.add("mallory", "acme", "admin")
    fresh = invite(admin, "newcomer", "viewer")
    taken = invite(admin, "mallory", "viewer")
    assert sorted(taken) == sorted(fresh)
    assert (taken["username"], taken["sign_in_name"]) == ("mallory", "demo/mallory")
    assert {m["username"]: m["role"] for m in admin.pages("/api/members")}["mallory"] == "viewer"
    ours = directory.client(taken["sign_in_name"], directory.accept(taken))
    assert ours.call("GET", "/api/me") == {"user": "mallory", "tenant": "demo", "roles": ["viewer"]}
    theirs = directory.client("mallory", tenant="acme")  # acme's mallory keeps its name, tenant and role
    assert theirs.call("GET", "/api/me") == {"user": "mallory", "tenant": "acme", "roles": ["admin"]}
    assert usernames(theirs) == ["mallory"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"username": "x"},
        {"username": "x", "role": "owner"},
        {"username": "x", "role": "viewer", "email": "not-an-email"},
        {"username": "x", "role": "viewer", "email": "x@example.com", "tenant": "acme"},
        {"username": "x", "role": "viewer", "email": "x@example.com", "custom:tenant": "acme"},
        {"username": "x", "role": "viewer", "email": "x@example.com", "attributes": {"custom:tenant": "acme"}},
        {"username": "", "role": "viewer"},
        {"username": "../x", "role": "viewer"},
        {"username": "a b", "role": "viewer"},
        {"username": 5, "role": "viewer"},
    ],
)
def test_bad_invites_change_nothing(directory, admin, body):
    assert status_of(lambda: admin.call("POST", "/api/members", json=body)) in (400, 422)
    assert usernames(admin) == ["alice"]
    if directory.pool:
        assert directory.pool.usernames() == {"alice"}


def test_member_pages(directory, admin):
    for n in range(5):
        invite(admin, f"user{n}", "viewer")
    directory.add("zed", "acme", "viewer")  # another tenant's, sorted among them: never on a page
    first = admin.call("GET", "/api/members", params={"limit": 4})
    rest = admin.call("GET", "/api/members", params={"limit": 4, "cursor": first["next_cursor"]})
    names = [m["username"] for m in first["items"] + rest["items"]]
    assert names == ["alice", "user0", "user1", "user2", "user3", "user4"] and rest["next_cursor"] is None


def test_two_admins_demoting_each_other_at_once_leave_one_admin(local_stack):
    from concurrent.futures import ThreadPoolExecutor

    from service.vocabulary.errors import Conflict

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


# --- Cognito only: what the API's answers mean in the pool ---------------------------------------


@pytest.fixture
def cognito(tmp_path: Path, moto_endpoint: str, monkeypatch) -> Iterator[Directory]:
    with cognito_directory(tmp_path, moto_endpoint, monkeypatch) as d:
        d.add("alice", "demo", "admin")
        yield d


def test_cognito_invite_puts_the_user_in_the_callers_tenant_and_role_group(cognito):
    admin = cognito.client("alice")
    invited = invite(admin, "bob", "editor")
    assert invited == {
        "username": "bob",
        "email": "bob@example.com",
        "role": "editor",
        "password": None,
        "sign_in_name": "demo/bob",  # per tenant: the pool's username is the tenant's and the name
    }
    pool = cognito.pool
    attributes = pool.attributes_of("demo/bob")
    assert attributes["custom:tenant"] == "demo"  # from alice's token, not from the body
    assert (attributes["email"], attributes["email_verified"]) == ("bob@example.com", "true")
    assert pool.groups_of("demo/bob") == {"editor"}
    user = pool.idp.admin_get_user(UserPoolId=pool.pool_id, Username="demo/bob")
    assert user["UserStatus"] == "FORCE_CHANGE_PASSWORD"  # Cognito mailed a temporary password

    bob = cognito.client("demo/bob", cognito.accept(invited))
    assert bob.call("GET", "/api/me") == {"user": "bob", "tenant": "demo", "roles": ["editor"]}
    assert bob.call("POST", "/api/datasets", json={"name": "bob's"})["name"] == "bob's"  # an editor's right
    assert status_of(lambda: bob.call("GET", "/api/members")) == 403


def test_cognito_role_change_moves_groups(cognito):
    admin = cognito.client("alice")
    invite(admin, "bob", "viewer")
    admin.call("PATCH", "/api/members/bob", json={"role": "labeler"})
    assert cognito.pool.groups_of("demo/bob") == {"labeler"}
    cognito.pool.add_user("lea", "demo", ("viewer", "labeler"))  # several role groups: the highest is the role
    assert {m["username"]: m["role"] for m in admin.pages("/api/members")}["lea"] == "labeler"
    assert admin.call("PATCH", "/api/members/lea", json={"role": "admin"})["role"] == "admin"
    assert cognito.pool.groups_of("lea") == {"admin"}
    admin.call("PATCH", "/api/members/alice", json={"role": "viewer"})  # lea is an admin now
    assert cognito.pool.groups_of("alice") == {"viewer"}


def test_cognito_remove_deletes_the_user(cognito):
    admin = cognito.client("alice")
    invite(admin, "bob", "viewer")
    admin.call("DELETE", "/api/members/bob")
    assert cognito.pool.usernames() == {"alice"}
    assert status_of(lambda: admin.call("DELETE", "/api/members/bob")) == 404


def test_cognito_other_tenants_users_are_untouched(cognito):
    pool = cognito.pool
    pool.add_user("mallory", "acme", ("admin",))
    pool.add_user("vic", "acme", ("viewer",))
    pool.add_user("drifter", None, ("editor",))  # no tenant at all: nobody's member
    before = {name: (pool.attributes_of(name), pool.groups_of(name)) for name in ("mallory", "vic", "drifter")}
    admin = cognito.client("alice")
    for name in ("mallory", "vic", "drifter"):
        assert status_of(lambda name=name: admin.call("PATCH", f"/api/members/{name}", json={"role": "admin"})) == 404
        assert status_of(lambda name=name: admin.call("DELETE", f"/api/members/{name}")) == 404
    assert usernames(admin) == ["alice"]
    assert {name: (pool.attributes_of(name), pool.groups_of(name)) for name in before} == before
    enabled = {u["Username"]: u["Enabled"] for u in pool.idp.list_users(UserPoolId=pool.pool_id)["Users"]}
    assert all(enabled.values())


def test_cognito_invite_needs_an_email_to_send_the_password_to(cognito):
    admin = cognito.client("alice")
    resp = status_of(lambda: admin.call("POST", "/api/members", json={"username": "bob", "role": "viewer"}))
    assert resp == 422
    assert cognito.pool.usernames() == {"alice"}
