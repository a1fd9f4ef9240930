"""Webhooks of the caller's tenant: register, read, change, remove; deliveries and redelivery (admins only)."""

from flask.views import MethodView

from service.domain import cursor
from service.resources.common import ApiBlueprint, PageArgs, caller, edna, page, page_schema
from service.resources.webhooks.schemas import (
    DeliverySchema,
    WebhookChangeSchema,
    WebhookCreatedSchema,
    WebhookCreateSchema,
    WebhookSchema,
)
from service.vocabulary.roles import Role

blp = ApiBlueprint("webhooks", __name__, url_prefix="/api/webhooks", description="Webhooks of your tenant")


@blp.route("")
class Webhooks(MethodView):
    @blp.requires(Role.admin)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, page_schema(WebhookSchema, "WebhookPage"))
    def get(self, args):
        """List your tenant's webhooks"""
        hooks, last = edna().webhooks.list(caller().tenant, args["limit"], cursor.decode(args["cursor"]))
        return page([h.view() for h in hooks], last)

    @blp.requires(Role.admin)
    @blp.arguments(WebhookCreateSchema)
    @blp.response(201, WebhookCreatedSchema)
    def post(self, body):
        """Register an endpoint for events; the answer shows its signing secret, once"""
        hook, secret = edna().webhooks.create(caller(), body["url"], body["events"], body["description"])
        return {**hook.view(), "secret": secret}


@blp.route("/<webhook_id>")
class WebhookById(MethodView):
    @blp.requires(Role.admin)
    @blp.response(200, WebhookSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, webhook_id):
        """Read a webhook (never its secret)"""
        return edna().webhooks.get(caller().tenant, webhook_id).view()

    @blp.requires(Role.admin)
    @blp.arguments(WebhookChangeSchema)
    @blp.response(200, WebhookSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def patch(self, body, webhook_id):
        """Change a webhook's URL, events, description or whether it is active"""
        return edna().webhooks.update(caller().tenant, webhook_id, body).view()

    @blp.requires(Role.admin)
    @blp.response(204)
    @blp.alt_response(404, response="NOT_FOUND")
    def delete(self, webhook_id):
        """Remove a webhook and its delivery log"""
        edna().webhooks.delete(caller().tenant, webhook_id)


@blp.route("/<webhook_id>/deliveries")
class Deliveries(MethodView):
    @blp.requires(Role.admin)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, page_schema(DeliverySchema, "DeliveryPage"))
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, args, webhook_id):
        """A webhook's deliveries, newest first"""
        tenant, after = caller().tenant, cursor.decode(args["cursor"])
        deliveries, last = edna().webhooks.deliveries(tenant, webhook_id, args["limit"], after)
        return page([d.view() for d in deliveries], last)


@blp.route("/<webhook_id>/deliveries/<delivery_id>/redeliver")
class Redeliver(MethodView):
    @blp.requires(Role.admin)
    @blp.response(202, DeliverySchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def post(self, webhook_id, delivery_id):
        """Send a delivery's event again, as a new series of attempts"""
        return edna().notifier.redeliver(caller().tenant, webhook_id, delivery_id).view()
