"""scan history: every stored run of the cookie scanner

Revision ID: 0004_scan_history
Revises: 0003_site_signing_keys
Create Date: 2026-11-28 10:00:00

- scans: one row per scan that ran (`consent-service scan`): who ran it and when, the exit code,
  the counts a list shows, what changed since the site's previous scan, the JSON report and the
  HTML report (gzip). ix_scans_site serves a site's history, newest first, page by page.
"""
from alembic import op
import sqlalchemy as sa


revision = "0004_scan_history"
down_revision = "0003_site_signing_keys"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "scans",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("site_id", sa.String(length=40), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("scanned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("policy_version", sa.Integer(), nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("previous_id", sa.String(length=26), nullable=True),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("report_html", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.create_index("ix_scans_site", ["site_id", "id"], unique=False)


def downgrade():
    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.drop_index("ix_scans_site")
    op.drop_table("scans")
