"""Streamed export of consent records as proof: NDJSON (default) or CSV, from a server-side cursor,
with personal fields decrypted, every proof field, each record's digest and the seal that covers it,
and a closing summary.

Memory stays flat whatever the size: rows come from the database a partition at a time, visitor
keys are loaded in batches as new visitors appear (and kept in a bounded cache), and output is
produced a partition at a time. The SQL asks the database to format timestamps and JSON as text,
so the Python loop does little more than decrypt and join strings.

Every exported field is in the form the record digest was computed over (timestamps as
`YYYY-MM-DDTHH:MM:SS.ffffffZ`, choices as JSON), so an auditor can recompute a record's digest from
an export line (see docs/compliance.md).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .consents import METHODS
from .errors import ServiceError
from .ids import id_time_floor

FORMATS = ("ndjson", "csv")
VISITOR_ID_PATTERN = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
#: The columns of an export, in order (CSV header; NDJSON keys).
COLUMNS = (
    "id", "site_id", "visitor_id", "policy_version", "policy_hash", "choices", "method", "created_at",
    "expires_at", "language", "page_url", "user_agent", "personal_data", "page_url_digest",
    "user_agent_digest", "ip_hash", "gpc", "banner_version", "client_record_id", "digest", "seal_id",
)
PARTITION_ROWS = 2000
KEY_CACHE_LIMIT = 50_000
MAX_PARAMETER_LENGTH = 100


# -------------------------------------------------------------------------------------------- filters

def parse_time(name: str, raw: str | None) -> datetime | None:
    """An ISO-8601 date or date-time as an aware UTC datetime (naive means UTC), or a 400."""
    if raw is None or raw == "":
        return None
    if len(raw) > MAX_PARAMETER_LENGTH:
        raise ServiceError("invalid_filter", f"{name} is too long", details={"parameter": name})
    text = raw.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ServiceError("invalid_filter", f"{name} must be an ISO-8601 date or date-time, "
                           "e.g. 2025-01-31 or 2025-01-31T12:00:00Z", details={"parameter": name}) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    if not datetime(1970, 1, 1, tzinfo=UTC) <= moment < datetime(9000, 1, 1, tzinfo=UTC):
        raise ServiceError("invalid_filter", f"{name} is out of range", details={"parameter": name})
    return moment


def check_range(since: datetime | None, until: datetime | None) -> None:
    if since is not None and until is not None and since > until:
        raise ServiceError("invalid_range", "since must not be later than until")


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class ExportFilters:
    """Which records to export. since is inclusive and until exclusive, to the millisecond."""

    since: datetime | None = None
    until: datetime | None = None
    method: str | None = None
    visitor_id: str | None = None
    policy_version: int | None = None

    @classmethod
    def parse(cls, args: Mapping[str, str | None]) -> ExportFilters:
        since, until = parse_time("since", args.get("since")), parse_time("until", args.get("until"))
        check_range(since, until)
        method = args.get("method") or None
        if method is not None and method not in METHODS:
            raise ServiceError("invalid_filter", f"method must be one of {', '.join(METHODS)}",
                               details={"parameter": "method"})
        visitor_id = args.get("visitor_id") or None
        if visitor_id is not None and not VISITOR_ID_PATTERN.match(visitor_id):
            raise ServiceError("invalid_filter", "visitor_id is not a visitor id",
                               details={"parameter": "visitor_id"})
        raw_version = args.get("policy_version") or None
        version = None
        if raw_version is not None:
            if not (raw_version.isascii() and raw_version.isdigit() and len(raw_version) <= 9
                    and int(raw_version) > 0):
                raise ServiceError("invalid_filter", "policy_version must be a positive whole number",
                                   details={"parameter": "policy_version"})
            version = int(raw_version)
        return cls(since=since, until=until, method=method, visitor_id=visitor_id, policy_version=version)

    def to_dict(self) -> dict[str, Any]:
        return {"since": iso(self.since), "until": iso(self.until), "method": self.method,
                "visitor_id": self.visitor_id, "policy_version": self.policy_version}

    def sql(self, params: dict[str, Any]) -> str:
        """WHERE conditions on `r` (consent_records) for these filters; binds go into params."""
        conditions = ["r.site_id = :site_id"]
        if self.since is not None:
            conditions.append("r.id >= :since_id")
            params["since_id"] = id_time_floor(self.since.timestamp())
        if self.until is not None:
            conditions.append("r.id < :until_id")
            params["until_id"] = id_time_floor(self.until.timestamp())
        if self.method is not None:
            conditions.append("r.method = :method")
            params["method"] = self.method
        if self.visitor_id is not None:
            conditions.append("r.visitor_id = :visitor_id")
            params["visitor_id"] = self.visitor_id
        if self.policy_version is not None:
            conditions.append("r.policy_version = :policy_version")
            params["policy_version"] = self.policy_version
        return " AND ".join(conditions)


def parse_format(raw: str | None) -> str:
    fmt = (raw or "ndjson").lower()
    if fmt not in FORMATS:
        raise ServiceError("unsupported_format", "format must be ndjson or csv",
                           details={"parameter": "format"})
    return fmt


def check_parameters(args: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(name for name in args if name not in allowed)
    if unknown:
        raise ServiceError("unknown_parameter", f"unknown query parameter: {unknown[0][:40]}",
                           details={"allowed": list(allowed)})


# ---------------------------------------------------------------------------------------------- SQL

def _timestamp_sql(dialect: str, column: str) -> str:
    """The column as text in exactly the form the record digest uses."""
    if dialect == "postgresql":
        return f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""
    # SQLAlchemy keeps SQLite datetimes as 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC.
    return f"replace({column}, ' ', 'T') || 'Z'"


def export_query(dialect: str, filters: ExportFilters, site_id: str) -> tuple[str, dict[str, Any]]:
    params: dict[str, Any] = {"site_id": site_id}
    where = filters.sql(params)
    # Only constant SQL is interpolated here; every value is a bound parameter.
    sql = (
        "SELECT r.id, r.site_id, r.visitor_id, r.policy_version, r.policy_hash, "  # noqa: S608
        "CAST(r.choices AS TEXT), r.method, "
        f"{_timestamp_sql(dialect, 'r.created_at')}, {_timestamp_sql(dialect, 'r.expires_at')}, "
        "r.language, r.page_url, r.user_agent, r.page_url_digest, r.user_agent_digest, r.ip_hash, "
        "r.gpc, r.banner_version, r.client_record_id, r.digest "
        f"FROM consent_records r WHERE {where} ORDER BY r.id"
    )
    return sql, params


# ------------------------------------------------------------------------------------------- decrypt

class KeyCache:
    """AES-GCM ciphers by visitor id (None for erased visitors), loaded in batches."""

    def __init__(self, connection: sa.Connection, limit: int = KEY_CACHE_LIMIT) -> None:
        self.connection = connection
        self.limit = limit
        self.ciphers: dict[str, AESGCM | None] = {}

    def load(self, visitor_ids: set[str]) -> None:
        missing = [v for v in visitor_ids if v not in self.ciphers]
        if not missing:
            return
        if len(self.ciphers) + len(missing) > self.limit:
            self.ciphers.clear()
        for start in range(0, len(missing), 500):
            batch = missing[start:start + 500]
            found = dict(self.connection.execute(
                sa.text("SELECT visitor_id, key FROM visitor_keys WHERE visitor_id IN :ids")
                .bindparams(sa.bindparam("ids", expanding=True)), {"ids": batch}).all())
            for visitor_id in batch:
                key = found.get(visitor_id)
                self.ciphers[visitor_id] = AESGCM(bytes(key)) if key is not None else None


def _decrypt(cipher: AESGCM | None, record_id: str, field_name: str, blob: Any) -> str | None:
    """As proof.decrypt_field, with the cipher object reused across a visitor's records."""
    if cipher is None or not blob or len(blob) < 13:
        return None
    blob = bytes(blob)
    try:
        return cipher.decrypt(blob[:12], blob[12:], f"{record_id}\x00{field_name}".encode()).decode()
    except (InvalidTag, UnicodeDecodeError):
        return None


