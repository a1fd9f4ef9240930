"""Models: register (with a signed upload of the ONNX file), complete, list, read, delete."""

from dataclasses import asdict

from flask.views import MethodView

from service.domain import cursor
from service.domain.items import check_size
from service.domain.models import Model
from service.resources.common import ApiBlueprint, PageArgs, caller, edna, page, page_schema
from service.resources.models.schemas import CompleteSchema, ModelRegisterSchema, ModelSchema, ModelTicketSchema
from service.vocabulary.roles import Role

blp = ApiBlueprint("models", __name__, url_prefix="/api/models", description="Models")


def view(model: Model) -> dict:
    return asdict(model)


@blp.route("")
class Models(MethodView):
    @blp.requires(Role.viewer)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, page_schema(ModelSchema, "ModelPage"))
    def get(self, args):
        """List the tenant's models"""
        models, last = edna().models.list(caller().tenant, args["limit"], cursor.decode(args["cursor"]))
        return page([view(m) for m in models], last)

    @blp.requires(Role.editor)
    @blp.arguments(ModelRegisterSchema)
    @blp.response(201, ModelTicketSchema)
    @blp.alt_response(413, response="REQUEST_ENTITY_TOO_LARGE")
    def post(self, body):
        """Register an ONNX classifier: its spec now, its file through the signed upload"""
        state = edna()
        check_size(state.models.limits, body["size"])  # a size refused anyway is no quota matter
        with state.quotas.admitting(caller().tenant, body["size"], fresh=True):
            model, upload = state.models.register(caller(), body)
        return {"model": view(model), "upload": upload}


@blp.route("/<model_id>")
class ModelById(MethodView):
    @blp.requires(Role.viewer)
    @blp.response(200, ModelSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, model_id):
        """Read a model"""
        return view(edna().models.get(caller().tenant, model_id))

    @blp.requires(Role.editor)
    @blp.response(204)
    @blp.alt_response(404, response="NOT_FOUND")
    def delete(self, model_id):
        """Delete a model and its file"""
        edna().models.delete(caller().tenant, model_id)


@blp.route("/<model_id>/complete")
class CompleteModel(MethodView):
    @blp.requires(Role.editor)
    @blp.arguments(CompleteSchema, required=False)  # a single PUT has no parts to send
    @blp.response(200, ModelSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
    def post(self, body, model_id):
        """Confirm the upload: the ONNX graph's input and outputs are checked against the spec"""
        parts = [(p["part_number"], p["etag"]) for p in body.get("parts") or []]
        return view(edna().models.complete(caller().tenant, model_id, parts or None))
