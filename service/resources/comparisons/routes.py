"""Comparisons: several models on one dataset, one leaderboard."""

import marshmallow as ma
from flask.views import MethodView

from service.domain import cursor
from service.domain.comparisons import MAX_MODELS
from service.resources.common import ApiBlueprint, PageArgs, caller, edna, page, page_schema
from service.vocabulary.roles import Role

blp = ApiBlueprint("comparisons", __name__, url_prefix="/api/comparisons", description="Model comparisons")


class ComparisonStartSchema(ma.Schema):
    dataset_id = ma.fields.Str(required=True, validate=ma.validate.Length(1, 64))
    model_ids = ma.fields.List(
        ma.fields.Str(validate=ma.validate.Length(1, 64)), required=True, validate=ma.validate.Length(2, MAX_MODELS)
    )
    batch_size = ma.fields.Int(load_default=64, strict=True, validate=ma.validate.Range(1, 4096))
    shards = ma.fields.Int(load_default=1, strict=True, validate=ma.validate.Range(1, 64))


class ComparisonSchema(ma.Schema):
    id = ma.fields.Str()
    dataset_id = ma.fields.Str()
    model_ids = ma.fields.List(ma.fields.Str())
    job_ids = ma.fields.List(ma.fields.Str())
    created_by = ma.fields.Str()
    created_at = ma.fields.Str()
    status = ma.fields.Str()
    progress = ma.fields.Dict()
    jobs = ma.fields.List(ma.fields.Dict())
    leaderboard = ma.fields.List(ma.fields.Dict(), metadata={"description": "best accuracy first"})
    confusion = ma.fields.Dict(metadata={"description": "per model: class_names and matrix [truth][predicted]"})
    disagreement_count = ma.fields.Int()
    disagreements = ma.fields.List(ma.fields.Dict(), metadata={"description": "items the models label differently"})


@blp.route("")
class Comparisons(MethodView):
    @blp.requires(Role.viewer)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, page_schema(ComparisonSchema, "ComparisonPage"))
    def get(self, args):
        """List the tenant's comparisons"""
        service, tenant = edna().comparisons, caller().tenant
        found, last = service.list(tenant, args["limit"], cursor.decode(args["cursor"]))
        return page([service.view(tenant, c) for c in found], last)

    @blp.requires(Role.editor)
    @blp.arguments(ComparisonStartSchema)
    @blp.response(202, ComparisonSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, body):
        """Start one job per model on the same dataset"""
        service = edna().comparisons
        comparison = service.start(
            caller(), body["dataset_id"], body["model_ids"], batch_size=body["batch_size"], shards=body["shards"]
        )
        return service.view(caller().tenant, comparison)


@blp.route("/<comparison_id>")
class ComparisonById(MethodView):
    @blp.requires(Role.viewer)
    @blp.response(200, ComparisonSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, comparison_id):
        """Leaderboard, confusion matrices and disagreements (once every job is done)"""
        service, tenant = edna().comparisons, caller().tenant
        return service.view(tenant, service.get(tenant, comparison_id))
