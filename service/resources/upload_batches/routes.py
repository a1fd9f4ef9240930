"""Upload batches: request many uploads, complete many, each entry answered on its own. The request
counts once against the request quota; every entry counts against the item and byte quotas."""

from flask.views import MethodView

from service.domain.upload_batches import UploadEntry
from service.resources.common import ApiBlueprint, caller, edna
from service.resources.items.routes import meter_upload
from service.resources.upload_batches.schemas import (
    CompleteBatchSchema,
    CompleteResultsSchema,
    UploadBatchSchema,
    UploadResultsSchema,
)
from service.vocabulary.roles import Role

blp = ApiBlueprint(
    "upload_batches", __name__, url_prefix="/api/datasets/<dataset_id>/items", description="Upload batches"
)


@blp.route("/bulk")
class UploadBatch(MethodView):
    @blp.requires(Role.editor)
    @blp.arguments(UploadBatchSchema)
    @blp.response(200, UploadResultsSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def post(self, body, dataset_id):
        """Request many uploads: per entry a pending item and its pre-signed URL, or why not"""
        state, principal = edna(), caller()
        dataset = state.datasets.get(principal.tenant, dataset_id)
        entries = [
            UploadEntry(e["filename"], e["content_type"], e["size"], e["method"], e["sha256"]) for e in body["items"]
        ]
        results = []
        for n, result in enumerate(state.uploads.request(principal, dataset, entries)):
            if result.record is None:
                results.append({"index": n, "status": result.status, "error": result.error})
            else:
                item = state.items.describe(result.record)
                results.append({"index": n, "status": result.status, "item": item, "upload": result.upload})
        return {"results": results}


@blp.route("/complete")
class CompleteBatch(MethodView):
    @blp.requires(Role.editor)
    @blp.arguments(CompleteBatchSchema)
    @blp.response(200, CompleteResultsSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def post(self, body, dataset_id):
        """Confirm many single-transfer uploads: per item the available item, or why not"""
        state, tenant = edna(), caller().tenant
        state.datasets.get(tenant, dataset_id)
        results = []
        for item_id, result in state.uploads.complete(tenant, dataset_id, body["item_ids"]):
            if result.record is None:
                results.append({"item_id": item_id, "status": result.status, "error": result.error})
            else:
                meter_upload(result.record)
                results.append(
                    {"item_id": item_id, "status": result.status, "item": state.items.describe(result.record)}
                )
        return {"results": results}
