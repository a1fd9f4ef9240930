"""A moto user pool as Edna's infrastructure makes it: `custom:tenant`, the four role groups, a client."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import boto3

PASSWORD = "Corr3ct-Horse-Battery!"
GROUPS = ("admin", "editor", "labeler", "viewer")


@dataclass
class Pool:
    """A moto user pool with an app client, the four role groups and users in two tenants."""

    idp: object
    pool_id: str
    client_id: str

    @classmethod
    def create(cls, endpoint: str, users: dict[str, tuple[str | None, tuple[str, ...]]]) -> Pool:
        idp = boto3.client("cognito-idp", endpoint_url=endpoint)
        pool_id = idp.create_user_pool(
            PoolName=f"edna-{uuid.uuid4().hex[:8]}",
            Schema=[
                {
                    "Name": "tenant",
                    "AttributeDataType": "String",
                    "Mutable": False,
                    "DeveloperOnlyAttribute": False,
                }
            ],
        )["UserPool"]["Id"]
        pool = cls(idp, pool_id, cls._client(idp, pool_id, "web"))
        for group in GROUPS:
            idp.create_group(GroupName=group, UserPoolId=pool_id)
        for username, (tenant, groups) in users.items():
            pool.add_user(username, tenant, groups)
        return pool

    @staticmethod
    def _client(idp, pool_id: str, name: str) -> str:
        return idp.create_user_pool_client(
            UserPoolId=pool_id,
            ClientName=name,
            ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        )["UserPoolClient"]["ClientId"]

    def new_client(self, name: str) -> str:
        return self._client(self.idp, self.pool_id, name)

    def add_user(self, username: str, tenant: str | None, groups: tuple[str, ...]) -> None:
        attributes = [{"Name": "email", "Value": f"{username}@example.com"}]
        if tenant is not None:
            attributes.append({"Name": "custom:tenant", "Value": tenant})
        self.idp.admin_create_user(
            UserPoolId=self.pool_id, Username=username, UserAttributes=attributes, MessageAction="SUPPRESS"
        )
        self.idp.admin_set_user_password(UserPoolId=self.pool_id, Username=username, Password=PASSWORD, Permanent=True)
        for group in groups:
            self.idp.admin_add_user_to_group(UserPoolId=self.pool_id, Username=username, GroupName=group)

    def tokens(self, username: str, client_id: str | None = None) -> dict:
        """`IdToken`, `AccessToken`, ... of a real sign-in."""
        return self.idp.admin_initiate_auth(
            UserPoolId=self.pool_id,
            ClientId=client_id or self.client_id,
            AuthFlow="ADMIN_USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD},
        )["AuthenticationResult"]

    def id_token(self, username: str, client_id: str | None = None) -> str:
        return self.tokens(username, client_id)["IdToken"]

    def issuer(self) -> str:
        return f"https://cognito-idp.us-east-1.amazonaws.com/{self.pool_id}"

    def groups_of(self, username: str) -> set[str]:
        groups = self.idp.admin_list_groups_for_user(UserPoolId=self.pool_id, Username=username)["Groups"]
        return {g["GroupName"] for g in groups}

    def attributes_of(self, username: str) -> dict[str, str]:
        user = self.idp.admin_get_user(UserPoolId=self.pool_id, Username=username)
        return {a["Name"]: a["Value"] for a in user["UserAttributes"]}

    def usernames(self) -> set[str]:
        names, params = set(), {"UserPoolId": self.pool_id}
        while True:
            page = self.idp.list_users(**params)
            names |= {u["Username"] for u in page["Users"]}
            if not page.get("PaginationToken"):
                return names
            params["PaginationToken"] = page["PaginationToken"]

    def delete(self) -> None:
        self.idp.delete_user_pool(UserPoolId=self.pool_id)
