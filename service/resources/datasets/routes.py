"""Datasets: list, create, read, update, delete (with every object, in the background)."""

from dataclasses import asdict

from flask.views import MethodView

from service.domain import cursor
from service.domain.bulk_runs import LABEL
from service.domain.datasets import Dataset, label_classes
from service.resources.bulk.routes import BulkRunSchema
from service.resources.common import ApiBlueprint, PageArgs, caller, edna, page, page_schema
from service.resources.datasets.schemas import (
    ClassRenameSchema,
    DatasetCreateSchema,
    DatasetSchema,
    DatasetUpdateSchema,
    DeletionSchema,
)
from service.resources.search.routes import query_from
from service.vocabulary.roles import Role

blp = ApiBlueprint("datasets", __name__, url_prefix="/api/datasets", description="Datasets")


def view(dataset: Dataset) -> dict:
    data = asdict(dataset)
    data.pop("hotkeys")  # what was chosen; the view shows the effective keys from `extra`
    shown = {**data, **data.pop("extra")}
    for prediction in shown.get("predictions", []):
        prediction["model_name"] = edna().models.name_of(caller().tenant, prediction["model_id"])
    return shown


@blp.route("")
class Datasets(MethodView):
    @blp.requires(Role.viewer)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, page_schema(DatasetSchema, "DatasetPage"))
    def get(self, args):
        """List the tenant's datasets with their counts"""
        principal = caller()
        tenant = principal.tenant
        catalog = edna().datasets
        datasets, last = catalog.list(tenant, args["limit"], cursor.decode(args["cursor"]))
        if principal.datasets is not None:  # an application limited to some datasets sees those only
            datasets = [d for d in datasets if d.id in principal.datasets]
        return page([view(catalog.with_stats(tenant, d)) for d in datasets], last)

    @blp.requires(Role.editor)
    @blp.arguments(DatasetCreateSchema)
    @blp.response(201, DatasetSchema)
    @blp.alt_response(409, response="CONFLICT")
    def post(self, body):
        """Create a dataset"""
        catalog = edna().datasets
        dataset = catalog.create(caller(), body["name"], body["description"], body.get("label_classes"))
        return view(catalog.with_stats(caller().tenant, dataset))


@blp.route("/<dataset_id>")
class DatasetById(MethodView):
    @blp.requires(Role.viewer)
    @blp.response(200, DatasetSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, dataset_id):
        """Read a dataset with item count, bytes and label counts"""
        catalog = edna().datasets
        return view(catalog.with_stats(caller().tenant, catalog.get(caller().tenant, dataset_id)))

    @blp.requires(Role.editor)
    @blp.arguments(DatasetUpdateSchema)
    @blp.response(200, DatasetSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def patch(self, body, dataset_id):
        """Rename, describe, change the label classes or the labelling hotkeys of a dataset"""
        catalog = edna().datasets
        return view(catalog.with_stats(caller().tenant, catalog.update(caller().tenant, dataset_id, body)))

    @blp.requires(Role.admin)
    @blp.response(202, DeletionSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def delete(self, dataset_id):
        """Delete a dataset: gone from every listing at once, its objects removed in the background"""
        return edna().deletions.start(caller(), dataset_id)


@blp.route("/<dataset_id>/deletion")
class DatasetDeletion(MethodView):
    @blp.requires(Role.viewer)
    @blp.response(200, DeletionSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, dataset_id):
        """A dataset's deletion: status and progress (items removed of those it held)"""
        return edna().deletions.get(caller().tenant, dataset_id)


@blp.route("/<dataset_id>/label-classes/rename")
class ClassRename(MethodView):
    @blp.requires(Role.editor)
    @blp.arguments(ClassRenameSchema)
    @blp.response(202, BulkRunSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def post(self, body, dataset_id):
        """Rename a label class (or merge it into another): the class list now, its items by a bulk run"""
        state, principal = edna(), caller()
        new = label_classes([body["to"]])[0]
        dataset = state.datasets.rename_class(principal.tenant, dataset_id, body["from_"], new)
        query = query_from({"label": body["from_"]}, dataset_id)
        return state.bulk.start(principal, dataset, query, {"action": LABEL, "label": new}, None)
