"""Reading resource properties as the Pulumi engine hands them to a policy: proxied, maybe unknown, JSON documents."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
)

_SENTINELS = frozenset(
    {
        UNKNOWN_ARCHIVE_VALUE,
        UNKNOWN_ARRAY_VALUE,
        UNKNOWN_ASSET_VALUE,
        UNKNOWN_BOOLEAN_VALUE,
        UNKNOWN_NUMBER_VALUE,
        UNKNOWN_OBJECT_VALUE,
        UNKNOWN_STRING_VALUE,
    }
)


class _Unknown:
    """A value the engine cannot know yet (preview of a resource not yet created)."""

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN: Any = _Unknown()
"""What `plain` puts where the engine sent an unknown: rules neither pass nor fail on it."""


def plain(value: Any) -> Any:
    """Copy engine props (proxied, with unknown sentinels) into plain dicts and lists, unknowns as UNKNOWN."""
    if isinstance(value, str):
        return UNKNOWN if value in _SENTINELS else value
    if isinstance(value, Mapping):
        out = {}
        for key in value:  # iterating a proxy yields keys without reading the values
            try:
                out[key] = plain(value[key])
            except UnknownValueError:
                out[key] = UNKNOWN
        return out
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        items = []
        for index in range(len(value)):
            try:
                items.append(plain(value[index]))
            except UnknownValueError:
                items.append(UNKNOWN)
        return items
    return value


def get(obj: Any, *path: str | int, default: Any = None) -> Any:
    """Walk keys and indexes of a `plain` value: missing or null gives `default`, an unknown on the way UNKNOWN."""
    current = obj
    for key in path:
        if current is UNKNOWN:
            return UNKNOWN
        if isinstance(key, str) and isinstance(current, list) and len(current) == 1:
            current = current[0]  # a max-one block sent as a one-element list
        if isinstance(key, int):
            if not isinstance(current, list) or not -len(current) <= key < len(current):
                return default
        elif not isinstance(current, dict) or key not in current:
            return default
        current = current[key]
        if current is None:
            return default
    return current


def as_list(value: Any) -> Any:
    """None -> [], a scalar -> [scalar], a list stays; UNKNOWN stays UNKNOWN."""
    if value is None:
        return []
    if value is UNKNOWN or isinstance(value, list):
        return value
    return [value]


def is_set(value: Any) -> bool:
    """True for a known, non-empty value."""
    return value is not UNKNOWN and value not in (None, "", [], {})


def is_number(value: Any) -> bool:
    """Numbers arrive as int from Python and as float through the engine's protobuf Struct."""
    return isinstance(value, int | float) and not isinstance(value, bool)


# ---- IAM / bucket policy documents -------------------------------------------------------------


def policy_document(value: Any) -> Any:
    """A document given as a JSON string or a dict -> dict; UNKNOWN stays; anything unreadable -> None."""
    if value is UNKNOWN:
        return UNKNOWN
    if isinstance(value, str):
        try:
            value = plain(json.loads(value))
        except ValueError:
            return None
    return value if isinstance(value, dict) else None


def statements(document: Any) -> list[tuple[str, dict]]:
    """(label, statement) pairs of a document; Statement may be one dict or a list."""
    if not isinstance(document, dict):
        return []
    found = as_list(document.get("Statement"))
    if found is UNKNOWN:
        return []
    return [(_label(i, s), s) for i, s in enumerate(found) if isinstance(s, dict)]


def _label(index: int, statement: dict) -> str:
    sid = statement.get("Sid")
    return f"statement {sid!r}" if isinstance(sid, str) and sid else f"statement #{index}"


def effect_is(statement: dict, effect: str) -> bool:
    value = statement.get("Effect")
    return isinstance(value, str) and value.lower() == effect.lower()


def lowered(values: Any) -> list[str]:
    """Known strings of a str-or-list field, lower-cased (IAM actions are case-insensitive)."""
    items = as_list(values)
    return [] if items is UNKNOWN else [v.lower() for v in items if isinstance(v, str)]


def principal_is_public(principal: Any) -> bool:
    """Principal "*" or {"AWS": "*"} (any principal type with a "*" member)."""
    if principal == "*":
        return True
    if isinstance(principal, dict):
        return any("*" in (as_list(v) if v is not UNKNOWN else []) for v in principal.values())
    return False


# ---- the resources a stack policy sees --------------------------------------------------------


@dataclass
class Res:
    """A stack resource with plain props and property dependencies as URNs."""

    type: str
    name: str
    urn: str
    props: dict
    deps: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, resource: PolicyResource) -> Res:
        props = plain(resource.props)
        deps = {key: [d.urn for d in found] for key, found in (resource.property_dependencies or {}).items()}
        return cls(resource.resource_type, resource.name, resource.urn, props if isinstance(props, dict) else {}, deps)

    def label(self) -> str:
        return f"{self.type.rsplit(':', 1)[-1]} {self.name!r}"


def name_of(res: Res, *keys: str) -> Any:
    """The first known string among props `keys` (e.g. "bucket", "id"); UNKNOWN if one is unknown, else None."""
    unknown = False
    for key in keys:
        value = get(res.props, key)
        if isinstance(value, str) and value:
            return value
        unknown = unknown or value is UNKNOWN
    return UNKNOWN if unknown else None


# ---- building policies from small generator functions ------------------------------------------

ResourceCheck = Callable[[dict, str], Iterable[str]]
StackCheck = Callable[[list[Res]], Iterable[tuple[str, str]]]


def resource_policy(
    name: str, description: str, types: Iterable[str], check: ResourceCheck
) -> ResourceValidationPolicy:
    """A mandatory resource policy: `check(props, resource_name)` yields one message per violation."""
    wanted = frozenset(types)

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if args.resource_type not in wanted:
            return
        props = plain(args.props)
        for message in check(props if isinstance(props, dict) else {}, args.name):
            report_violation(message, None)

    policy = ResourceValidationPolicy(
        name=name, description=description, validate=validate, enforcement_level=EnforcementLevel.MANDATORY
    )
    policy.resource_types = wanted  # lets a test show the program declares something each rule judges
    return policy


def stack_policy(name: str, description: str, check: StackCheck) -> StackValidationPolicy:
    """A mandatory stack policy: `check(resources)` yields (urn, message) per violation."""

    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        for urn, message in check([Res.of(r) for r in args.resources]):
            report_violation(message, urn)

    return StackValidationPolicy(
        name=name, description=description, validate=validate, enforcement_level=EnforcementLevel.MANDATORY
    )


def of_type(resources: list[Res], types: Iterable[str]) -> Iterator[Res]:
    wanted = frozenset(types)
    return (r for r in resources if r.type in wanted)
