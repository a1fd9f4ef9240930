"""The attack harness itself: a real server per store, a tenant with a member per role."""

pytest_plugins = ["attack_harness"]


def test_each_role_signs_in_and_sees_only_its_tenant(target):
    mine, other = target.tenant(), target.tenant()
    created = mine.clients["editor"].call("POST", "/api/datasets", json={"name": "d"})
    assert [d["id"] for d in mine.clients["viewer"].pages("/api/datasets")] == [created["id"]]
    assert list(other.clients["admin"].pages("/api/datasets")) == []
