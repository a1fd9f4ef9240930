"""Cognito: the user pool (groups are Edna's roles, `custom:tenant` is set once), the site's client."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra.config import StackConfig

ROLES = ("admin", "editor", "labeler", "viewer")  # service/vocabulary/roles.py; precedence in this order
APPLICATION_SCOPE_SERVER = "edna"  # EDNA_COGNITO_SCOPE_SERVER's default


class Identity(pulumi.ComponentResource):
    def __init__(self, config: StackConfig, opts: pulumi.ResourceOptions | None = None):
        super().__init__("edna:web:Identity", "identity", None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.config = config
        self.pool = aws.cognito.UserPool(
            "users",
            name=f"{config.prefix}-users",
            deletion_protection="ACTIVE",
            mfa_configuration=config.mfa,
            software_token_mfa_configuration={"enabled": True} if config.mfa != "OFF" else None,
            # Tenants grow by invitation from their admins (POST /api/members), never by sign-up.
            admin_create_user_config={"allow_admin_create_user_only": True},
            auto_verified_attributes=["email"],
            account_recovery_setting={"recovery_mechanisms": [{"name": "verified_email", "priority": 1}]},
            password_policy={
                "minimum_length": 12,
                "require_lowercase": True,
                "require_uppercase": True,
                "require_numbers": True,
                "require_symbols": True,
                "temporary_password_validity_days": 7,
            },
            schemas=[
                {
                    "name": "tenant",
                    "attribute_data_type": "String",
                    "mutable": False,  # a user never moves between tenants
                    "developer_only_attribute": False,
                    "required": False,
                    "string_attribute_constraints": {"min_length": "1", "max_length": "63"},
                }
            ],
            username_configuration={"case_sensitive": False},
            opts=child,
        )
        self.groups = [
            aws.cognito.UserGroup(f"group-{role}", name=role, user_pool_id=self.pool.id, precedence=rank, opts=child)
            for rank, role in enumerate(ROLES)
        ]
        # Applications (service accounts) get tokens by the client-credentials grant with one scope:
        # `edna/<role>`. Edna binds each app client to its tenant; the scope only caps the role.
        self.resource_server = aws.cognito.ResourceServer(
            "applications",
            identifier=APPLICATION_SCOPE_SERVER,
            name="Edna applications",
            user_pool_id=self.pool.id,
            scopes=[{"scope_name": role, "scope_description": f"act as {role}"} for role in ROLES],
            opts=child,
        )
        self.domain = aws.cognito.UserPoolDomain(
            "hosted-ui", domain=config.auth_domain_prefix, user_pool_id=self.pool.id, opts=child
        )
        self.issuer = pulumi.Output.concat("https://cognito-idp.", config.region, ".amazonaws.com/", self.pool.id)
        self.client: aws.cognito.UserPoolClient | None = None

    def add_site_client(self, site_url: pulumi.Input[str]) -> aws.cognito.UserPoolClient:
        """The browser's client: authorization code with PKCE, no secret, back to the site only."""
        callback = pulumi.Output.concat(site_url, "/")
        self.client = aws.cognito.UserPoolClient(
            "site",
            name=f"{self.config.prefix}-site",
            user_pool_id=self.pool.id,
            generate_secret=False,
            allowed_oauth_flows_user_pool_client=True,
            allowed_oauth_flows=["code"],
            allowed_oauth_scopes=["openid", "email", "profile"],
            supported_identity_providers=["COGNITO"],
            callback_urls=[callback],
            logout_urls=[callback],
            explicit_auth_flows=["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
            prevent_user_existence_errors="ENABLED",
            enable_token_revocation=True,
            id_token_validity=60,
            access_token_validity=60,
            refresh_token_validity=30,
            token_validity_units={"id_token": "minutes", "access_token": "minutes", "refresh_token": "days"},
            read_attributes=["email", "email_verified", "custom:tenant"],
            write_attributes=["email"],  # not custom:tenant: only the service sets it, at invitation
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"user_pool_id": self.pool.id, "client_id": self.client.id})
        return self.client

    @property
    def hosted_ui(self) -> pulumi.Output[str]:
        return pulumi.Output.concat("https://", self.domain.domain, ".auth.", self.config.region, ".amazoncognito.com")
