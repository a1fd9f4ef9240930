"""What an application limited to some datasets may reach: those datasets, and nothing tenant-wide.

Checked once, before any view runs, from the route's path, query and body; so a route added
later is refused to such an application until it names its dataset or is listed here.
"""

from __future__ import annotations

from flask import current_app, request

from service.vocabulary.errors import Forbidden, NotFound
from service.vocabulary.roles import Principal

# Tenant-wide reads that leak nothing of other datasets (the dataset list is filtered by its view).
WITHOUT_DATASET = {
    ("GET", "/api/me"),
    ("GET", "/api/datasets"),
    ("GET", "/api/models"),
    ("GET", "/api/models/<model_id>"),
}


def _records_dataset(rule: str, kwargs: dict, tenant: str) -> str | None:
    """The dataset of the record a path names (a job, a comparison, a find-similar query)."""
    edna = current_app.extensions["edna"]
    if "job_id" in kwargs and rule.startswith("/api/jobs/"):
        return edna.jobs.get(tenant, kwargs["job_id"]).dataset_id
    if "comparison_id" in kwargs:
        return edna.comparisons.get(tenant, kwargs["comparison_id"]).dataset_id
    if "query_id" in kwargs:
        return edna.queries.get(tenant, kwargs["query_id"]).dataset_id
    return None


def _named_dataset() -> str | None:
    """`dataset_id` (or the search's `dataset`) in the query string or the JSON body."""
    named = request.args.get("dataset_id") or request.args.get("dataset")
    if named is None and request.is_json:
        body = request.get_json(silent=True, cache=True)
        if isinstance(body, dict) and isinstance(body.get("dataset_id"), str):
            named = body["dataset_id"]
    return named


def enforce(principal: Principal, kwargs: dict) -> None:
    """NotFound for a dataset outside the application's (as if missing), Forbidden for tenant-wide routes."""
    if principal.datasets is None:
        return
    rule = request.url_rule.rule if request.url_rule else request.path
    dataset_id = kwargs.get("dataset_id") or _records_dataset(rule, kwargs, principal.tenant) or _named_dataset()
    if dataset_id is not None:
        if dataset_id not in principal.datasets:
            raise NotFound("dataset not found")
        return
    if (request.method, rule) not in WITHOUT_DATASET:
        raise Forbidden(
            "this application is limited to some datasets; this route spans the whole tenant (name a dataset_id)"
        )