# -------------------------------------------------------------------------------------------- export

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
                "created_at": iso(self.created_at)}


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
    complete: bool = False
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def to_dict(self) -> dict[str, Any]:
        return {
            "site": self.site_id, "count": self.count, "first_record_id": self.first_record_id,
            "last_record_id": self.last_record_id, "sealed": self.sealed, "unsealed": self.unsealed,
            "personal_data_erased": self.erased,
            "seal": self.seal.to_dict() if self.seal else None,
            "filters": self.filters.to_dict(), "format": self.format,
            "generated_at": iso(self.generated_at),
        }


class SealCursor:
    """Walks the site's live seals in step with records streamed in id order."""

    def __init__(self, connection: sa.Connection, site_id: str, from_id: str | None) -> None:
        params: dict[str, Any] = {"site_id": site_id, "from_id": from_id or ""}
        self._rows = iter(connection.execute(sa.text(
            "SELECT id, first_record_id, last_record_id, digest FROM seals "
            "WHERE site_id = :site_id AND last_record_id >= :from_id AND purged_at IS NULL ORDER BY id"),
            params, execution_options={"yield_per": 500}))
        self.current: SealWindow | None = None
        self.latest_used: SealWindow | None = None
        self._advance()

    def _advance(self) -> None:
        row = next(self._rows, None)
        self.current = SealWindow(*row) if row is not None else None

    def seal_for(self, record_id: str) -> int | None:
        while self.current is not None and self.current.last_record_id < record_id:
            self._advance()
        if self.current is not None and self.current.first_record_id <= record_id:
            self.latest_used = self.current
            return self.current.id
        return None


