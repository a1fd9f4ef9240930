"""GET /api/search: full text and filters across the tenant's datasets."""

import marshmallow as ma
from flask.views import MethodView

from service.adapters.searchindex import ItemQuery
from service.domain import cursor
from service.resources.common import ApiBlueprint, caller, edna, page, page_schema
from service.resources.items.schemas import ItemSchema
from service.vocabulary import names
from service.vocabulary.roles import Role

blp = ApiBlueprint("search", __name__, url_prefix="/api/search", description="Search")


class SearchArgs(ma.Schema):
    q = ma.fields.Str(validate=ma.validate.Length(1, 256), metadata={"description": "words in filename, label, tags"})
    dataset = ma.fields.Str(validate=ma.validate.Length(1, 64))
    label = ma.fields.Str(validate=ma.validate.Length(1, 256))
    unlabeled = ma.fields.Bool(load_default=False)
    content_type = ma.fields.Str(validate=ma.validate.Length(1, 255))
    status = ma.fields.Str(validate=ma.validate.OneOf(["pending", "available"]))
    limit = ma.fields.Int(load_default=cursor.DEFAULT_LIMIT, validate=ma.validate.Range(1, cursor.MAX_LIMIT))
    cursor = ma.fields.Str(load_default=None)


def query_from(args: dict, dataset_id: str | None) -> ItemQuery:
    """The index query of a listing or search request's filters."""
    content_type = args.get("content_type")
    return ItemQuery(
        dataset_id=dataset_id,
        label=args.get("label"),
        unlabeled=args["unlabeled"],
        status=args.get("status"),
        content_type=names.content_type(content_type) if content_type else None,
        q=args.get("q"),
    )


@blp.route("")
class Search(MethodView):
    @blp.requires(Role.viewer)
    @blp.arguments(SearchArgs, location="query")
    @blp.response(200, page_schema(ItemSchema, "SearchPage"))
    def get(self, args):
        """Find items by words and filters across your datasets"""
        state, tenant = edna(), caller().tenant
        records, last = state.items.list(
            tenant, query_from(args, args.get("dataset")), args["limit"], cursor.decode(args["cursor"])
        )
        return page([state.items.describe(r) for r in records], last)
