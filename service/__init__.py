"""Edna's service: `create_app` (service.app) builds the Flask app.

The package itself imports nothing heavy: operator commands (`python -m service users add`,
`import-prefix`, `quota`) and the Lambda's event handlers start without Flask and flask-smorest.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The inference engine ships to MWAA as plugins.zip, the top-level package `edna_engine`; in a
# checkout it lives in plugins/, so it is imported the same way here.
_PLUGINS = Path(__file__).resolve().parent.parent / "plugins"
if _PLUGINS.is_dir() and str(_PLUGINS) not in sys.path:
    sys.path.append(str(_PLUGINS))


def __getattr__(name: str):
    if name in ("create_app", "routed_app"):
        from service import app

        return getattr(app, name)
    raise AttributeError(f"module 'service' has no attribute {name!r}")