_encode = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]


def _str(value: str | None) -> str:
    return "null" if value is None else _encode(value)


def _ndjson_line(r: Any, page_url: str | None, user_agent: str | None, personal: str,
                 gpc: bool, seal_id: int | None) -> str:
    return (
        f'{{"id":"{r[0]}","site_id":"{r[1]}","visitor_id":"{r[2]}","policy_version":{r[3]},'
        f'"policy_hash":"{r[4]}","choices":{r[5]},"method":"{r[6]}","created_at":"{r[7]}",'
        f'"expires_at":"{r[8]}","language":{_str(r[9])},"page_url":{_str(page_url)},'
        f'"user_agent":{_str(user_agent)},"personal_data":"{personal}",'
        f'"page_url_digest":{_str(r[12])},"user_agent_digest":{_str(r[13])},"ip_hash":{_str(r[14])},'
        f'"gpc":{"true" if gpc else "false"},"banner_version":{_str(r[16])},'
        f'"client_record_id":{_str(r[17])},"digest":"{r[18]}",'
        f'"seal_id":{"null" if seal_id is None else seal_id}}}\n'
    )


def _csv_safe(value: str | None) -> str | None:
    """Neutralise spreadsheet formulas in visitor-supplied text (CSV injection)."""
    if value and value[0] in "=+-@\t\r":
        return "'" + value
    return value


def stream_export(connection: sa.Connection, site_id: str, filters: ExportFilters, fmt: str,
                  summary: ExportSummary) -> Iterator[bytes]:
    """Yield the export in chunks; `summary` is filled in as rows go by and complete at the end.

    The caller owns the connection (one transaction, ideally a snapshot: see seals.snapshot_connection).
    """
    dialect = connection.dialect.name
    sql, params = export_query(dialect, filters, site_id)
    keys = KeyCache(connection)
    seals = SealCursor(connection, site_id, params.get("since_id"))
    result = connection.execute(sa.text(sql), params,
                                execution_options={"stream_results": True, "yield_per": PARTITION_ROWS})
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n") if fmt == "csv" else None
    if writer is not None:
        writer.writerow(COLUMNS)
    sealed = unsealed = erased = 0
    first_id = last_id = None
    try:
        for partition in result.partitions(PARTITION_ROWS):
            keys.load({row[2] for row in partition})
            ciphers = keys.ciphers
            lines: list[str] = []
            for row in partition:
                record_id = row[0]
                cipher = ciphers.get(row[2])
                page_url = _decrypt(cipher, record_id, "page_url", row[10]) if row[10] else None
                user_agent = _decrypt(cipher, record_id, "user_agent", row[11]) if row[11] else None
                if row[12] is None and row[13] is None:
                    personal = "none"
                elif cipher is None:
                    personal = "erased"
                    erased += 1
                else:
                    personal = "present"
                seal_id = seals.seal_for(record_id)
                if seal_id is None:
                    unsealed += 1
                else:
                    sealed += 1
                gpc = bool(row[15])
                if writer is None:
                    lines.append(_ndjson_line(row, page_url, user_agent, personal, gpc, seal_id))
                else:
                    writer.writerow((
                        record_id, row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8],
                        row[9], _csv_safe(page_url), _csv_safe(user_agent), personal, row[12], row[13],
                        row[14], "true" if gpc else "false", _csv_safe(row[16]), row[17], row[18],
                        seal_id))
            if partition:
                first_id = first_id or partition[0][0]
                last_id = partition[-1][0]
                summary.count += len(partition)
                summary.first_record_id, summary.last_record_id = first_id, last_id
                summary.sealed, summary.unsealed, summary.erased = sealed, unsealed, erased
            if writer is None:
                yield "".join(lines).encode()
            else:
                yield buffer.getvalue().encode()
                buffer.seek(0)
                buffer.truncate()
        summary.seal = seals.latest_used
        summary.complete = True
        trailer = json.dumps({"summary": summary.to_dict()}, separators=(",", ":"))
        if writer is None:
            yield (trailer + "\n").encode()
        else:
            writer.writerow(("#summary", trailer))
            yield buffer.getvalue().encode()
    finally:
        result.close()


def window_for(since: datetime | None, until: datetime | None, default_days: int) -> tuple[datetime, datetime]:
    """A closed-open range with defaults: until now, since `default_days` before until."""
    until = until or datetime.now(UTC)
    since = since or (until - timedelta(days=default_days))
    return since, until
