"""site signing keys: each site's Ed25519 token keys, private halves wrapped

Revision ID: 0003_site_signing_keys
Revises: 0002_seal_chain
Create Date: 2026-11-30 23:00:00

- signing_keys: one row per key pair of a site. The public key (32 raw bytes) is published in the
  site's JWKS and banner; the private key is stored only wrapped by the keyring (AES-256-GCM under a
  KEK derived from SECRET_KEYS, with the kid and site as associated data). `signs_from` lets a
  rotation publish a key before it signs; `retired_at` ends its use for verification.
"""
from alembic import op
import sqlalchemy as sa


revision = "0003_site_signing_keys"
down_revision = "0002_seal_chain"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(length=16), nullable=False),
        sa.Column("site_id", sa.String(length=40), nullable=False),
        sa.Column("public_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("wrapped_private_key", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("signs_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"]),
        sa.PrimaryKeyConstraint("kid"),
    )
    op.create_index("ix_signing_keys_site", "signing_keys", ["site_id", "signs_from"])


def downgrade():
    op.drop_index("ix_signing_keys_site", table_name="signing_keys")
    op.drop_table("signing_keys")
