"""Applications (service accounts) of the caller's tenant: list, create, revoke (admins only)."""

from flask.views import MethodView
from flask_smorest import abort

from service.adapters.identity.applications import Application, ApplicationDirectory
from service.domain import cursor
from service.resources.common import ApiBlueprint, PageArgs, caller, edna, page, page_schema
from service.resources.service_accounts.schemas import (
    ApplicationCreatedSchema,
    ApplicationCreateSchema,
    ApplicationSchema,
)
from service.vocabulary.roles import Role

blp = ApiBlueprint(
    "service_accounts", __name__, url_prefix="/api/service-accounts", description="Applications (service accounts)"
)


def directory() -> ApplicationDirectory:
    applications = edna().adapters.applications
    if applications is None:
        abort(404, message="applications are registered at the identity provider, not in Edna")
    return applications


def view(app: Application, last_used: float | None = None) -> dict:
    return {**app.public(), "last_used_at": last_used}


@blp.route("")
class Applications(MethodView):
    @blp.requires(Role.admin)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, page_schema(ApplicationSchema, "ApplicationPage"))
    def get(self, args):
        """List your tenant's applications, with when each was last used"""
        limit = args["limit"]
        found = directory().list(caller().tenant, limit + 1, cursor.decode(args["cursor"]))
        more = len(found) > limit
        found = found[:limit]
        return page([view(app, used) for app, used in found], found[-1][0].id if more else None)

    @blp.requires(Role.admin)
    @blp.arguments(ApplicationCreateSchema)
    @blp.response(201, ApplicationCreatedSchema)
    @blp.alt_response(404, response="NOT_FOUND", description="a dataset in dataset_ids is not found")
    def post(self, body):
        """Create an application: its client secret is shown in this answer only

        It signs in with `POST /api/auth/service-token` (local identity) or the identity provider's
        client-credentials grant at `token_url` (Cognito), and acts with its role in your tenant,
        limited to `dataset_ids` when given."""
        principal = caller()
        dataset_ids = body["dataset_ids"]
        for dataset_id in dataset_ids or ():
            edna().datasets.get(principal.tenant, dataset_id)  # 404 for another tenant's or a missing one
        expires = body["expires_at"].timestamp() if body["expires_at"] else None
        app, secret = directory().create(
            principal.tenant, principal.user, body["name"], body["role"], dataset_ids, expires
        )
        return {**view(app), "client_secret": secret, "token_url": edna().config.service_token_url}


@blp.route("/<account_id>")
class ApplicationById(MethodView):
    @blp.requires(Role.admin)
    @blp.response(204)
    @blp.alt_response(404, response="NOT_FOUND")
    def delete(self, account_id):
        """Revoke an application at once: its tokens stop working and its secret signs in no more"""
        directory().revoke(caller().tenant, account_id)
