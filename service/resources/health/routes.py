"""GET /api/health: liveness and which adapters are wired."""

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


@blp.route("")
class Health(MethodView):
    @blp.response(200, HealthSchema)
    def get(self):
        """Service status and the adapters in use"""
        adapters = edna().adapters
        return {
            "status": "ok",
            "version": VERSION,
            "adapters": {
                "storage": adapters.blobs.name,
                "search": adapters.index.name,
                "identity": adapters.verifier.name,
                "jobs": adapters.jobs.name,
            },
        }
