"""Snapshots of a dataset: take, list, read, delete; their items, export, downloads and diffs."""

from flask import Response, redirect, stream_with_context
from flask.views import MethodView

from service.domain import cursor
from service.domain.export import FORMATS
from service.domain.snapshots import public
from service.resources.common import ApiBlueprint, PageArgs, caller, edna, page, page_schema
from service.resources.snapshots.schemas import (
    DiffArgs,
    DiffSchema,
    ExportArgs,
    SnapshotCreateSchema,
    SnapshotItemSchema,
    SnapshotSchema,
)
from service.vocabulary.errors import BadRequest
from service.vocabulary.ids import is_id
from service.vocabulary.roles import Role

blp = ApiBlueprint(
    "snapshots", __name__, url_prefix="/api/datasets/<dataset_id>/snapshots", description="Dataset snapshots"
)


def position(args: dict) -> str | None:
    """The item id a page cursor points after."""
    after = cursor.decode(args["cursor"])
    if after is not None and not is_id(after):
        raise BadRequest("cursor is malformed; pass next_cursor from the previous page")
    return after


def snapshot_of(dataset_id: str, snapshot_id: str) -> dict:
    state, tenant = edna(), caller().tenant
    state.datasets.get(tenant, dataset_id)
    return state.snapshots.get(tenant, dataset_id, snapshot_id)


@blp.route("")
class Snapshots(MethodView):
    @blp.requires(Role.viewer)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, page_schema(SnapshotSchema, "SnapshotPage"))
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, args, dataset_id):
        """List the dataset's snapshots, oldest first"""
        state, tenant = edna(), caller().tenant
        state.datasets.get(tenant, dataset_id)
        found, last = state.snapshots.list(tenant, dataset_id, args["limit"], position(args))
        return page([public(s) for s in found], last)

    @blp.requires(Role.editor)
    @blp.arguments(SnapshotCreateSchema)
    @blp.response(201, SnapshotSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, body, dataset_id):
        """Freeze the dataset: every available item's exact bytes, label, tags and boxes"""
        state, principal = edna(), caller()
        dataset = state.datasets.get(principal.tenant, dataset_id)
        return public(state.snapshots.create(principal, dataset, body.get("name")))


@blp.route("/<snapshot_id>")
class SnapshotById(MethodView):
    @blp.requires(Role.viewer)
    @blp.response(200, SnapshotSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, dataset_id, snapshot_id):
        """Read a snapshot"""
        return public(snapshot_of(dataset_id, snapshot_id))

    @blp.requires(Role.admin)
    @blp.response(204)
    @blp.alt_response(404, response="NOT_FOUND")
    def delete(self, dataset_id, snapshot_id):
        """Delete a snapshot and let go of the object versions only it kept"""
        state, tenant = edna(), caller().tenant
        state.datasets.get(tenant, dataset_id)
        state.snapshots.delete(tenant, dataset_id, snapshot_id)


@blp.route("/<snapshot_id>/items")
class SnapshotItems(MethodView):
    @blp.requires(Role.viewer)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, page_schema(SnapshotItemSchema, "SnapshotItemPage"))
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, args, dataset_id, snapshot_id):
        """The snapshot's items in id order, as they were when it was taken"""
        state, tenant = edna(), caller().tenant
        snapshot = snapshot_of(dataset_id, snapshot_id)
        rows, last = state.snapshots.page(tenant, snapshot, args["limit"], position(args))
        return page([{**row, "download_url": state.snapshots.url(tenant, snapshot, row)} for row in rows], last)


@blp.route("/<snapshot_id>/items/<item_id>/download")
class SnapshotItemDownload(MethodView):
    @blp.requires(Role.viewer)
    @blp.response(302)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(410, response="GONE")
    def get(self, dataset_id, snapshot_id, item_id):
        """Redirect to a signed GET of the exact object version the snapshot kept"""
        snapshot = snapshot_of(dataset_id, snapshot_id)
        return redirect(edna().snapshots.download_url(caller().tenant, snapshot, item_id), code=302)


@blp.route("/<snapshot_id>/export")
class SnapshotExport(MethodView):
    @blp.requires(Role.viewer)
    @blp.arguments(ExportArgs, location="query")
    @blp.response(200, content_type="application/octet-stream")
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, args, dataset_id, snapshot_id):
        """The dataset export's formats at the snapshot: its labels and boxes, URLs of its exact bytes"""
        state, tenant = edna(), caller().tenant
        dataset = state.datasets.get(tenant, dataset_id)
        snapshot = state.snapshots.get(tenant, dataset_id, snapshot_id)
        fmt = args["format"]
        extension = "json" if fmt == "coco" else fmt
        return Response(
            stream_with_context(state.snapshots.export(tenant, dataset, snapshot, fmt)),
            mimetype=FORMATS[fmt],
            headers={"Content-Disposition": f'attachment; filename="{dataset.id}-{snapshot["id"]}.{extension}"'},
        )


@blp.route("/<snapshot_id>/diff")
class SnapshotDiff(MethodView):
    @blp.requires(Role.viewer)
    @blp.arguments(DiffArgs, location="query")
    @blp.response(200, DiffSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, args, dataset_id, snapshot_id):
        """What `against` (another snapshot, or `current`) changed from this snapshot, a page of item ids at a time"""
        state, tenant = edna(), caller().tenant
        snapshot = snapshot_of(dataset_id, snapshot_id)
        body, last = state.snapshot_diff.page(tenant, snapshot, args["against"], args["limit"], position(args))
        return {**body, "next_cursor": cursor.encode(last) if last else None}
