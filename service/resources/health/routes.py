"""GET /api/health: liveness, which adapters are wired, and whether the search index needs a rebuild."""

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from service.resources.common import edna
from service.version import VERSION

blp = Blueprint("health", __name__, url_prefix="/api/health", description="Liveness")


class HealthSchema(ma.Schema):
    status = ma.fields.Str()
    version = ma.fields.Str()
    adapters = ma.fields.Dict(keys=ma.fields.Str(), values=ma.fields.Str())
    index = ma.fields.Dict(
        metadata={"description": "status ok; or empty / corrupt (results are missing until a rebuild) and a hint"}
    )


@blp.route("")
class Health(MethodView):
    @blp.response(200, HealthSchema)
    def get(self):
        """Service status and the adapters in use"""
        adapters = edna().adapters
        index = adapters.index.condition()
        # Still 200: the service answers and writes; only listings and search lack what storage holds.
        return {
            "status": "ok" if index["status"] == "ok" else "degraded",
            "index": index,
            "version": VERSION,
            "adapters": {
                "storage": adapters.blobs.name,
                "search": adapters.index.name,
                "identity": adapters.verifier.name,
                "jobs": adapters.jobs.name,
            },
        }
