"""Streamed export of consent records as proof: NDJSON (default) or CSV, from a server-side cursor,
with personal fields decrypted, every field of consents/fields.py, each record's digest and the seal
that covers it, and a closing summary. Every export is written to the access log when it ends,
with the rows actually produced.

Memory stays flat whatever the size: rows come from the database a partition at a time, visitor
keys are loaded in batches as new visitors appear (and kept in a bounded cache), and output is
produced a partition at a time. The SQL asks the database to format timestamps and JSON as text,
so the Python loop does little more than decrypt and join strings.

Every exported field is in the form the record digest was computed over (timestamps as
`YYYY-MM-DDTHH:MM:SS.ffffffZ`, choices as JSON), so an auditor can recompute a record's digest from
an export line (see docs/compliance.md).
"""

from __future__ import annotations

import bisect
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from ..consents.fields import EXPORT_EXTRAS, FIELDS, PERSONAL_FIELDS
from ..consents.visitor_keys import open_key
from ..crypto import FieldCipher
from ..db import snapshot_connection
from ..keyring import Keyring
from ..models import UTCDateTime
from ..times import iso, utcnow
from .access_log import log_access_apart
from .filters import ExportFilters
from .seals import MAX_CLOCK_SKEW
from .tabular import TabularWriter

PARTITION_ROWS = 2000
KEY_CACHE_LIMIT = 50_000
#: Export columns with how each is written: the record's fields, then the export's own.
COLUMNS = tuple((f.name, f.kind) for f in FIELDS) + (("personal_data", "text"), ("seal_id", "int"))
_INDEX = {name: index for index, (name, _) in enumerate(COLUMNS)}
_ID, _VISITOR, _SEQ = _INDEX["id"], _INDEX["visitor_id"], _INDEX["seq"]
_PERSONAL = [(_INDEX[name], _INDEX[f"{name}_digest"], name) for name in PERSONAL_FIELDS]
_PERSONAL_DATA, _SEAL_ID = (_INDEX[name] for name in EXPORT_EXTRAS)


# ---------------------------------------------------------------------------------------------- SQL

def _column_sql(dialect: str, name: str, kind: str) -> str:
    """A record column as the export writes it: timestamps and JSON as text, in digest form."""
    column = f"r.{name}"
    if kind == "time":
        if dialect == "postgresql":
            return f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""
        # SQLAlchemy keeps SQLite datetimes as 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC.
        return f"replace({column}, ' ', 'T') || 'Z'"
    if kind == "json":
        return f"CAST({column} AS TEXT)"
    return column


def export_query(dialect: str, filters: ExportFilters, site_id: str,
                 bind: str = ":{}") -> tuple[str, dict[str, Any]]:
    params: dict[str, Any] = {"site_id": site_id}
    where = filters.sql(params, bind)
    columns = ", ".join(_column_sql(dialect, f.name, f.kind) for f in FIELDS)
    # Only constant SQL is interpolated here; every value is a bound parameter.
    return f"SELECT {columns} FROM consent_records r WHERE {where} ORDER BY r.id", params  # noqa: S608


def _partitions(connection: sa.Connection, filters: ExportFilters, site_id: str) -> Iterator[list[Any]]:
    """Rows in id order, PARTITION_ROWS at a time, from a server-side cursor.

    On PostgreSQL this is psycopg's own named cursor in binary mode, inside the caller's
    transaction: it fetches about twice as fast as going through SQLAlchemy's result layer."""
    if connection.dialect.name == "postgresql":
        sql, params = export_query("postgresql", filters, site_id, bind="%({})s")
        raw = connection.connection.driver_connection
        cursor = raw.cursor(name=f"consent_export_{secrets.token_hex(6)}")  # type: ignore[union-attr]
        try:
            cursor.execute(sql, params, binary=True)
            while True:
                rows = cursor.fetchmany(PARTITION_ROWS)
                if not rows:
                    return
                yield rows
        finally:
            cursor.close()
    sql, params = export_query(connection.dialect.name, filters, site_id)
    result = connection.execute(sa.text(sql), params,
                                execution_options={"stream_results": True, "yield_per": PARTITION_ROWS})
    try:
        yield from result.partitions(PARTITION_ROWS)
    finally:
        result.close()


# ------------------------------------------------------------------------------------------- decrypt

