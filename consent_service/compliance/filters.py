"""What an auditor asks for: time ranges, export filters and output formats, parsed strictly (a
bad value is a 400 with a stable code naming the parameter) for the API and the CLI alike."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..consents.fields import METHODS
from ..errors import ServiceError
from ..ids import PATTERN as ID_PATTERN
from ..ids import id_time_floor
from ..times import iso, parse_iso

FORMATS = ("ndjson", "csv")
MAX_PARAMETER_LENGTH = 100
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def parse_time(name: str, raw: str | None) -> datetime | None:
    """An ISO-8601 date or date-time as an aware UTC datetime (naive means UTC), or a 400."""
    if raw is None or raw == "":
        return None
    if len(raw) > MAX_PARAMETER_LENGTH:
        raise ServiceError("invalid_filter", f"{name} is too long", details={"parameter": name})
    try:
        moment = parse_iso(raw.strip())
    except ValueError:
        raise ServiceError("invalid_filter", f"{name} must be an ISO-8601 date or date-time between 1970 "
                           "and 9000, e.g. 2025-01-31 or 2025-01-31T12:00:00Z",
                           details={"parameter": name}) from None
    if not _EARLIEST <= moment < _LATEST:
        raise ServiceError("invalid_filter", f"{name} is out of range", details={"parameter": name})
    return moment


def check_range(since: datetime | None, until: datetime | None) -> None:
    if since is not None and until is not None and since > until:
        raise ServiceError("invalid_range", "since must not be later than until")


def parse_range(args: Mapping[str, str | None]) -> tuple[datetime | None, datetime | None]:
    """`since` (inclusive) and `until` (exclusive) from a request's or a command's arguments."""
    since, until = parse_time("since", args.get("since")), parse_time("until", args.get("until"))
    check_range(since, until)
    return since, until


def parse_format(raw: str | None) -> str:
    fmt = (raw or "ndjson").lower()
    if fmt not in FORMATS:
        raise ServiceError("unsupported_format", "format must be ndjson or csv",
                           details={"parameter": "format"})
    return fmt


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
        since, until = parse_range(args)
        method = args.get("method") or None
        if method is not None and method not in METHODS:
            raise ServiceError("invalid_filter", f"method must be one of {', '.join(METHODS)}",
                               details={"parameter": "method"})
        visitor_id = args.get("visitor_id") or None
        if visitor_id is not None and not ID_PATTERN.match(visitor_id):
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
        return {"since": iso(self.since, precise=True), "until": iso(self.until, precise=True),
                "method": self.method, "visitor_id": self.visitor_id, "policy_version": self.policy_version}

    def sql(self, params: dict[str, Any], bind: str = ":{}") -> str:
        """WHERE conditions on `r` (consent_records) for these filters; binds go into params and are
        spelled with `bind` (':{}' for SQLAlchemy, '%({})s' for psycopg)."""
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
        return " AND ".join(condition.replace(":" + name, bind.format(name))
                            for condition in conditions for name in [condition.rsplit(":", 1)[1]])
