"""GET /api/datasets/{d}/export: the dataset's manifest, streamed."""

import marshmallow as ma
from flask import Response, stream_with_context
from flask.views import MethodView

from service.domain.export import FORMATS
from service.resources.common import ApiBlueprint, caller, edna
from service.vocabulary.roles import Role

blp = ApiBlueprint("exports", __name__, url_prefix="/api/datasets/<dataset_id>/export", description="Exports")


class ExportArgs(ma.Schema):
    format = ma.fields.Str(load_default="jsonl", validate=ma.validate.OneOf(sorted(FORMATS)))


@blp.route("")
class Export(MethodView):
    @blp.requires(Role.viewer)
    @blp.arguments(ExportArgs, location="query")
    @blp.response(200, content_type="application/octet-stream")
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, args, dataset_id):
        """Labels, annotations and download URLs of every item: csv, jsonl or coco"""
        state, tenant = edna(), caller().tenant
        dataset = state.datasets.get(tenant, dataset_id)
        fmt = args["format"]
        extension = "json" if fmt == "coco" else fmt
        return Response(
            stream_with_context(state.exporter.stream(tenant, dataset, fmt)),
            mimetype=FORMATS[fmt],
            headers={"Content-Disposition": f'attachment; filename="{dataset.id}.{extension}"'},
        )
