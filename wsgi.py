"""The WSGI entry point for gunicorn: `gunicorn wsgi:app`."""

from consent_service import create_app

app = create_app()
