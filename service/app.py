"""create_app(config=None, adapters=None) builds the Flask app."""

from __future__ import annotations

import logging
import threading
from http import HTTPStatus
from pathlib import Path

from flask import Flask, jsonify
from flask_smorest import Api

from service import accounting, api_docs
from service.bootstrap import Adapters, Part, build_adapters
from service.edna import Edna
from service.settings import Config
from service.version import VERSION
from service.vocabulary.errors import DomainError, TooManyRequests

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
MAX_JSON_BODY = 2 * 1024 * 1024

log = logging.getLogger("edna")


def create_app(config: Config | None = None, adapters: Adapters | None = None, part: Part = Part.WHOLE) -> Flask:
    """The app over the given adapters, or over those the config names; `part`: what this process does
    of the background work (a production server's workers hand it to its runner process)."""
    config = config or Config.from_env()
    adapters = adapters or build_adapters(config, part)
    app = routed_app(config, local_blobs=adapters.blobs.name == "local")
    app.extensions["edna"] = Edna.build(config, adapters, part)
    return app


def routed_app(config: Config, local_blobs: bool) -> Flask:
    """Every route and the docs, without the state they serve (`app.extensions["edna"]`, read per
    request): the production server builds this once, before its processes fork, and each worker
    attaches its own state."""
    app = Flask(__name__, static_folder=str(STATIC_DIR), static_url_path="")
    app.config.update(
        API_TITLE="Edna",
        API_VERSION=VERSION,
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        MAX_CONTENT_LENGTH=MAX_JSON_BODY,
    )
    api_docs.install(app)  # before the Api: it reads the assets URL at init
    api = EdnaApi(app)
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
    _register_resources(app, api, local_blobs)
    app.register_error_handler(DomainError, _domain_error)
    accounting.install(app)

    @app.get("/")
    def index():
        return app.send_static_file("index.html")

    @app.get("/config.json")
    def frontend_config():
        """What the web app reads first; in AWS the stack writes this file next to the site instead."""
        return {"apiBase": "/api", "auth": {"mode": config.identity}}

    return app


class EdnaApi(Api):
    """flask-smorest's Api whose error bodies always carry a plain-words `message`, and whose OpenAPI
    document is written on its first read: describing the routes costs more than building the rest
    of the app, and only /api/openapi.json (and its readers) need it."""

    def __init__(self, app: Flask):
        self._undocumented: list = []  # (blueprint, name, parameters), registered but not yet described
        self._documenting = threading.Lock()
        super().__init__(app)

    @property
    def spec(self):
        if self._undocumented:
            with self._documenting:
                for blp, name, parameters in self._undocumented:
                    blp.register_views_in_doc(self, self._app, self._spec, name=name, parameters=parameters)
                    self._spec.tag({"name": name, "description": blp.description})
                self._undocumented = []
        return self._spec

    @spec.setter
    def spec(self, value) -> None:
        self._spec = value

    def register_blueprint(self, blp, *, parameters=None, **options) -> None:
        """As flask-smorest's, with the description of its routes left for the document's first read."""
        name = options.get("name", blp.name)
        self._app.extensions["flask-smorest"]["blp_name_to_api"][name] = self
        self._app.register_blueprint(blp, **options)
        with self._documenting:
            self._undocumented.append((blp, name, parameters))

    def _register_responses(self):
        super()._register_responses()
        # Every 429 (quotas, sign-in lockouts) says when the same request may succeed.
        self.spec.components.responses_lazy["TOO_MANY_REQUESTS"]["headers"] = {
            "Retry-After": {"description": "seconds to wait before trying again", "schema": {"type": "integer"}}
        }

    def handle_http_exception(self, error):
        payload, code, headers = super().handle_http_exception(error)
        if "message" not in payload:
            payload["message"] = _summarize(payload.get("errors")) or error.description
        return payload, code, headers


def _summarize(errors, path: str = "") -> str:
    """`{"json": {"name": ["Missing data."]}}` → `name: Missing data.`"""
    if isinstance(errors, dict):
        parts = [_summarize(v, f"{path}.{k}" if path else str(k)) for k, v in errors.items()]
        return "; ".join(p for p in parts if p)
    if isinstance(errors, list) and all(isinstance(e, str) for e in errors):
        field = path.split(".", 1)[1] if "." in path else ""
        return f"{field}: {' '.join(errors)}" if field else " ".join(errors)
    return ""


def _register_resources(app: Flask, api: Api, local_blobs: bool) -> None:
    from service.resources.audit.routes import blp as audit
    from service.resources.auth.routes import blp as auth
    from service.resources.bulk.routes import blp as bulk
    from service.resources.comparisons.routes import blp as comparisons
    from service.resources.datasets.routes import blp as datasets
    from service.resources.exports.routes import blp as exports
    from service.resources.health.routes import blp as health
    from service.resources.items.routes import blp as items
    from service.resources.jobs.routes import blp as jobs
    from service.resources.labels.routes import blp as labels
    from service.resources.members.routes import blp as members
    from service.resources.models.routes import blp as models
    from service.resources.review.routes import blp as review
    from service.resources.search.routes import blp as search
    from service.resources.service_accounts.routes import blp as service_accounts
    from service.resources.similar.routes import blp as similar
    from service.resources.snapshots.routes import blp as snapshots
    from service.resources.upload_batches.routes import blp as upload_batches
    from service.resources.usage.routes import blp as usage
    from service.resources.webhooks.routes import blp as webhooks

    resources = (
        health,
        auth,
        members,
        service_accounts,
        datasets,
        items,
        upload_batches,
        labels,
        bulk,
        review,
        similar,
        search,
        exports,
        snapshots,
        models,
        jobs,
        comparisons,
        usage,
        audit,
        webhooks,
    )
    for blp in resources:
        api.register_blueprint(blp)
    if local_blobs:
        from service.resources.blobs.routes import bp as blobs

        app.register_blueprint(blobs, url_prefix="/api/blobs")


def _domain_error(exc: DomainError):
    """Domain errors in flask-smorest's error body, with their status."""
    body = {"code": exc.status, "status": HTTPStatus(exc.status).phrase, "message": exc.message}
    if exc.errors:
        body["errors"] = exc.errors
    response = jsonify(body)
    response.status_code = exc.status
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="edna"'
    if isinstance(exc, TooManyRequests):
        response.headers["Retry-After"] = str(exc.retry_after)
    if exc.status >= 500:
        log.warning("storage or dependency unavailable: %s", exc.message)
    return response
