"""Items of a dataset: list, request an upload, complete it, read, download, delete."""

from flask import redirect
from flask.views import MethodView

from service.adapters.searchindex import ItemRecord
from service.adapters.usage import UPLOAD_BYTES, UPLOAD_ITEMS
from service.domain import cursor
from service.domain.items import check_size
from service.resources.common import ApiBlueprint, caller, edna, item_page, page_schema
from service.resources.items.schemas import (
    CompleteSchema,
    ItemCountSchema,
    ItemFilters,
    ItemListArgs,
    ItemSchema,
    UploadRequestSchema,
    UploadTicketSchema,
)
from service.resources.search.routes import query_from
from service.vocabulary.roles import Role

blp = ApiBlueprint("items", __name__, url_prefix="/api/datasets/<dataset_id>/items", description="Items")


@blp.route("")
class Items(MethodView):
    @blp.requires(Role.viewer)
    @blp.arguments(ItemListArgs, location="query")
    @blp.response(200, page_schema(ItemSchema, "ItemPage"))
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, args, dataset_id):
        """List a dataset's items, filtered by label, status, content type or text"""
        state, tenant = edna(), caller().tenant
        state.datasets.get(tenant, dataset_id)
        query = query_from(args, dataset_id)
        records, last = state.items.list(tenant, query, args["limit"], cursor.decode(args["cursor"]))
        return item_page([state.items.describe(r) for r in records], last)

    @blp.requires(Role.editor)
    @blp.arguments(UploadRequestSchema)
    @blp.response(201, UploadTicketSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(413, response="REQUEST_ENTITY_TOO_LARGE")
    def post(self, body, dataset_id):
        """Request an upload: a pending item and a pre-signed URL to send the file to"""
        state = edna()
        dataset = state.datasets.get(caller().tenant, dataset_id)
        check_size(state.items.limits, body["size"])  # a size refused anyway is no quota matter
        with state.quotas.admitting(caller().tenant, body["size"]):
            record, upload = state.items.request_upload(
                caller(), dataset, body["filename"], body["content_type"], body["size"], body["method"], body["sha256"]
            )
        return {"item": state.items.describe(record), "upload": upload}


@blp.route("/count")
class ItemCount(MethodView):
    @blp.requires(Role.viewer)
    @blp.arguments(ItemFilters, location="query")
    @blp.response(200, ItemCountSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, args, dataset_id):
        """How many items match these filters, exactly (the listing's filters; no sort, no limit)"""
        state, tenant = edna(), caller().tenant
        state.datasets.get(tenant, dataset_id)
        return {"count": state.items.count(tenant, query_from(args, dataset_id))}


@blp.route("/<item_id>")
class ItemById(MethodView):
    @blp.requires(Role.viewer)
    @blp.response(200, ItemSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, dataset_id, item_id):
        """Read an item's metadata and URLs"""
        items = edna().items
        return items.describe(items.get(caller().tenant, dataset_id, item_id))

    @blp.requires(Role.editor)
    @blp.response(204)
    @blp.alt_response(404, response="NOT_FOUND")
    def delete(self, dataset_id, item_id):
        """Delete an item and its file"""
        edna().items.delete(caller().tenant, dataset_id, item_id)


@blp.route("/<item_id>/complete")
class Complete(MethodView):
    @blp.requires(Role.editor)
    @blp.arguments(CompleteSchema, required=False)  # a single PUT has no parts to send
    @blp.response(200, ItemSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, body, dataset_id, item_id):
        """Confirm an upload: the file must be in storage with the announced size"""
        state, tenant = edna(), caller().tenant
        parts = [(p["part_number"], p["etag"]) for p in body.get("parts") or []]
        record = state.items.complete(tenant, dataset_id, item_id, parts or None)
        meter_upload(record)
        return state.items.describe(record)


def meter_upload(record: ItemRecord) -> None:
    """Count a completed upload in the usage meter, once however often it is completed."""
    state = edna()
    if state.meter and state.items.first_completion(record):
        state.meter.count(record.tenant, UPLOAD_ITEMS)
        state.meter.count(record.tenant, UPLOAD_BYTES, record.size)


@blp.route("/<item_id>/download")
class Download(MethodView):
    @blp.requires(Role.viewer)
    @blp.response(302)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def get(self, dataset_id, item_id):
        """Redirect to a short-lived pre-signed URL of the file"""
        items = edna().items
        return redirect(items.download_url(items.get(caller().tenant, dataset_id, item_id)), code=302)
