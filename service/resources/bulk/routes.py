"""Many items at once: deleting and tagging listed items (each entry answers for itself), and changing
every item a query matches, counted first and run off the request path. Each request is audited."""

import marshmallow as ma
from flask.views import MethodView

from service.domain.bulk_runs import ACTIONS, DELETE, LABEL
from service.domain.labels import MAX_BULK
from service.resources.common import ApiBlueprint, caller, edna
from service.resources.items.schemas import ItemFilters
from service.resources.labels.schemas import TagsSchema
from service.resources.search.routes import query_from
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


class BulkQuerySchema(ma.Schema):
    query = ma.fields.Nested(ItemFilters, load_default=dict, metadata={"description": "the listing's filters"})
    action = ma.fields.Str(required=True, validate=ma.validate.OneOf(ACTIONS))
    label = ma.fields.Str(allow_none=True, metadata={"description": "action label: the class, or null to unlabel"})
    tags = ma.fields.Dict(
        keys=ma.fields.Str(), values=ma.fields.Str(), metadata={"description": "action tags: added or changed"}
    )
    dry_run = ma.fields.Bool(load_default=False, metadata={"description": "only count the matches"})
    expected = ma.fields.Int(
        validate=ma.validate.Range(min=0), metadata={"description": "the count confirmed: 409 if the matches differ"}
    )


class BulkRunSchema(ma.Schema):
    id = ma.fields.Str()
    dataset_id = ma.fields.Str()
    action = ma.fields.Str()
    label = ma.fields.Str(allow_none=True)
    tags = ma.fields.Dict(keys=ma.fields.Str(), values=ma.fields.Str())
    status = ma.fields.Str(metadata={"description": "queued, running, succeeded or failed"})
    matched = ma.fields.Int(metadata={"description": "items the query matched when the run was accepted"})
    progress = ma.fields.Dict(keys=ma.fields.Str(), values=ma.fields.Int(), metadata={"description": "done, total"})
    failed = ma.fields.Int(metadata={"description": "items that could not be changed"})
    errors = ma.fields.List(ma.fields.Nested(BulkEntryResultSchema), metadata={"description": "the first failures"})
    error = ma.fields.Str(metadata={"description": "why the run failed"})
    created_by = ma.fields.Str()
    created_at = ma.fields.Str()
    finished_at = ma.fields.Str()


class BulkCountSchema(ma.Schema):
    matched = ma.fields.Int()


@blp.route("/query")
class BulkQuery(MethodView):
    @blp.requires(Role.labeler)
    @blp.arguments(BulkQuerySchema)
    @blp.response(202, BulkRunSchema)
    @blp.alt_response(200, schema=BulkCountSchema, description="dry_run: how many items match")
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, body, dataset_id):
        """Label, tag or delete every item the filters match (delete: editor); dry_run counts them first"""
        state, principal = edna(), caller()
        if body["action"] == DELETE:
            principal.require(Role.editor)
        if body["action"] == LABEL and "label" not in body:
            raise BadRequest('action label needs "label": a class, or null to remove the labels')
        dataset = state.datasets.get(principal.tenant, dataset_id)
        query = query_from(body["query"], dataset_id)
        if body["dry_run"]:
            return {"matched": state.bulk.matching(principal.tenant, query)}, 200
        change = {k: body[k] for k in ("action", "label", "tags") if k in body}
        return state.bulk.start(principal, dataset, query, change, body.get("expected"))


@blp.route("/query/<run_id>")
class BulkQueryRun(MethodView):
    @blp.requires(Role.viewer)
    @blp.response(200, BulkRunSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, dataset_id, run_id):
        """A bulk run: status, progress and the first failures"""
        state, tenant = edna(), caller().tenant
        state.datasets.get(tenant, dataset_id)
        return state.bulk.get(tenant, dataset_id, run_id)
