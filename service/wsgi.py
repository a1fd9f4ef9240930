"""The ready WSGI app that Zappa's handler (and any WSGI server) points at."""

from service.app import create_app

app = create_app()
