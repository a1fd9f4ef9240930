"""Labels, tags and annotations of items (labelers and up)."""

from flask import request
from flask.views import MethodView

from service.domain import labels
from service.resources.common import ApiBlueprint, caller, edna
from service.resources.items.schemas import ItemSchema
from service.resources.labels.schemas import (
    AnnotationsSchema,
    AnnotationsWriteSchema,
    BulkLabelsSchema,
    BulkResultsSchema,
    LabelSchema,
    TagsSchema,
)
from service.vocabulary.errors import BadRequest
from service.vocabulary.roles import Role

blp = ApiBlueprint("labels", __name__, url_prefix="/api/datasets/<dataset_id>", description="Labels and annotations")


@blp.route("/items/<item_id>/label")
class Label(MethodView):
    @blp.requires(Role.labeler)
    @blp.arguments(LabelSchema)
    @blp.response(200, ItemSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def put(self, body, dataset_id, item_id):
        """Set or clear an item's label (one of the dataset's classes when it has them)"""
        state, tenant = edna(), caller().tenant
        dataset = state.datasets.get(tenant, dataset_id)
        source = labels.person(caller().user)
        return state.items.describe(state.labels.set_label(tenant, dataset, item_id, body["label"], source))


@blp.route("/items/<item_id>/tags")
class Tags(MethodView):
    @blp.requires(Role.labeler)
    @blp.arguments(TagsSchema)
    @blp.response(200, ItemSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def put(self, body, dataset_id, item_id):
        """Replace an item's tags (S3's limits: 10 with the label, key <= 128, value <= 256)"""
        state = edna()
        return state.items.describe(state.labels.set_tags(caller().tenant, dataset_id, item_id, body["tags"]))


@blp.route("/labels")
class BulkLabels(MethodView):
    @blp.requires(Role.labeler)
    @blp.arguments(BulkLabelsSchema)
    @blp.response(200, BulkResultsSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def post(self, body, dataset_id):
        """Label many items at once; each entry reports its own status"""
        state, tenant = edna(), caller().tenant
        dataset = state.datasets.get(tenant, dataset_id)
        entries = [(e["item_id"], e["label"]) for e in body["labels"]]
        return {"results": state.labels.set_labels(tenant, dataset, entries, labels.person(caller().user))}


def _version(body: dict) -> int:
    """The version a write is based on: the body's `version`, or the If-Match header."""
    if "version" in body:
        return body["version"]
    match = request.headers.get("If-Match", "").strip().strip('"')
    if not match.isdigit():
        raise BadRequest("say which version you edited: 'version' in the body or an If-Match header")
    return int(match)


@blp.route("/items/<item_id>/annotations")
class ItemAnnotations(MethodView):
    @blp.requires(Role.viewer)
    @blp.response(200, AnnotationsSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, dataset_id, item_id):
        """An item's bounding boxes and their version"""
        document = edna().annotations.get(caller().tenant, dataset_id, item_id)
        return document, 200, {"ETag": f'"{document["version"]}"'}

    @blp.requires(Role.labeler)
    @blp.arguments(AnnotationsWriteSchema)
    @blp.response(200, AnnotationsSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def put(self, body, dataset_id, item_id):
        """Replace an item's boxes; a write based on a stale version is refused (409)"""
        state, principal = edna(), caller()
        dataset = state.datasets.get(principal.tenant, dataset_id)
        document = state.annotations.put(principal, dataset, item_id, body["boxes"], _version(body))
        return document, 200, {"ETag": f'"{document["version"]}"'}
