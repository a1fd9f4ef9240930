"""Inference jobs: start, list, read with progress and metrics, page predictions, cancel."""

from flask.views import MethodView

from service.domain import cursor
from service.resources.common import ApiBlueprint, PageArgs, caller, edna, page, page_schema
from service.resources.jobs.schemas import JobSchema, JobStartSchema, PredictionArgs, PredictionSchema
from service.vocabulary.roles import Role

blp = ApiBlueprint("jobs", __name__, url_prefix="/api/jobs", description="Inference jobs")


@blp.route("")
class Jobs(MethodView):
    @blp.requires(Role.viewer)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, page_schema(JobSchema, "JobPage"))
    def get(self, args):
        """List the tenant's jobs with their status"""
        service = edna().jobs
        jobs, last = service.list(caller().tenant, args["limit"], cursor.decode(args["cursor"]))
        return page([service.view(j) for j in jobs], last)

    @blp.requires(Role.editor)
    @blp.arguments(JobStartSchema)
    @blp.response(202, JobSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, body):
        """Run a model over a dataset (streamed, resumable)"""
        jobs = edna().jobs
        return jobs.view(jobs.start(caller(), **body))


@blp.route("/<job_id>")
class JobById(MethodView):
    @blp.requires(Role.viewer)
    @blp.response(200, JobSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, job_id):
        """A job's status, progress, metrics or error"""
        service = edna().jobs
        return service.view(service.get(caller().tenant, job_id))


@blp.route("/<job_id>/predictions")
class Predictions(MethodView):
    @blp.requires(Role.viewer)
    @blp.arguments(PredictionArgs, location="query")
    @blp.response(200, page_schema(PredictionSchema, "PredictionPage"))
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, args, job_id):
        """A page of the job's predictions (errors=true: only the items that failed, with the reason)"""
        after = cursor.decode(args["cursor"])
        rows, last = edna().jobs.predictions(caller().tenant, job_id, after, args["limit"], args["errors"])
        return page(rows, last)


@blp.route("/<job_id>/cancel")
class Cancel(MethodView):
    @blp.requires(Role.editor)
    @blp.response(202, JobSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, job_id):
        """Stop a queued or running job"""
        service = edna().jobs
        return service.view(service.cancel(caller().tenant, job_id))
