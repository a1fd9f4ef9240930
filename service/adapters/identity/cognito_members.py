"""CognitoMemberDirectory: a tenant's members in a Cognito user pool (role groups, `custom:tenant`).

What it costs. Cognito cannot filter users on a custom attribute (ListUsers' `Filter` takes
standard attributes only), so a tenant's members are found by paging through the four role
groups with ListUsersInGroup (60 users a call, attributes included) and keeping those whose
`custom:tenant` is the caller's. A page of `/api/members` therefore costs
ceil(users in each role group of the whole pool / 60) calls summed over the groups, whatever its
`limit`, and so does every last-admin check (over the `admin` group only). ListUsersInGroup
shares Cognito's "UserList" quota (30 requests/s per account by default): fine for pools of a
few thousand users; beyond that, tenant-scoped groups or an index of members kept by the service
would be the fix. Looking one member up is AdminGetUser + AdminListGroupsForUser (2 calls).

What is not atomic. Cognito has no transactions: the last-admin check (a listing) and the change
(group membership) are separate calls, so two admins demoting or removing each other at the same
moment would both see "another admin remains" and could leave the tenant with none. The adapter
closes that race by changing first and checking again: a demotion or removal of an admin first
takes the user out of the `admin` group, then counts the tenant's other admins once more, and if
there are none it puts the user back and answers Conflict. Of two concurrent demotions the later
re-check sees both changes and rolls its own back, so at least one admin remains (both may be
refused; neither is lost). What remains: a process that dies between the change and the
roll-back (a Lambda timeout) can leave the tenant without an admin until an operator adds one,
and for that instant a fresh sign-in of the demoted user carries no admin group. A removal is
irreversible, so it deletes the user only after the demotion has passed its re-check.

Names are per tenant. Cognito usernames are the pool's and unique in it, so an invited member's
Cognito username is `tenant/username` (what it types at the hosted UI); the tenant's admins see
and manage it as `username`. An invite therefore never meets another tenant's users: it neither
reveals that a name exists elsewhere nor takes it. Users made outside the API (the stack's first
admin, an operator) keep their bare Cognito usernames and are found by them too.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

from botocore.exceptions import ClientError

from service.adapters.identity import Member, MemberDirectory
from service.vocabulary.errors import Conflict, NotFound, Unavailable, Unprocessable
from service.vocabulary.roles import Role

TENANT_ATTRIBUTE = "custom:tenant"  # the claim the Cognito verifier reads the tenant from
ROLE_GROUPS = tuple(role.name for role in sorted(Role, reverse=True))  # admin first
PAGE = 60  # the largest Limit ListUsersInGroup and AdminListGroupsForUser accept

_ISSUER_RE = re.compile(r"https://cognito-idp\.([a-z0-9-]+)\.amazonaws\.com/(([a-z0-9-]+)_[A-Za-z0-9]+)/?")


def pool_of_issuer(issuer: str) -> tuple[str, str]:
    """(region, user pool id) of a Cognito issuer `https://cognito-idp.<region>.amazonaws.com/<pool>`."""
    match = _ISSUER_RE.fullmatch(issuer)
    if match is None or match.group(3) != match.group(1):
        raise ValueError(
            f"EDNA_COGNITO_ISSUER {issuer!r} is not https://cognito-idp.<region>.amazonaws.com/<region>_<id>"
        )
    return match.group(1), match.group(2)


def _shown(tenant: str, cognito_username: str) -> str:
    """The member's name in its tenant: `tenant/bob` is `bob`; a bare Cognito username is itself."""
    return cognito_username.removeprefix(f"{tenant}/")


def _candidates(tenant: str, username: str) -> list[str]:
    """The Cognito usernames a tenant's `username` may have: scoped first (invited), then bare."""
    if "/" in username:  # a token's own `cognito:username`: valid only under its own tenant
        return [username] if username.startswith(f"{tenant}/") else []
    return [f"{tenant}/{username}", username]


def _code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


