"""The security policy pack over every resource the mocked program declares, for each stack."""

from __future__ import annotations

import pytest

from infra.synth import synthesize
from policy.edna_policies import ALL_POLICIES, check, format_violations


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_program_passes_every_policy(stack):
    resources = [r.as_dict() for r in synthesize(stack).resources if r.custom]
    assert len(resources) > 80
    violations = check(resources)
    assert violations == [], format_violations(violations)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_policy_has_something_to_judge(stack):
    """A rule whose resource type the program never declares would pass vacuously."""
    declared = {r.type for r in synthesize(stack).resources}
    for policy in ALL_POLICIES:
        types = getattr(policy, "resource_types", None)
        if types:
            assert set(types) & declared, f"{policy.name} matches none of the program's resources"
