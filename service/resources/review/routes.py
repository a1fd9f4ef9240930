"""Models in the labelling loop: accept predictions as labels, review likely mistakes."""

from dataclasses import replace

from flask.views import MethodView

from service.domain import cursor
from service.resources.common import ApiBlueprint, caller, edna, page, page_schema
from service.resources.review.schemas import AcceptResultSchema, AcceptSchema, MistakeArgs, MistakeSchema
from service.resources.search.routes import query_from
from service.vocabulary.errors import BadRequest
from service.vocabulary.roles import Role

blp = ApiBlueprint("review", __name__, url_prefix="/api/datasets/<dataset_id>", description="Predictions and review")


@blp.route("/predictions/accept")
class Accept(MethodView):
    @blp.requires(Role.labeler)
    @blp.arguments(AcceptSchema)
    @blp.response(200, AcceptResultSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def post(self, body, dataset_id):
        """Label items with a model's prediction: named items, or every item the query matches
        (unlabelled ones unless overwrite; dry_run counts them first)"""
        state, tenant = edna(), caller().tenant
        dataset = state.datasets.get(tenant, dataset_id)
        filters = body["query"]
        if "model" in filters:
            raise BadRequest("name the model with model_id, not in the query")
        query = replace(query_from(filters, dataset_id), min_score=body.get("min_score", filters.get("min_score")))
        return state.preannotator.accept(
            tenant, dataset, body["model_id"], query, body.get("item_ids"), body["overwrite"], body["dry_run"]
        )


@blp.route("/mistakes")
class Mistakes(MethodView):
    @blp.requires(Role.viewer)
    @blp.arguments(MistakeArgs, location="query")
    @blp.response(200, page_schema(MistakeSchema, "MistakePage"))
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, args, dataset_id):
        """Labelled items whose label is likely wrong, likeliest first (dismissed ones left out)"""
        state, tenant = edna(), caller().tenant
        state.datasets.get(tenant, dataset_id)
        after = cursor.decode(args["cursor"])
        rows, last = state.mistakes.page(tenant, dataset_id, args.get("model"), args["limit"], after)
        return page(
            [
                {
                    "item_id": record.item_id,
                    "label": record.label,
                    "suggested": suggested,
                    "rank_score": score,
                    "item": state.items.describe(record),
                }
                for record, score, suggested in rows
            ],
            last,
        )


@blp.route("/mistakes/<item_id>/dismiss")
class Dismiss(MethodView):
    @blp.requires(Role.labeler)
    @blp.response(204)
    @blp.alt_response(404, response="NOT_FOUND")
    def post(self, dataset_id, item_id):
        """Take an item off the likely-mistakes list (its label was right)"""
        state, tenant = edna(), caller().tenant
        state.datasets.get(tenant, dataset_id)
        state.mistakes.dismiss(caller(), dataset_id, state.items.get(tenant, dataset_id, item_id))
