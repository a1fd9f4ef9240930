"""Sign-in with the local issuer, password changes, its JWKS, and who the caller is."""

from functools import partial

from flask import request
from flask.views import MethodView
from flask_smorest import abort

from service.adapters.identity.throttle import client_address
from service.resources.auth.schemas import MeSchema, PasswordChangeSchema, TokenRequestSchema, TokenSchema
from service.resources.common import ApiBlueprint, caller, edna, refuse_lone_surrogates
from service.resources.service_accounts.schemas import ServiceTokenRequestSchema
from service.vocabulary.errors import BadRequest, Unauthorized
from service.vocabulary.roles import Role

blp = ApiBlueprint("auth", __name__, url_prefix="/api", description="Identity")

MIN_PASSWORD = 12
WRONG = "wrong username or password"  # one answer for an unknown name and a wrong password


def _local_identity():
    adapters = edna().adapters
    if adapters.issuer is None or adapters.users is None:
        provider = "Cognito" if edna().config.identity == "cognito" else "OIDC"
        abort(404, message=f"sign-in is handled by the identity provider ({provider}), not by the API")
    return adapters.issuer, adapters.users, adapters.throttle


def _address() -> str:
    proxies = frozenset(p.strip() for p in edna().config.trusted_proxies.split(",") if p.strip())
    return client_address(request.remote_addr or "", request.headers.get("X-Forwarded-For", ""), proxies)


def _throttled(throttle, name: str, attempt, wrong: str = WRONG):
    """`attempt()`'s user, counted by the sign-in throttle: 429 while locked out, 401 on a failure."""
    address = _address()
    throttle.check(name, address)
    user = attempt()
    if user is None:
        throttle.failed(name, address)
        raise Unauthorized(wrong)
    throttle.succeeded(name)
    return user


@blp.route("/auth/token")
class Token(MethodView):
    @blp.arguments(TokenRequestSchema)
    @blp.response(200, TokenSchema)
    @blp.alt_response(400, response="BAD_REQUEST")  # a body that is not JSON
    @blp.alt_response(401, response="UNAUTHORIZED")
    @blp.alt_response(403, response="FORBIDDEN", description="the one-time password of an invite: change it first")
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(429, response="TOO_MANY_REQUESTS", description="too many failures; see Retry-After")
    def post(self, body):
        """Sign in with a local user's password (local identity only)

        `username` is `tenant/username` for any member, or the bare name of an operator-created user.
        After repeated failures for a name or from an address, every attempt answers 429 with
        `Retry-After` until the lockout ends. A one-time invite password answers 403: set a new
        password with `POST /api/auth/password`."""
        issuer, users, throttle = _local_identity()
        refuse_lone_surrogates()
        name = body["username"]
        return issuer.issue(_throttled(throttle, name, partial(users.authenticate, name, body["password"])))


@blp.route("/auth/service-token")
class ServiceToken(MethodView):
    @blp.arguments(ServiceTokenRequestSchema)
    @blp.response(200, TokenSchema)
    @blp.alt_response(400, response="BAD_REQUEST")
    @blp.alt_response(401, response="UNAUTHORIZED")
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(429, response="TOO_MANY_REQUESTS", description="too many failures; see Retry-After")
    def post(self, body):
        """Exchange an application's client id and secret for a token (local identity only)

        The OAuth2 client-credentials grant in JSON. With Cognito, the application asks the pool's
        token endpoint instead (the `token_url` its creation answered): 404 here."""
        issuer, _, throttle = _local_identity()
        applications = edna().adapters.applications
        refuse_lone_surrogates()
        client_id = body["client_id"]
        app = _throttled(
            throttle,
            client_id,
            partial(applications.authenticate, client_id, body["client_secret"]),
            "wrong client id or secret, or the application was revoked or expired",
        )
        return issuer.issue_application(app)


@blp.route("/auth/password")
class Password(MethodView):
    @blp.arguments(PasswordChangeSchema)
    @blp.response(200, TokenSchema)
    @blp.alt_response(400, response="BAD_REQUEST", description="the new password is too short or unchanged")
    @blp.alt_response(401, response="UNAUTHORIZED")
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(429, response="TOO_MANY_REQUESTS", description="too many failures; see Retry-After")
    def post(self, body):
        """Change a local user's password with the current (or one-time) one; answers a new token

        No bearer token is needed: the current password proves the caller. Throttled like sign-in.
        With Cognito, its hosted UI asks for a new password (NEW_PASSWORD_REQUIRED) instead: 404."""
        issuer, users, throttle = _local_identity()
        refuse_lone_surrogates()
        if len(body["new_password"]) < MIN_PASSWORD:
            raise BadRequest(f"the new password must be at least {MIN_PASSWORD} characters")
        if body["new_password"] == body["password"]:
            raise BadRequest("the new password must differ from the current one")
        name = body["username"]
        change = partial(users.change_password, name, body["password"], body["new_password"])
        return issuer.issue(_throttled(throttle, name, change))


@blp.route("/auth/jwks")
class Jwks(MethodView):
    @blp.response(200)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self):
        """The local issuer's public keys (local identity only)"""
        issuer, _, _ = _local_identity()
        return issuer.jwks()


@blp.route("/me")
class Me(MethodView):
    @blp.requires(Role.viewer)
    @blp.response(200, MeSchema)
    def get(self):
        """Who the token says the caller is"""
        principal = caller()
        return {"user": principal.user, "tenant": principal.tenant, "roles": list(principal.roles)}
