"""GET /api/search (and /count): full text and filters across the tenant's datasets."""

from dataclasses import replace

import marshmallow as ma
from flask.views import MethodView

from service.adapters.searchindex import ItemQuery
from service.domain import cursor
from service.resources.common import ApiBlueprint, caller, edna, item_page, page_schema
from service.resources.items.schemas import ItemCountSchema, ItemFilters, ItemListArgs, ItemSchema
from service.vocabulary import names
from service.vocabulary.roles import Role

blp = ApiBlueprint("search", __name__, url_prefix="/api/search", description="Search")


class SearchArgs(ItemListArgs):
    dataset = ma.fields.Str(validate=ma.validate.Length(1, 64))
    limit = ma.fields.Int(load_default=cursor.DEFAULT_LIMIT, validate=ma.validate.Range(1, cursor.MAX_LIMIT))


class SearchFilters(ItemFilters):
    dataset = ma.fields.Str(validate=ma.validate.Length(1, 64))


def query_from(args: dict, dataset_id: str | None) -> ItemQuery:
    """The index query of a listing or search request's filters."""
    content_type = args.get("content_type")
    return ItemQuery(
        dataset_id=dataset_id,
        label=args.get("label"),
        unlabeled=args.get("unlabeled", False),
        status=args.get("status"),
        content_type=names.content_type(content_type) if content_type else None,
        q=args.get("q"),
        model_id=args.get("model"),
        predicted=args.get("predicted"),
        disagrees=args.get("disagrees", False),
        min_score=args.get("min_score"),
        max_score=args.get("max_score"),
        sort=args.get("sort", "id"),
    )


@blp.route("")
class Search(MethodView):
    @blp.requires(Role.viewer)
    @blp.arguments(SearchArgs, location="query")
    @blp.response(200, page_schema(ItemSchema, "SearchPage"))
    def get(self, args):
        """Find items by words and filters across your datasets"""
        state, tenant = edna(), caller().tenant
        query = replace(query_from(args, args.get("dataset")), hidden=state.deletions.hidden(tenant))
        records, last = state.items.list(tenant, query, args["limit"], cursor.decode(args["cursor"]))
        return item_page([state.items.describe(r) for r in records], last)


@blp.route("/count")
class SearchCount(MethodView):
    @blp.requires(Role.viewer)
    @blp.arguments(SearchFilters, location="query")
    @blp.response(200, ItemCountSchema)
    def get(self, args):
        """How many items across your datasets match these words and filters, exactly"""
        state, tenant = edna(), caller().tenant
        query = replace(query_from(args, args.get("dataset")), hidden=state.deletions.hidden(tenant))
        return {"count": state.items.count(tenant, query)}
