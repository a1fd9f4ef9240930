"""The role hierarchy (DESIGN.md §5) and the Principal that carries it."""

from __future__ import annotations

import pytest

from service.vocabulary.errors import Forbidden
from service.vocabulary.roles import Principal, Role


def principal(*roles: str) -> Principal:
    return Principal(user="alice", tenant="demo", roles=roles)


@pytest.mark.parametrize("have", list(Role))
@pytest.mark.parametrize("need", list(Role))
def test_each_role_may_do_what_the_roles_below_may(have, need):
    caller = principal(have.name)
    if have >= need:
        caller.require(need)
    else:
        with pytest.raises(Forbidden, match=need.name):
            caller.require(need)


def test_the_highest_of_several_roles_counts():
    caller = principal("viewer", "editor", "labeler")

    assert caller.highest_role is Role.editor
    caller.require(Role.editor)
    with pytest.raises(Forbidden):
        caller.require(Role.admin)


@pytest.mark.parametrize("roles", [(), ("superuser",), ("Admin",), ("root", "owner"), ("",)])
def test_without_a_known_role_nothing_is_allowed(roles):
    caller = principal(*roles)

    assert caller.highest_role is None
    for role in Role:
        with pytest.raises(Forbidden):
            caller.require(role)


def test_unknown_roles_are_ignored_beside_known_ones():
    caller = principal("superuser", "labeler", "god-mode")

    assert caller.highest_role is Role.labeler
    caller.require(Role.labeler)
    with pytest.raises(Forbidden):
        caller.require(Role.editor)


def test_role_parse():
    assert [Role.parse(r) for r in ("viewer", "labeler", "editor", "admin")] == list(Role)
    with pytest.raises(ValueError, match="root"):
        Role.parse("root")
