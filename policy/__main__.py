"""Policy pack entry point. Building the pack starts a gRPC server and blocks: only Pulumi runs this file."""

from edna_policies import ALL_POLICIES
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(name="edna-security", enforcement_level=EnforcementLevel.MANDATORY, policies=ALL_POLICIES)
