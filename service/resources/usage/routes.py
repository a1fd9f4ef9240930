"""A tenant's usage for billing and planning (admins only)."""

from flask.views import MethodView

from service.domain.usage import period
from service.resources.common import ApiBlueprint, caller, edna
from service.resources.usage.schemas import PeriodArgs, UsageSchema
from service.vocabulary.roles import Role

blp = ApiBlueprint("usage", __name__, url_prefix="/api/usage", description="Usage of your tenant")


def as_view(report: dict) -> dict:
    """The report with the names the schema dumps from (from/to and 2xx... are keywords or not identifiers)."""
    requests = report["requests"]
    return {
        **report,
        "start": report["from"],
        "end": report["to"],
        "requests": {
            "total": requests["total"],
            "ok": requests["2xx"],
            "redirected": requests["3xx"],
            "refused": requests["4xx"],
            "failed": requests["5xx"],
        },
    }


@blp.route("")
class Usage(MethodView):
    @blp.requires(Role.admin)
    @blp.arguments(PeriodArgs, location="query")
    @blp.response(200, UsageSchema)
    def get(self, args):
        """Requests, uploads, stored items and bytes, and inference of your tenant over a period"""
        start, end = period(args.get("start"), args.get("end"))
        return as_view(edna().usage.report(caller().tenant, start, end))
