"""seal chain: manifest of sealed records, purge marker, one successor per seal

Revision ID: 0002_seal_chain
Revises: 0001
Create Date: 2026-11-26 09:00:00

- seals.manifest: the ordered (record id, record digest) pairs a seal commits to; records_digest is
  its SHA-256, so verification can name the record that was edited, deleted or inserted.
- seals.purged_at: set when retention removed the seal's records; the seal itself stays in the chain.
- uq_seals_site_previous: at most one seal follows any seal, so two processes sealing at once cannot
  fork the chain (the second insert fails and is rolled back).
"""
from alembic import op
import sqlalchemy as sa


revision = "0002_seal_chain"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("seals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("manifest", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_unique_constraint("uq_seals_site_previous", ["site_id", "previous_digest"])


def downgrade():
    with op.batch_alter_table("seals", schema=None) as batch_op:
        batch_op.drop_constraint("uq_seals_site_previous", type_="unique")
        batch_op.drop_column("purged_at")
        batch_op.drop_column("manifest")
