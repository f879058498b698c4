"""Alembic revisions, one file each, applied in order by `consent-service db upgrade`."""
