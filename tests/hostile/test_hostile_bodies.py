"""Inputs the fuzzing does not generate but a hostile client sends: lone UTF-16 surrogates in JSON bodies,
and usage/audit periods at the edges of the calendar or centuries long."""

from __future__ import annotations

import pytest
import requests

from service.vocabulary import layout

LONE_SURROGATE = '"a\\udcffb"'  # valid JSON; Python decodes it into a str that no codec can encode


def json_operations(base_url: str) -> list[tuple[str, str]]:
    spec = requests.get(base_url + "/api/openapi.json", timeout=10).json()
    return [
        (method.upper(), path)
        for path, methods in spec["paths"].items()
        for method, op in methods.items()
        if isinstance(op, dict) and "requestBody" in op
    ]


def test_a_lone_surrogate_in_any_json_body_is_a_400(stack):
    token = stack.token("alice", "demo", "admin")
    dataset = stack.client("admin").call("POST", "/api/datasets", json={"name": "d"})["id"]
    before = sorted(o.key for o in stack.edna.blobs.iter_objects(layout.TENANTS))
    ops = json_operations(stack.base_url)
    assert len(ops) >= 15
    fields = ["name", "description", "filename", "content_type", "username", "password", "email", "label", "role"]
    for method, template in ops:
        path = template.replace("{dataset_id}", dataset)
        for name in ("item_id", "model_id", "job_id", "username"):
            path = path.replace("{" + name + "}", "0" * 26)
        for field in fields:
            resp = requests.request(
                method,
                stack.base_url + path,
                data=f'{{"{field}": {LONE_SURROGATE}, "output": {{"name": {LONE_SURROGATE}}}}}',
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                timeout=30,
            )
            assert 400 <= resp.status_code < 500, (method, template, field, resp.status_code, resp.text[:200])
    assert sorted(o.key for o in stack.edna.blobs.iter_objects(layout.TENANTS)) == before


@pytest.mark.parametrize("path", ["/api/usage", "/api/audit"])
@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"from": "0001-01-01T00:00:00+05:00", "to": "0001-01-02"}, 400),  # overflowed in UTC: was a 500
        ({"from": "9999-12-31", "to": "9999-12-31T23:59:59Z"}, 400),  # the day after overflowed: was a 500
        ({"to": "0001-01-03"}, 400),  # the audit's default `from` (7 days before) overflowed
        ({"from": "1900-01-01", "to": "2030-01-01"}, 400),  # a day's listing each: minutes on S3
        ({"from": "2020-01-01", "to": "2021-01-02"}, 400),  # 367 days
        ({"from": "2020-01-01", "to": "2021-01-01"}, 200),  # 366 days: a leap year is one period
        ({"from": "1970-01-01", "to": "1970-01-02"}, 200),
    ],
)
def test_periods_are_bounded(stack, path, params, status):
    resp = requests.get(
        stack.base_url + path,
        params=params,
        headers={"Authorization": f"Bearer {stack.token('alice', 'demo', 'admin')}"},
        timeout=30,
    )
    assert resp.status_code == status, resp.text
    if status == 400:
        assert resp.json()["message"]
