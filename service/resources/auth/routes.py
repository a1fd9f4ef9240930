"""Sign-in with the local issuer, its JWKS, and who the caller is."""

from flask.views import MethodView
from flask_smorest import abort

from service.domain.errors import Unauthorized
from service.domain.roles import Role
from service.resources.auth.schemas import MeSchema, TokenRequestSchema, TokenSchema
from service.resources.common import ApiBlueprint, caller, edna, refuse_lone_surrogates

blp = ApiBlueprint("auth", __name__, url_prefix="/api", description="Identity")


def _local_identity():
    adapters = edna().adapters
    if adapters.issuer is None or adapters.users is None:
        abort(404, message="sign-in is handled by the identity provider (Cognito), not by the API")
    return adapters.issuer, adapters.users


@blp.route("/auth/token")
class Token(MethodView):
    @blp.arguments(TokenRequestSchema)
    @blp.response(200, TokenSchema)
    @blp.alt_response(400, response="BAD_REQUEST")  # a body that is not JSON
    @blp.alt_response(401, response="UNAUTHORIZED")
    @blp.alt_response(404, response="NOT_FOUND")
    def post(self, body):
        """Sign in with a local user's password (local identity only)"""
        issuer, users = _local_identity()
        refuse_lone_surrogates()
        user = users.authenticate(body["username"], body["password"])
        if user is None:
            raise Unauthorized("wrong username or password")
        return issuer.issue(user)


@blp.route("/auth/jwks")
class Jwks(MethodView):
    @blp.response(200)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self):
        """The local issuer's public keys (local identity only)"""
        issuer, _ = _local_identity()
        return issuer.jwks()


@blp.route("/me")
class Me(MethodView):
    @blp.requires(Role.viewer)
    @blp.response(200, MeSchema)
    def get(self):
        """Who the token says the caller is"""
        principal = caller()
        return {"user": principal.user, "tenant": principal.tenant, "roles": list(principal.roles)}
