"""CognitoMemberDirectory itself, on the moto server: what a listing costs, paging past one Cognito
page, the last-admin re-check that rolls a concurrent demotion back, and its wiring."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError
from cognito_pool import Pool

from service.adapters.identity.cognito_members import CognitoMemberDirectory, pool_of_issuer
from service.bootstrap import build_adapters
from service.settings import Config
from service.vocabulary.errors import Conflict, NotFound, Unavailable


class Spy:
    """A cognito-idp client that counts calls and can run a hook before one (a concurrent change)."""

    def __init__(self, client):
        self.client = client
        self.calls: Counter[str] = Counter()
        self.before: dict[str, object] = {}

    def __getattr__(self, operation: str):
        method = getattr(self.client, operation)

        def call(**params):
            self.calls[operation] += 1
            hook = self.before.pop(operation, None)
            if hook:
                hook(params)
            return method(**params)

        return call


@pytest.fixture
def pool(moto_endpoint: str) -> Iterator[Pool]:
    pool = Pool.create(moto_endpoint, {})
    yield pool
    pool.delete()


@pytest.fixture
def spy(pool: Pool) -> Spy:
    return Spy(pool.idp)


@pytest.fixture
def members(pool: Pool, spy: Spy) -> CognitoMemberDirectory:
    return CognitoMemberDirectory(spy, pool.pool_id)


def bulk_add(pool: Pool, tenant: str, names: list[str], group: str) -> None:
    """Users without passwords (nobody signs in): 2 calls each instead of 3."""
    for name in names:
        attributes = [{"Name": "custom:tenant", "Value": tenant}, {"Name": "email", "Value": f"{name}@example.com"}]
        pool.idp.admin_create_user(
            UserPoolId=pool.pool_id, Username=name, UserAttributes=attributes, MessageAction="SUPPRESS"
        )
        pool.idp.admin_add_user_to_group(UserPoolId=pool.pool_id, Username=name, GroupName=group)


def test_a_listing_pages_through_every_role_group_of_the_pool(pool, spy, members):
    """70 viewers in the pool take two ListUsersInGroup calls, the other groups one each: five
    calls for any page of either tenant, whatever its limit."""
    pool.add_user("alice", "demo", ("admin",))
    bulk_add(pool, "demo", [f"d{n:02}" for n in range(40)], "viewer")
    bulk_add(pool, "acme", [f"a{n:02}" for n in range(30)], "viewer")

    assert [m.username for m in members.list("demo", 3, None)] == ["alice", "d00", "d01"]
    assert spy.calls == {"list_users_in_group": 5}

    listed, after = [], None
    while page := members.list("demo", 7, after):
        listed += page
        after = page[-1].username
    assert [m.username for m in listed] == ["alice"] + [f"d{n:02}" for n in range(40)]
    assert {(m.tenant, m.role) for m in listed[1:]} == {("demo", "viewer")}
    assert listed[1].email == "d00@example.com"
    assert [m.username for m in members.list("acme", 100, "a27")] == ["a28", "a29"]


def test_a_user_in_no_role_group_is_not_listed_until_given_a_role(pool, members):
    pool.add_user("alice", "demo", ("admin",))
    pool.add_user("nobody", "demo", ())
    assert [m.username for m in members.list("demo", 10, None)] == ["alice"]
    assert members.set_role("demo", "nobody", "viewer").role == "viewer"
    assert [m.username for m in members.list("demo", 10, None)] == ["alice", "nobody"]


def test_a_demotion_that_raced_another_is_rolled_back(pool, spy, members):
    """a and b are admins; b's demotion passes its first check, then a is demoted by someone else
    before b leaves the admin group. The re-check finds no admin and puts b back."""
    pool.add_user("a", "demo", ("admin",))
    pool.add_user("b", "demo", ("admin",))

    def demote_a_elsewhere(params):
        if params.get("GroupName") == "admin" and params["Username"] == "b":
            pool.idp.admin_add_user_to_group(UserPoolId=pool.pool_id, Username="a", GroupName="viewer")
            pool.idp.admin_remove_user_from_group(UserPoolId=pool.pool_id, Username="a", GroupName="admin")

    spy.before["admin_remove_user_from_group"] = demote_a_elsewhere
    with pytest.raises(Conflict, match="same moment"):
        members.set_role("demo", "b", "viewer")
    assert (pool.groups_of("a"), pool.groups_of("b")) == ({"viewer"}, {"admin"})


def test_a_removal_that_raced_a_demotion_is_rolled_back_before_deleting(pool, spy, members):
    pool.add_user("a", "demo", ("admin",))
    pool.add_user("b", "demo", ("admin", "editor"))

    def demote_a_elsewhere(params):
        pool.idp.admin_remove_user_from_group(UserPoolId=pool.pool_id, Username="a", GroupName="admin")

    spy.before["admin_remove_user_from_group"] = demote_a_elsewhere
    with pytest.raises(Conflict):
        members.remove("demo", "b")
    assert pool.groups_of("b") == {"admin", "editor"}
    assert spy.calls["admin_disable_user"] == spy.calls["admin_delete_user"] == 0
    assert "b" in pool.usernames()


def test_two_admins_demoting_each_other_at_once_never_leave_none(pool, members):
    """Both may be refused (each re-check saw the other's change), but never both done."""
    for round_ in range(5):
        tenant = f"race{round_}"
        pool.add_user(f"a{round_}", tenant, ("admin",))
        pool.add_user(f"b{round_}", tenant, ("admin",))
        start = threading.Barrier(2)

        def demote(name, tenant=tenant, start=start):
            start.wait()
            try:
                members.set_role(tenant, name, "viewer")
            except Conflict:
                return "refused"
            return "done"

        with ThreadPoolExecutor(2) as workers:
            outcomes = sorted(workers.map(demote, [f"a{round_}", f"b{round_}"]))
        assert outcomes in (["done", "refused"], ["refused", "refused"])
        admins = [m.role for m in members.list(tenant, 10, None)].count("admin")
        assert admins == 2 - outcomes.count("done") >= 1


def test_an_invitation_whose_group_fails_leaves_no_user(pool, members):
    pool.add_user("alice", "demo", ("admin",))
    pool.idp.delete_group(UserPoolId=pool.pool_id, GroupName="labeler")
    with pytest.raises(ClientError):
        members.invite("demo", "bob", "bob@example.com", "labeler")
    assert pool.usernames() == {"alice"}


def test_a_missing_user_is_not_found_and_throttling_is_unavailable(pool, spy, members):
    with pytest.raises(NotFound):
        members.set_role("demo", "ghost", "viewer")

    def throttled(params):
        raise ClientError({"Error": {"Code": "TooManyRequestsException", "Message": "slow down"}}, "ListUsersInGroup")

    spy.before["list_users_in_group"] = throttled
    with pytest.raises(Unavailable):
        members.list("demo", 10, None)


def test_the_pool_and_region_come_from_the_issuer(tmp_path):
    assert pool_of_issuer("https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123") == (
        "eu-west-1",
        "eu-west-1_AbC123",
    )
    for bad in (
        "https://cognito-idp.eu-west-1.amazonaws.com/us-east-1_AbC123",
        "https://example.com/eu-west-1_AbC123",
        "https://cognito-idp.eu-west-1.amazonaws.com/",
    ):
        with pytest.raises(ValueError, match="EDNA_COGNITO_ISSUER"):
            pool_of_issuer(bad)
    config = Config(data_dir=tmp_path, identity="cognito", cognito_client_id="web")
    adapters = build_adapters(config.replace(cognito_issuer="https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_x"))
    assert isinstance(adapters.members, CognitoMemberDirectory)
    assert adapters.members.user_pool_id == "eu-west-1_x"
    with pytest.raises(ValueError, match="EDNA_COGNITO_ISSUER"):
        build_adapters(config.replace(cognito_issuer="https://issuer.example.com"))