class CognitoMemberDirectory(MemberDirectory):
    """Members are the pool's users whose `custom:tenant` is the tenant; their role is their
    highest role group. A user of another tenant is not found, exactly like a missing one."""

    def __init__(self, client: Any, user_pool_id: str, *, connect: Callable[[], Any] | None = None):
        """`client` is a boto3 `cognito-idp` client; or None and `connect` makes one on first use
        (a cold start that never manages members does not pay for it)."""
        if client is None and connect is None:
            raise ValueError("a cognito-idp client or a way to connect one is required")
        self._client = client
        self._connect = connect
        self.user_pool_id = user_pool_id
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._connect()
        return self._client

    def _call(self, operation: str, **params: Any) -> dict:
        """One Cognito call on the pool; a missing user is NotFound, throttling is Unavailable."""
        try:
            return getattr(self.client, operation)(UserPoolId=self.user_pool_id, **params)
        except ClientError as exc:
            if _code(exc) == "UserNotFoundException":
                raise NotFound("member not found") from None
            if _code(exc) == "TooManyRequestsException":
                raise Unavailable("the identity provider is throttling requests; try again shortly") from None
            raise

    # --- reads ---------------------------------------------------------------------------------

    def _group_users(self, group: str) -> Iterator[dict]:
        params: dict[str, Any] = {"GroupName": group, "Limit": PAGE}
        while True:
            page = self._call("list_users_in_group", **params)
            yield from page.get("Users", [])
            if not page.get("NextToken"):
                return
            params["NextToken"] = page["NextToken"]

    def _tenant_members(self, tenant: str, groups: tuple[str, ...] = ROLE_GROUPS) -> dict[str, Member]:
        """The tenant's users in the given role groups, by username, each with its highest role."""
        members: dict[str, Member] = {}
        for group in groups:  # highest first: a user's first group is its role
            for user in self._group_users(group):
                attributes = {a["Name"]: a["Value"] for a in user.get("Attributes", [])}
                name = _shown(tenant, user["Username"])
                if attributes.get(TENANT_ATTRIBUTE) == tenant and name not in members:
                    members[name] = Member(name, tenant, group, attributes.get("email", ""))
        return members

    def _admins_besides(self, tenant: str, username: str) -> int:
        return len(set(self._tenant_members(tenant, ("admin",))) - {username})

    def _user(self, tenant: str, username: str) -> tuple[dict, dict[str, str]]:
        """The tenant's Cognito user named so, and its attributes; NotFound when missing or of another tenant."""
        for candidate in _candidates(tenant, username):
            try:
                user = self._call("admin_get_user", Username=candidate)
            except NotFound:
                continue
            attributes = {a["Name"]: a["Value"] for a in user.get("UserAttributes", [])}
            if attributes.get(TENANT_ATTRIBUTE) == tenant:
                return user, attributes
        raise NotFound("member not found")

    def _member(self, tenant: str, username: str) -> tuple[Member, set[str], str]:
        """The tenant's member, its role groups and its Cognito username; NotFound when missing or of another tenant."""
        user, attributes = self._user(tenant, username)
        cognito_username = user["Username"]
        groups: set[str] = set()
        params: dict[str, Any] = {"Username": cognito_username, "Limit": PAGE}
        while True:
            page = self._call("admin_list_groups_for_user", **params)
            groups |= {g["GroupName"] for g in page.get("Groups", []) if g["GroupName"] in ROLE_GROUPS}
            if not page.get("NextToken"):
                break
            params["NextToken"] = page["NextToken"]
        role = next((g for g in ROLE_GROUPS if g in groups), "")
        member = Member(_shown(tenant, cognito_username), tenant, role, attributes.get("email", ""))
        return member, groups, cognito_username

    def sign_in_name(self, member: Member) -> str:
        """An invited member's Cognito username."""
        return f"{member.tenant}/{member.username}"

    def find(self, tenant: str, username: str) -> Member | None:
        """AdminGetUser + AdminListGroupsForUser: two calls, which is why the verifier caches the answer."""
        try:
            member, _, _ = self._member(tenant, username)
        except NotFound:
            return None
        return member

    def list(self, tenant: str, limit: int, after: str | None) -> list[Member]:
        members = self._tenant_members(tenant)
        return [members[name] for name in sorted(members) if after is None or name > after][:limit]

    # --- writes --------------------------------------------------------------------------------

    def invite(self, tenant: str, username: str, email: str, role: str) -> tuple[Member, str | None]:
        """Cognito mails the temporary password to `email`: there is none to return."""
        Role.parse(role)
        if not email:
            raise Unprocessable("email is required: Cognito mails the temporary password to it")
        attributes = [
            {"Name": TENANT_ATTRIBUTE, "Value": tenant},  # set here, from the caller's token, never from the body
            {"Name": "email", "Value": email},
            {"Name": "email_verified", "Value": "true"},
        ]
        if self.find(tenant, username) is not None:
            raise Conflict(f"user {username!r} already exists")
        cognito_username = f"{tenant}/{username}"  # per tenant: never another tenant's name
        try:
            self._call(
                "admin_create_user",
                Username=cognito_username,
                UserAttributes=attributes,
                DesiredDeliveryMediums=["EMAIL"],
            )
        except ClientError as exc:
            if _code(exc) in ("UsernameExistsException", "AliasExistsException"):
                raise Conflict(f"user {username!r} already exists") from None
            if _code(exc) == "InvalidParameterException":
                raise Unprocessable(exc.response["Error"].get("Message", "invalid invitation")) from None
            raise
        try:
            self._call("admin_add_user_to_group", Username=cognito_username, GroupName=role)
        except Exception:
            self._call("admin_delete_user", Username=cognito_username)  # no half-invited user without a role
            raise
        return Member(username, tenant, role, email), None

    def _move(self, username: str, have: set[str], want: set[str]) -> None:
        """Add before removing: the user is never in no role group while moving."""
        for group in sorted(want - have):
            self._call("admin_add_user_to_group", Username=username, GroupName=group)
        for group in sorted(have - want):
            self._call("admin_remove_user_from_group", Username=username, GroupName=group)

    def _demote_keeping_an_admin(
        self, member: Member, cognito_username: str, groups: set[str], target: set[str]
    ) -> None:
        """Move an admin to `target` groups unless the tenant would have no admin left: checked
        before, and again after the change (then rolled back), as the module docstring explains."""
        if self._admins_besides(member.tenant, member.username) == 0:
            raise Conflict("the tenant's last admin cannot be removed or demoted; make another admin first")
        self._move(cognito_username, groups, target)
        if self._admins_besides(member.tenant, member.username) == 0:
            self._move(cognito_username, target, groups)
            raise Conflict("another admin was demoted or removed at the same moment; the tenant keeps this admin")

    def set_role(self, tenant: str, username: str, role: str) -> Member:
        Role.parse(role)
        member, groups, cognito_username = self._member(tenant, username)
        if "admin" in groups and role != "admin":
            self._demote_keeping_an_admin(member, cognito_username, groups, {role})
        else:
            self._move(cognito_username, groups, {role})
        return Member(member.username, tenant, role, member.email)

    def remove(self, tenant: str, username: str) -> None:
        """Signed out everywhere and disabled first (no new sign-in, refresh tokens stop working),
        then deleted; tokens already issued stop at the verifier's next directory look-up."""
        member, groups, cognito_username = self._member(tenant, username)
        if "admin" in groups:
            self._demote_keeping_an_admin(member, cognito_username, groups, groups - {"admin"})
        self._call("admin_user_global_sign_out", Username=cognito_username)
        self._call("admin_disable_user", Username=cognito_username)
        self._call("admin_delete_user", Username=cognito_username)


def cognito_member_directory(issuer: str, endpoint_url: str | None = None) -> CognitoMemberDirectory:
    """The directory of the issuer's pool, in the issuer's region; boto3 is loaded on first use.
    Without `endpoint_url`, boto3's own `AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER` applies."""
    region, pool_id = pool_of_issuer(issuer)

    def connect() -> Any:
        import boto3

        return boto3.client("cognito-idp", region_name=region, endpoint_url=endpoint_url or None)

    return CognitoMemberDirectory(None, pool_id, connect=connect)
