"""jurisdictions: the consent model (regime) and region of every record, policy versions per regime

Revision ID: 0006_jurisdictions
Revises: 0005_signed_seals
Create Date: 2026-12-01 02:00:00

- consent_records.regime, .region, .regime_version: the regime the visitor's region fell under, the
  region (ISO 3166-1 country or ISO 3166-2 subdivision, never an address) and the version of that
  regime's policy the visitor was shown. NULL on records from before: they were all made under the
  opt-in model, and their digests (which cover these fields only when set) stay valid.
- policy_versions.regime_versions: for each regime, the policy version since which what its
  visitors are shown is unchanged (NULL: every regime at the row's own version).
"""
from alembic import op
import sqlalchemy as sa


revision = "0006_jurisdictions"
down_revision = "0005_signed_seals"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("consent_records", sa.Column("regime", sa.String(length=16), nullable=True))
    op.add_column("consent_records", sa.Column("region", sa.String(length=6), nullable=True))
    op.add_column("consent_records", sa.Column("regime_version", sa.Integer(), nullable=True))
    op.add_column("policy_versions", sa.Column("regime_versions", sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table("policy_versions", schema=None) as batch_op:
        batch_op.drop_column("regime_versions")
    with op.batch_alter_table("consent_records", schema=None) as batch_op:
        batch_op.drop_column("regime_version")
        batch_op.drop_column("region")
        batch_op.drop_column("regime")
