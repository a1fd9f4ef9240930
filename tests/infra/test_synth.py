"""`make synth`: the table reviewers read, and the exit status CI could gate on."""

from __future__ import annotations

import pytest

from infra import synth


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_synth_prints_every_resource_and_a_clean_policy_verdict(stack, capsys):
    assert synth.main(["--stack", stack]) == 0
    out = capsys.readouterr().out
    resources = synth.synthesize(stack).resources
    for r in resources:
        assert r.name in out
    assert "aws:mwaa/environment:Environment" in out and "PRIVATE_ONLY" in out
    assert "GET /api/health auth NONE" in out and "ANY /api/{proxy+} auth JWT" in out
    assert f"stack {stack}: {sum(r.custom for r in resources)} resources" in out
    assert "0 violations" in out


def test_an_unknown_stack_is_named(capsys):
    with pytest.raises(FileNotFoundError, match="known stacks are dev, prod"):
        synth.main(["--stack", "staging"])
