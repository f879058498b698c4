"""Alembic migrations (through Flask-Migrate), from the first table on. `DIRECTORY` is where they
live, for Flask-Migrate and for the readiness check that compares the database with them."""

from pathlib import Path

DIRECTORY = str(Path(__file__).resolve().parent)
