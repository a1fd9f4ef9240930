"""Similar items, "find similar" for an uploaded image, near-duplicate passes and the dataset map."""

from dataclasses import replace

from flask.views import MethodView

from service.domain import cursor
from service.resources.common import ApiBlueprint, caller, edna
from service.resources.search.routes import query_from
from service.resources.similar.schemas import (
    DuplicatesPageSchema,
    DuplicatesRequestSchema,
    DuplicatesRunSchema,
    EmbeddingSetsSchema,
    MapArgs,
    MapPageSchema,
    PageArgs,
    QueryRequestSchema,
    QueryResultSchema,
    QueryTicketSchema,
    SimilarArgs,
    SimilarItemsSchema,
)
from service.vocabulary.errors import BadRequest
from service.vocabulary.roles import Role

blp = ApiBlueprint("similar", __name__, url_prefix="/api", description="Similarity search")


def offset_of(args: dict) -> int:
    """The offset a page cursor of an offset-paged list points at."""
    after = cursor.decode(args["cursor"])
    if after is None:
        return 0
    if not after.isdigit():
        raise BadRequest("cursor is malformed; pass next_cursor from the previous page")
    return int(after)


def next_cursor(following: int | None) -> str | None:
    return cursor.encode(str(following)) if following is not None else None


def similar_items(rows) -> list[dict]:
    state = edna()
    return [{**state.items.describe(r), "item_id": r.item_id, "similarity": round(s, 6)} for r, s in rows]


@blp.route("/datasets/<dataset_id>/embeddings")
class Embeddings(MethodView):
    @blp.requires(Role.viewer)
    @blp.response(200, EmbeddingSetsSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, dataset_id):
        """The models whose embeddings of the dataset can be searched (latest job of each)"""
        state, tenant = edna(), caller().tenant
        state.datasets.get(tenant, dataset_id)
        sets = sorted(state.vectors.sets(tenant, dataset_id).values(), key=lambda s: -s.finished_at)
        return {
            "items": [
                {
                    "model_id": s.model_id,
                    "model_name": state.models.name_of(tenant, s.model_id),
                    "job_id": s.job_id,
                    "count": s.count,
                    "dims": s.dims,
                }
                for s in sets
            ]
        }


@blp.route("/datasets/<dataset_id>/items/<item_id>/similar")
class SimilarToItem(MethodView):
    @blp.requires(Role.viewer)
    @blp.arguments(SimilarArgs, location="query")
    @blp.response(200, SimilarItemsSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def get(self, args, dataset_id, item_id):
        """The items most like this one by a model's embeddings, most similar first (listing filters apply)"""
        state, tenant = edna(), caller().tenant
        state.datasets.get(tenant, dataset_id)
        state.items.get(tenant, dataset_id, item_id)
        filters = {**args, "model": args.get("predictions_of")}
        query = query_from(filters, dataset_id)
        if query.model_id is None and (query.predicted or query.disagrees or query.min_score or query.max_score):
            raise BadRequest("predicted, disagrees, min_score and max_score need predictions_of=")
        chosen, rows, missing = state.similarity.to_item(
            tenant, dataset_id, item_id, args.get("model"), args["k"], replace(query, sort="id")
        )
        body = {"model_id": chosen.model_id, "job_id": chosen.job_id, "items": similar_items(rows)}
        return {**body, "missing": missing} if missing else body


@blp.route("/similar")
class Queries(MethodView):
    @blp.requires(Role.viewer)
    @blp.arguments(QueryRequestSchema)
    @blp.response(201, QueryTicketSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    @blp.alt_response(413, response="REQUEST_ENTITY_TOO_LARGE")
    def post(self, body):
        """Find items like an image of yours: upload it to the signed URL, then read the query"""
        query, upload = edna().queries.create(caller(), body)
        return {"id": query.id, "upload": upload}


@blp.route("/similar/<query_id>")
class Query(MethodView):
    @blp.requires(Role.viewer)
    @blp.response(200, QueryResultSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, query_id):
        """The query's state, and its similar items once the image is embedded"""
        state, tenant = edna(), caller().tenant
        query = state.queries.get(tenant, query_id)
        status, rows, error = state.queries.result(tenant, query)
        body = {"id": query.id, "model_id": query.model_id, "dataset_id": query.dataset_id, "status": status}
        if error:
            body["error"] = error
        # Named "items" like every list, it must be present: a dict's own .items would be dumped otherwise.
        return {**body, "items": similar_items(rows)}


@blp.route("/datasets/<dataset_id>/duplicates")
class DuplicatePasses(MethodView):
    @blp.requires(Role.editor)
    @blp.arguments(DuplicatesRequestSchema)
    @blp.response(202, DuplicatesRunSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, body, dataset_id):
        """Start a pass that groups the dataset's near-duplicates (cosine similarity >= threshold)"""
        state, principal = edna(), caller()
        state.datasets.get(principal.tenant, dataset_id)
        return state.duplicates.start(principal, dataset_id, body.get("model_id"), body["threshold"])


@blp.route("/datasets/<dataset_id>/duplicates/<run_id>")
class DuplicatePass(MethodView):
    @blp.requires(Role.viewer)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, DuplicatesPageSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, args, dataset_id, run_id):
        """A pass's status and progress, and a page of its groups once it has finished (largest first)"""
        state, tenant = edna(), caller().tenant
        state.datasets.get(tenant, dataset_id)
        run = state.duplicates.get(tenant, dataset_id, run_id)
        groups, following = state.duplicates.groups(tenant, run, offset_of(args), args["limit"])
        return {**run, "groups": groups, "next_cursor": next_cursor(following)}


@blp.route("/datasets/<dataset_id>/map")
class DatasetMap(MethodView):
    @blp.requires(Role.viewer)
    @blp.arguments(MapArgs, location="query")
    @blp.response(200, MapPageSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def get(self, args, dataset_id):
        """The dataset's embeddings laid out in 2-D (x, y in 0..1) with labels and predictions, a page at a time"""
        state, tenant = edna(), caller().tenant
        state.datasets.get(tenant, dataset_id)
        chosen, rows, following = state.maps.page(tenant, dataset_id, args.get("model"), offset_of(args), args["limit"])
        return {
            "model_id": chosen.model_id,
            "job_id": chosen.job_id,
            "total": chosen.count,
            "items": rows,
            "next_cursor": next_cursor(following),
        }