class KeyCache:
    """Field ciphers by visitor id (None for erased visitors), loaded in batches and unwrapped
    (consents/visitor_keys.py)."""

    def __init__(self, connection: sa.Connection, keyring: Keyring, site_id: str, limit: int = KEY_CACHE_LIMIT) -> None:
        self.connection = connection
        self.keyring = keyring
        self.site_id = site_id
        self.limit = limit
        self.ciphers: dict[str, FieldCipher | None] = {}

    def load(self, visitor_ids: set[str]) -> None:
        missing = [v for v in visitor_ids if v not in self.ciphers]
        if not missing:
            return
        if len(self.ciphers) + len(missing) > self.limit:
            self.ciphers.clear()
        for start in range(0, len(missing), 500):
            batch = missing[start:start + 500]
            found = dict(self.connection.execute(
                sa.text("SELECT visitor_id, key FROM visitor_keys WHERE site_id = :site AND visitor_id IN :ids")
                .bindparams(sa.bindparam("ids", expanding=True)), {"ids": batch, "site": self.site_id}).all())
            for visitor_id in batch:
                key = open_key(self.keyring, self.site_id, visitor_id, found.get(visitor_id))
                self.ciphers[visitor_id] = FieldCipher(key) if key is not None else None


# ------------------------------------------------------------------------------------------- summary

@dataclass
class SealWindow:
    id: int
    first_record_id: str
    last_record_id: str
    digest: str
    created_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "first_record_id": self.first_record_id,
                "last_record_id": self.last_record_id, "digest": self.digest,
                "created_at": iso(self.created_at, precise=True)}


@dataclass
class ExportSummary:
    site_id: str
    format: str
    filters: ExportFilters
    count: int = 0
    first_record_id: str | None = None
    last_record_id: str | None = None
    sealed: int = 0
    unsealed: int = 0
    erased: int = 0
    seal: SealWindow | None = None
    #: The site's newest seal when the export began (the chain head to keep), and the public seal
    #: keys that verify, as a JWKS (also published at /v1/sites/<site>/proof/keys): the export alone
    #: is enough to check its seals' signatures.
    head: SealWindow | None = None
    seal_keys: dict[str, Any] = field(default_factory=lambda: {"keys": []})
    complete: bool = False
    generated_at: datetime = field(default_factory=utcnow)

    def to_dict(self) -> dict[str, Any]:
        return {
            "site": self.site_id, "count": self.count, "first_record_id": self.first_record_id,
            "last_record_id": self.last_record_id, "sealed": self.sealed, "unsealed": self.unsealed,
            "personal_data_erased": self.erased,
            "seal": self.seal.to_dict() if self.seal else None,
            "head": self.head.to_dict() if self.head else None, "seal_keys": self.seal_keys,
            "seal_key_ids": [key["kid"] for key in self.seal_keys["keys"]],
            "filters": self.filters.to_dict(), "format": self.format,
            "generated_at": iso(self.generated_at, precise=True),
        }

    def log_details(self) -> dict[str, Any]:
        """What the access log keeps of an export."""
        return {"filters": self.filters.to_dict(), "format": self.format, "complete": self.complete,
                "first_record_id": self.first_record_id, "last_record_id": self.last_record_id,
                "seal_id": self.seal.id if self.seal else None}


def chain_head(connection: sa.Connection, site_id: str) -> SealWindow | None:
    """The site's newest seal, purged or not."""
    row = connection.execute(sa.text(
        "SELECT id, first_record_id, last_record_id, digest, created_at FROM seals WHERE site_id = :site_id "
        "ORDER BY id DESC LIMIT 1"), {"site_id": site_id}).first()
    return _seal_window(row) if row is not None else None


def _seal_window(row: Any) -> SealWindow:
    created = row[4]
    if isinstance(created, str):  # SQLite hands back text through a textual query
        created = datetime.fromisoformat(created)
    return SealWindow(row[0], row[1], row[2], row[3], created)


