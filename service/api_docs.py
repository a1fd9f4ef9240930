"""The interactive API docs (`/api/docs`): Swagger UI served by Edna from a pinned package, never a CDN.

Offline laptops and strict networks then see working docs, and the page loads no third-party code.
"""

from __future__ import annotations

from flask import Flask, abort, send_from_directory

DOCS_ASSETS = "/api/docs/assets/"
# The only files flask-smorest's page loads; nothing else of the package is reachable.
_FILES = {"swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js"}


def install(app: Flask) -> None:
    """Point flask-smorest's Swagger UI page at Edna's own copy and serve that copy."""
    from swagger_ui_bundle import swagger_ui_path

    app.config["OPENAPI_SWAGGER_UI_URL"] = DOCS_ASSETS

    @app.get(DOCS_ASSETS + "<name>")
    def swagger_ui_asset(name: str):
        if name not in _FILES:
            abort(404)
        return send_from_directory(swagger_ui_path, name, max_age=86400)
