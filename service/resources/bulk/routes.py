"""Deleting and tagging many items in one request (each entry answers for itself; each request is audited)."""

import marshmallow as ma
from flask.views import MethodView

from service.domain.labels import MAX_BULK
from service.resources.common import ApiBlueprint, caller, edna
from service.resources.labels.schemas import TagsSchema
from service.vocabulary.errors import BadRequest, Conflict, DomainError, NotFound
from service.vocabulary.roles import Role

blp = ApiBlueprint("bulk", __name__, url_prefix="/api/datasets/<dataset_id>/bulk", description="Bulk changes")

ITEM_IDS = ma.fields.List(
    ma.fields.Str(validate=ma.validate.Length(1, 64)), required=True, validate=ma.validate.Length(1, MAX_BULK)
)


class BulkDeleteSchema(ma.Schema):
    item_ids = ITEM_IDS


class BulkTagsSchema(TagsSchema):
    item_ids = ITEM_IDS


class BulkEntryResultSchema(ma.Schema):
    item_id = ma.fields.Str()
    status = ma.fields.Int(metadata={"description": "200 (204 for a delete), or the error status of this entry"})
    error = ma.fields.Str()


class BulkEntryResultsSchema(ma.Schema):
    results = ma.fields.List(ma.fields.Nested(BulkEntryResultSchema))


def each(item_ids: list[str], act, done: int) -> dict:
    """Run `act(item_id)` on every distinct id: an entry's own failure is its result, storage trouble the request's."""
    results = []
    for item_id in dict.fromkeys(item_ids):
        try:
            act(item_id)
        except (BadRequest, NotFound, Conflict) as exc:
            results.append({"item_id": item_id, "status": exc.status, "error": exc.message})
        except DomainError:
            raise
        else:
            results.append({"item_id": item_id, "status": done})
    return {"results": results}


@blp.route("/delete")
class BulkDelete(MethodView):
    @blp.requires(Role.editor)
    @blp.arguments(BulkDeleteSchema)
    @blp.response(200, BulkEntryResultsSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def post(self, body, dataset_id):
        """Delete many items (the extras of a near-duplicate group, a map selection)"""
        state, tenant = edna(), caller().tenant
        state.datasets.get(tenant, dataset_id)
        return each(body["item_ids"], lambda i: state.items.delete(tenant, dataset_id, i), 204)


@blp.route("/tags")
class BulkTags(MethodView):
    @blp.requires(Role.labeler)
    @blp.arguments(BulkTagsSchema)
    @blp.response(200, BulkEntryResultsSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def post(self, body, dataset_id):
        """Add (or change) tags on many items; their other tags stay"""
        state, tenant = edna(), caller().tenant
        state.datasets.get(tenant, dataset_id)

        def tag(item_id: str) -> None:
            record = state.items.get(tenant, dataset_id, item_id)
            state.labels.set_tags(tenant, dataset_id, item_id, {**record.tags, **body["tags"]})

        return each(body["item_ids"], tag, 200)