class SealIndex:
    """The site's live seals by their window in store order (`seq`), to name the seal covering
    each exported record whatever order the records come in. A seal covers about a thousand
    records, so even a large site has few enough to hold."""

    def __init__(self, connection: sa.Connection, site_id: str, since: datetime | None = None) -> None:
        # A record made at `since` or later is sealed by a seal made after it (less clock skew).
        made_after = (since - MAX_CLOCK_SKEW) if since is not None else datetime(1970, 1, 1, tzinfo=UTC)
        rows = connection.execute(sa.text(
            "SELECT id, first_record_id, last_record_id, digest, created_at, first_seq, last_seq FROM seals "
            "WHERE site_id = :site_id AND purged_at IS NULL AND first_seq IS NOT NULL AND created_at >= :after "
            "ORDER BY first_seq").bindparams(sa.bindparam("after", type_=UTCDateTime())),
            {"site_id": site_id, "after": made_after}).all()
        self._firsts = [row[5] for row in rows]
        self._windows = [(row[6], _seal_window(row)) for row in rows]
        self.latest_used: SealWindow | None = None

    def seal_for(self, seq: int | None) -> SealWindow | None:
        """The seal whose window holds this sequence number, or None."""
        if seq is None:
            return None
        index = bisect.bisect_right(self._firsts, seq) - 1
        if index < 0 or self._windows[index][0] < seq:
            return None
        seal = self._windows[index][1]
        if self.latest_used is None or seal.id > self.latest_used.id:
            self.latest_used = seal
        return seal


# -------------------------------------------------------------------------------------------- export

def stream_export(connection: sa.Connection, site_id: str, filters: ExportFilters, fmt: str,
                  summary: ExportSummary, keyring: Keyring) -> Iterator[bytes]:
    """Yield the export in chunks; `summary` is filled in as rows go by and complete at the end.

    The caller owns the connection (one transaction, ideally a snapshot: see db.snapshot_connection).
    """
    writer = TabularWriter(fmt, COLUMNS)
    keys = KeyCache(connection, keyring, site_id)
    summary.head = chain_head(connection, site_id)
    seals = SealIndex(connection, site_id, filters.since)
    header = writer.header()
    if header:
        yield header.encode()
    sealed = erased = 0
    first_id = None
    extras = [None, None]
    for partition in _partitions(connection, filters, site_id):
        keys.load({row[_VISITOR] for row in partition})
        ciphers = keys.ciphers
        lines: list[str] = []
        for row in partition:
            values = list(row) + extras
            record_id = values[_ID]
            if all(values[digest] is None for _, digest, _ in _PERSONAL):
                personal = "none"
            else:
                cipher = ciphers.get(values[_VISITOR])
                personal = "present" if cipher is not None else "erased"
                erased += cipher is None
                for value_index, _, name in _PERSONAL:
                    blob = values[value_index]
                    values[value_index] = cipher.decrypt(record_id, name, blob) if cipher and blob else None
            seal = seals.seal_for(values[_SEQ])
            values[_PERSONAL_DATA] = personal
            values[_SEAL_ID] = seal.id if seal is not None else None
            sealed += seal is not None
            lines.append(writer.row(values))
        yield "".join(lines).encode()
        # Counted once the server asks for more, i.e. has sent this chunk: an export the reader
        # abandons is logged with the rows that went out, not the rows produced.
        first_id = first_id or partition[0][_ID]
        summary.count += len(partition)
        summary.first_record_id, summary.last_record_id = first_id, partition[-1][_ID]
        summary.sealed, summary.unsealed, summary.erased = sealed, summary.count - sealed, erased
    summary.seal = seals.latest_used
    summary.complete = True
    yield writer.trailer(summary.to_dict()).encode()


def export_consents(bind: Any, site_id: str, filters: ExportFilters, fmt: str, *, actor: str, keyring: Keyring,
                    seal_keys: dict[str, Any] | None = None, summary: ExportSummary | None = None) -> Iterator[bytes]:
    """The whole audited export: one snapshot, streamed, and an access-log entry when it ends
    (also when the reader goes away early: `complete` is then false)."""
    summary = summary or ExportSummary(site_id=site_id, format=fmt, filters=filters)
    summary.seal_keys = seal_keys or {"keys": []}
    engine = bind if isinstance(bind, sa.Engine) else bind.get_bind()
    try:
        with snapshot_connection(engine) as connection, connection.begin():
            yield from stream_export(connection, site_id, filters, fmt, summary, keyring)
    finally:
        log_access_apart(engine, site_id=site_id, actor=actor, action="export", rows=summary.count,
                         details=summary.log_details())
