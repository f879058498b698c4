"""Where a visitor is: an ISO 3166-1 country or ISO 3166-2 subdivision, from what the operator's
edge says, or from a MaxMind-format database file the operator supplies.

Security: a region header is trusted only because the operator names it and their edge (Cloudflare's
`CF-IPCountry`, CloudFront's `CloudFront-Viewer-Country`, ...) sets it and strips any copy a client
sent. Naming a header that reaches the service unfiltered lets every visitor choose their own consent
model. The request body and query are never read: they are the visitor's to write.

Only the region is kept, never the address: the database lookup uses the address and forgets it.
A value that is not a well-formed code (Cloudflare's `XX` unknown and `T1` Tor, an empty or forged
string) is ignored, and the visitor falls back to the site's default regime.

Pure: no Flask. Headers are read from a WSGI environ or any mapping of header names; `maxminddb` is
imported only when a database file is configured.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

COUNTRY = re.compile(r"[A-Z]{2}")
SUBDIVISION = re.compile(r"[A-Z0-9]{1,3}")
#: Two-letter codes edges send when they do not know (user-assigned in ISO 3166-1).
NOT_A_COUNTRY = frozenset({"XX", "ZZ", "AA", "QM", "QN", "QO", "QP", "QQ", "QR", "QS", "QT", "QU", "QV", "QW",
                           "QX", "QY", "QZ", "XA", "XB"})


def environ_key(header: str) -> str:
    """The WSGI environ key of a request header (`CF-IPCountry` -> `HTTP_CF_IPCOUNTRY`)."""
    return "HTTP_" + header.upper().replace("-", "_")


def parse_region(country: str | None, subdivision: str | None = None) -> str | None:
    """`FR`, `US-CA` or None: a country code, and a subdivision given either whole (`US-CA`) or as the
    part after the country (`CA`, as CloudFront and Cloudflare send it). Anything else is ignored."""
    code = (country or "").strip().upper()
    if not COUNTRY.fullmatch(code) or code in NOT_A_COUNTRY:
        code = ""
    part = (subdivision or "").strip().upper()
    if "-" in part:
        sub_country, _, part = part.partition("-")
        if not COUNTRY.fullmatch(sub_country) or sub_country in NOT_A_COUNTRY or (code and sub_country != code):
            part = ""
        else:
            code = sub_country
    if not code:
        return None
    return f"{code}-{part}" if part and SUBDIVISION.fullmatch(part) else code


@dataclass
class RegionResolver:
    """The operator's choice of region source: header names (REGION_COUNTRY_HEADER,
    REGION_SUBDIVISION_HEADER) and/or a MaxMind-format file (REGION_GEOIP_DB). Headers win when they
    give a country; the file is asked otherwise. Without either, every visitor has no region."""

    country_header: str | None = None
    subdivision_header: str | None = None
    geoip_db: str | None = None
    _reader: Any = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def configured(self) -> bool:
        return bool(self.country_header or self.geoip_db)

    @property
    def vary(self) -> list[str]:
        """The request headers an answer that depends on the region varies with."""
        return [name for name in (self.country_header, self.subdivision_header) if name]

    def _read(self, header: Callable[[str], str | None]) -> str | None:
        """The region from the trusted headers, `header(name)` reading one of them however the caller
        holds them (one parse for every protocol)."""
        if not self.country_header:
            return None
        return parse_region(header(self.country_header),
                            header(self.subdivision_header) if self.subdivision_header else None)

    def from_headers(self, headers: Mapping[str, str]) -> str | None:
        """From a mapping of header names (case as the mapping treats it: Werkzeug's is insensitive)."""
        return self._read(headers.get)

    def from_environ(self, environ: Mapping[str, Any]) -> str | None:
        """From a WSGI environ (the shop's guard; Django's request.META)."""
        return self._read(lambda name: environ.get(environ_key(name)))

    def from_asgi(self, headers: Iterable[tuple[bytes, bytes]]) -> str | None:
        """From an ASGI scope's headers (lower-case byte names, as ASGI gives them)."""
        if not self.country_header:
            return None
        wanted = {name.lower().encode("latin-1") for name in self.vary}
        found = {name.decode("latin-1"): value.decode("latin-1") for name, value in headers if name in wanted}
        return self._read(lambda name: found.get(name.lower()))

    def resolve(self, headers: Mapping[str, str], address: str | None) -> str | None:
        """The visitor's region: the trusted headers, else the database's answer for the address."""
        region = self.from_headers(headers)
        if region is None and self.geoip_db and address:
            region = self.lookup(address)
        return region

    def lookup(self, address: str) -> str | None:
        """The country (and first subdivision) the database gives for an address; None when it has no
        answer or the address is not one. The file is opened once, memory-mapped when possible."""
        reader = self._open()
        try:
            record = reader.get(address.strip().split("%", 1)[0])
        except ValueError:
            return None
        if not isinstance(record, Mapping):
            return None
        country = record.get("country") or record.get("registered_country") or {}
        subdivisions = record.get("subdivisions") or [{}]
        country_code = country.get("iso_code") if isinstance(country, Mapping) else None
        sub = subdivisions[0] if isinstance(subdivisions, list) and subdivisions else {}
        sub_code = sub.get("iso_code") if isinstance(sub, Mapping) else None
        return parse_region(country_code if isinstance(country_code, str) else None,
                            sub_code if isinstance(sub_code, str) else None)

    def _open(self) -> Any:
        if self._reader is None:
            with self._lock:
                if self._reader is None:
                    import maxminddb  # only when a database is configured

                    self._reader = maxminddb.open_database(self.geoip_db)
        return self._reader

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
