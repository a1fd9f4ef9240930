"""The tenant's audit trail: every mutation, who made it and how it ended (admins only)."""

from datetime import UTC, datetime, timedelta

from flask.views import MethodView
from flask_smorest import abort

from service.domain import cursor
from service.domain.usage import check_period, parse_moment
from service.resources.audit.schemas import AuditArgs, AuditEntrySchema
from service.resources.common import ApiBlueprint, caller, edna, page, page_schema
from service.vocabulary.roles import Role

blp = ApiBlueprint("audit", __name__, url_prefix="/api/audit", description="Audit trail of your tenant")
DEFAULT_DAYS = 7


@blp.route("")
class Audit(MethodView):
    @blp.requires(Role.admin)
    @blp.arguments(AuditArgs, location="query")
    @blp.response(200, page_schema(AuditEntrySchema, "AuditPage"))
    def get(self, args):
        """Mutations in your tenant, oldest first, filtered by time, actor and action"""
        log = edna().audit
        if log is None:
            abort(404, message="the audit trail is off on this server (EDNA_METERING=false)")
        end = parse_moment(args["end"], "to") if args.get("end") else datetime.now(UTC)
        start = parse_moment(args["start"], "from") if args.get("start") else end - timedelta(days=DEFAULT_DAYS)
        check_period(start, end)
        entries, last = log.read(
            caller().tenant,
            start,
            end,
            args.get("actor"),
            args.get("action"),
            args["limit"],
            cursor.decode(args["cursor"]),
        )
        return page(entries, last)
