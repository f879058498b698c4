"""Tables. Consent records are append-only: nothing updates a record in place except the erasure of
its personal fields, which happens by deleting the visitor's key (see consents/record_crypto.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .extensions import db
from .times import utcnow


class UTCDateTime(sa.TypeDecorator):
    """Stores UTC, always hands back an aware UTC datetime (SQLite keeps no zone of its own)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use UTC-aware datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Site(db.Model):
    __tablename__ = "sites"

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    settings: Mapped[dict] = mapped_column(sa.JSON)
    current_version: Mapped[int] = mapped_column(sa.Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PolicyVersion(db.Model):
    """An immutable snapshot of what visitors were shown, identified by its SHA-256."""

    __tablename__ = "policy_versions"

    site_id: Mapped[str] = mapped_column(sa.ForeignKey("sites.id"), primary_key=True)
    version: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    #: Everything the visitor was shown (categories, cookie declarations, texts).
    notice: Mapped[dict] = mapped_column("content", sa.JSON)
    #: The SHA-256 of the notice's canonical form, which every record made under it carries.
    policy_hash: Mapped[str] = mapped_column("content_hash", sa.String(64))
    #: Regime -> the version since which its visitors' view is unchanged (migration 0006; None: all
    #: at this version).
    regime_versions: Mapped[dict | None] = mapped_column(sa.JSON)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class VisitorKey(db.Model):
    """The key that encrypts one visitor's personal fields, wrapped under a key-encryption key from
    the environment (consents/visitor_keys.py); destroying it erases them."""

    __tablename__ = "visitor_keys"

    visitor_id: Mapped[str] = mapped_column(sa.String(26), primary_key=True)
    site_id: Mapped[str] = mapped_column(sa.ForeignKey("sites.id"), index=True)
    #: The wrapped key (keyring.py); a 32-byte raw key is a row from before wrapping (migration 0005).
    key: Mapped[bytes] = mapped_column(sa.LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConsentRecord(db.Model):
    """One choice, as proof (GDPR Art. 7(1)). Append-only."""

    __tablename__ = "consent_records"
    __table_args__ = (
        sa.Index("ix_consent_records_visitor", "site_id", "visitor_id", "id"),
        sa.Index("ix_consent_records_site_created", "site_id", "created_at"),
        sa.UniqueConstraint("site_id", "client_record_id", name="uq_consent_records_client_record"),
    )

    id: Mapped[str] = mapped_column(sa.String(26), primary_key=True)
    site_id: Mapped[str] = mapped_column(sa.ForeignKey("sites.id"))
    visitor_id: Mapped[str] = mapped_column(sa.String(26))
    policy_version: Mapped[int] = mapped_column(sa.Integer)
    policy_hash: Mapped[str] = mapped_column(sa.String(64))
    choices: Mapped[dict] = mapped_column(sa.JSON)
    method: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    language: Mapped[str] = mapped_column(sa.String(35))
    page_url: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    user_agent: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    page_url_digest: Mapped[str | None] = mapped_column(sa.String(64))
    user_agent_digest: Mapped[str | None] = mapped_column(sa.String(64))
    ip_hash: Mapped[str | None] = mapped_column(sa.String(64))
    gpc: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    #: The consent model, region and that model's policy version (migration 0006; None before it).
    regime: Mapped[str | None] = mapped_column(sa.String(16))
    region: Mapped[str | None] = mapped_column(sa.String(6))
    regime_version: Mapped[int | None] = mapped_column(sa.Integer)
    banner_version: Mapped[str | None] = mapped_column(sa.String(32))
    client_record_id: Mapped[str | None] = mapped_column(sa.String(64))
    digest: Mapped[str] = mapped_column(sa.String(64))
    #: Assigned by the database as the record is stored, in commit order (migration 0005).
    seq: Mapped[int] = mapped_column(sa.BigInteger, server_default=sa.FetchedValue(), unique=True)
    #: The database's clock when the record was stored (migration 0005).
    stored_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=sa.FetchedValue())


class ApiKey(db.Model):
    """A backend, export or admin credential. Only the SHA-256 of its secret part is stored."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    site_id: Mapped[str] = mapped_column(sa.ForeignKey("sites.id"), index=True)
    scope: Mapped[str] = mapped_column(sa.String(16))
    secret_hash: Mapped[str] = mapped_column(sa.String(64))
    label: Mapped[str | None] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Seal(db.Model):
    """A signed statement over a window of records (their Merkle root) and the previous seal."""

    __tablename__ = "seals"
    __table_args__ = (
        sa.Index("ix_seals_site", "site_id", "id"),
        # One successor per seal: concurrent sealers cannot fork the chain (migration 0002).
        sa.UniqueConstraint("site_id", "previous_digest", name="uq_seals_site_previous"),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    site_id: Mapped[str] = mapped_column(sa.ForeignKey("sites.id"))
    first_record_id: Mapped[str] = mapped_column(sa.String(26))
    last_record_id: Mapped[str] = mapped_column(sa.String(26))
    record_count: Mapped[int] = mapped_column(sa.Integer)
    #: The RFC 6962 Merkle root of the window's leaves (migration 0005).
    merkle_root: Mapped[str] = mapped_column(sa.String(64))
    previous_digest: Mapped[str] = mapped_column(sa.String(64))
    #: SHA-256 of the signed statement (compliance/seals.py): what the next seal and heads name.
    digest: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: The ordered (record id, leaf hash) pairs, so verification names a record (migration 0002).
    manifest: Mapped[bytes | None] = mapped_column(sa.LargeBinary, deferred=True)
    #: When retention removed this seal's records; the seal stays in the chain (migration 0002).
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The window in store order and the latest expiry in it (migration 0005).
    first_seq: Mapped[int | None] = mapped_column(sa.BigInteger)
    last_seq: Mapped[int | None] = mapped_column(sa.BigInteger)
    expires_through: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Which seal key signed the statement, and its Ed25519 signature (hex) (migration 0005).
    key_id: Mapped[str | None] = mapped_column(sa.String(64))
    signature: Mapped[str | None] = mapped_column(sa.String(128))
    #: The signed purge statement (JSON) when retention removed the records (migration 0005).
    purge_marker: Mapped[str | None] = mapped_column(sa.Text)


class AccessLogEntry(db.Model):
    """Who read or changed what: every export, verify, key change, purge and erasure."""

    __tablename__ = "access_log"
    __table_args__ = (sa.Index("ix_access_log_site", "site_id", "id"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    site_id: Mapped[str] = mapped_column(sa.String(40))
    actor: Mapped[str] = mapped_column(sa.String(100))
    action: Mapped[str] = mapped_column(sa.String(40))
    details: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    rows: Mapped[int | None] = mapped_column(sa.Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SigningKey(db.Model):
    """One of a site's Ed25519 token-signing key pairs (migration 0003). The private key is stored
    only wrapped under the service's key-encryption keys (keyring.py), bound to its kid and site."""

    __tablename__ = "signing_keys"
    __table_args__ = (sa.Index("ix_signing_keys_site", "site_id", "signs_from"),)

    kid: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    site_id: Mapped[str] = mapped_column(sa.ForeignKey("sites.id"))
    public_key: Mapped[bytes] = mapped_column(sa.LargeBinary(32))
    wrapped_private_key: Mapped[bytes] = mapped_column(sa.LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Published from creation, signs from this time on (a rotation publishes ahead of signing).
    signs_from: Mapped[datetime] = mapped_column(UTCDateTime)
    #: Stops verifying from this time on; never the only active key of a site.
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Scan(db.Model):
    """One run of the cookie scanner against a site, kept as its history: the report, its counts and
    what changed since the scan before it (migration 0004)."""

    __tablename__ = "scans"
    __table_args__ = (sa.Index("ix_scans_site", "site_id", "id"),)

    #: Time-sortable (ids.py): a site's scans in id order are its history.
    id: Mapped[str] = mapped_column(sa.String(26), primary_key=True)
    site_id: Mapped[str] = mapped_column(sa.ForeignKey("sites.id"))
    #: Who ran it, as the access log names actors (`cli:<user>`).
    actor: Mapped[str] = mapped_column(sa.String(100))
    scanned_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    policy_version: Mapped[int | None] = mapped_column(sa.Integer)
    #: 0 clean, 1 findings at error level (a scan that could not run is not stored).
    exit_code: Mapped[int] = mapped_column(sa.Integer)
    #: The counts a list shows: pages, visits, items per state, findings per level and kind, changes.
    summary: Mapped[dict] = mapped_column(sa.JSON)
    previous_id: Mapped[str | None] = mapped_column(sa.String(26))
    #: What changed since the previous scan (scan/diff.py), kept as it was when this one was stored.
    changes: Mapped[dict] = mapped_column(sa.JSON, deferred=True)
    #: The whole JSON report (`consent-scan/1`).
    document: Mapped[dict] = mapped_column(sa.JSON, deferred=True)
    #: The self-contained HTML report, gzip-compressed; None when it was not kept.
    report_html: Mapped[bytes | None] = mapped_column(sa.LargeBinary, deferred=True)
