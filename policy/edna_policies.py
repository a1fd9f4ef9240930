"""Edna's security checklist as Pulumi policies, and `check()`: the same policies run over plain resource dicts.

`ALL_POLICIES` is what the pack (`policy/__main__.py`) serves to the Pulumi engine. `check()` feeds the same
policy objects the argument types the engine would build, so a test of the mocked program exercises exactly
what `pulumi preview --policy-pack policy` enforces.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from pulumi_policy import (
    Policy,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import unknown_checking_proxy

if __package__:  # imported as policy.edna_policies from the repo root (tests, the program's checks)
    from policy import edna_edge_rules, edna_s3_rules, edna_search_rules, edna_service_rules
else:  # Pulumi runs `python __main__.py` inside policy/
    import edna_edge_rules
    import edna_s3_rules
    import edna_search_rules
    import edna_service_rules

ALL_POLICIES: list[Policy] = [
    *edna_s3_rules.POLICIES,
    *edna_edge_rules.POLICIES,
    *edna_search_rules.POLICIES,
    *edna_service_rules.POLICIES,
]
POLICIES_BY_NAME: dict[str, Policy] = {p.name: p for p in ALL_POLICIES}

STACK = "<stack>"


class Violation(NamedTuple):
    """One report: the policy, the resource (its urn as given to check(), else its name) and what to change."""

    policy: str
    resource: str
    message: str

    def __str__(self) -> str:
        return f"[{self.policy}] {self.resource}: {self.message}"


def check(resources: Iterable[Mapping[str, Any]], policies: Sequence[Policy] = ALL_POLICIES) -> list[Violation]:
    """Run every resource policy on every resource and every stack policy on all of them.

    Each resource is a dict::

        {"type": "aws:s3/bucket:Bucket",       # the engine's type token
         "name": "data",                       # the Pulumi resource name
         "urn": "urn:pulumi:...",              # optional; made up from type and name when absent
         "props": {"bucket": "edna-data", ...},  # camelCase inputs, with computed outputs (id, arn, ...) merged in
         "property_dependencies": {"bucket": ["<urn or name>"]},  # optional: prop -> resources it came from
         "parent": "<urn or name>"}           # optional

    Props may hold the engine's unknown sentinels (pulumi_policy.proxy.UNKNOWN_*) as in a preview.
    Returns the violations in policy order; an exception from a policy is a bug in it and propagates.
    """
    entries = [_Entry.build(index, resource) for index, resource in enumerate(resources)]
    by_urn = {e.urn: e for e in entries}
    if len(by_urn) != len(entries):
        raise ValueError("check(): two resources share a urn (or a type and name): give them distinct urns")
    by_ref = {e.name: e for e in entries} | by_urn
    stack = [e.policy_resource() for e in entries]
    for entry, resource in zip(entries, stack, strict=True):
        entry.link(resource, {e.urn: r for e, r in zip(entries, stack, strict=True)}, by_ref)

    violations: list[Violation] = []
    for policy in policies:
        if isinstance(policy, ResourceValidationPolicy):
            for entry in entries:
                report = _reporter(violations, policy.name, by_urn, default=entry.label)
                _run(policy.validate(entry.resource_args(), report))
        elif isinstance(policy, StackValidationPolicy):
            report = _reporter(violations, policy.name, by_urn, default=STACK)
            _run(policy.validate(StackValidationArgs(stack), report))
    return violations


def format_violations(violations: Iterable[Violation]) -> str:
    """One line per violation, for assertion messages."""
    return "\n".join(str(v) for v in violations) or "no violations"


def _reporter(out: list[Violation], policy: str, by_urn: Mapping[str, _Entry], default: str):
    def report_violation(message: str, urn: str | None = None) -> None:
        entry = by_urn.get(urn) if urn else None
        out.append(Violation(policy, entry.label if entry else default, message))

    return report_violation


def _run(result: Any) -> None:
    if inspect.isawaitable(result):
        asyncio.run(_await(result))


async def _await(awaitable: Any) -> None:
    await awaitable


def _options(parent: str | None = None) -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], parent)


class _Entry:
    """One input dict, validated, with the urn the policies will see."""

    def __init__(self, type_: str, name: str, urn: str, label: str, props: Mapping, raw: Mapping) -> None:
        self.type, self.name, self.urn, self.label, self.props, self.raw = type_, name, urn, label, props, raw

    @classmethod
    def build(cls, index: int, resource: Mapping[str, Any]) -> _Entry:
        if not isinstance(resource, Mapping) or not isinstance(resource.get("type"), str):
            raise TypeError(f"check(): resource #{index} needs a 'type' string, got {resource!r:.200}")
        type_, name = resource["type"], resource.get("name")
        if not isinstance(name, str) or not name:
            raise TypeError(f"check(): resource #{index} ({type_}) needs a 'name' string")
        props = resource.get("props") or {}
        if not isinstance(props, Mapping):
            raise TypeError(f"check(): resource {name!r} 'props' must be a dict")
        urn = resource.get("urn") or f"urn:pulumi:check::edna::{type_}::{name}"
        return cls(type_, name, urn, resource.get("urn") or name, props, resource)

    def proxied_props(self) -> Mapping[str, Any]:
        # The engine wraps props so reading an unknown raises: the policies must cope with exactly that.
        return unknown_checking_proxy(dict(self.props))

    def resource_args(self) -> ResourceValidationArgs:
        return ResourceValidationArgs(self.type, self.proxied_props(), self.urn, self.name, _options(), None)

    def policy_resource(self) -> PolicyResource:
        return PolicyResource(self.type, self.proxied_props(), self.urn, self.name, _options(), None, None, [], {})

    def link(self, resource: PolicyResource, by_urn: Mapping[str, PolicyResource], by_ref: Mapping) -> None:
        """Fill parent and property dependencies as the engine does (references it can't find are dropped)."""

        def find(ref: str) -> PolicyResource | None:
            entry = by_ref.get(ref)
            return by_urn.get(entry.urn) if entry else None

        parent = self.raw.get("parent")
        if parent and find(parent):
            resource.parent = find(parent)
            resource.opts.parent = resource.parent.urn
        for key, refs in (self.raw.get("property_dependencies") or {}).items():
            found = [r for r in map(find, [refs] if isinstance(refs, str) else refs) if r is not None]
            resource.property_dependencies[key] = found
            resource.dependencies.extend(r for r in found if r not in resource.dependencies)
