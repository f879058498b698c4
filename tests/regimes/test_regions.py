"""Region resolution: only the operator's trusted headers or GeoIP file; well-formed codes only."""

from __future__ import annotations

import pytest

from consent_service.regions import RegionResolver, parse_region


@pytest.mark.parametrize("country,subdivision,expected", [
    ("FR", None, "FR"),
    ("us", "ca", "US-CA"),
    ("US", "US-CA", "US-CA"),
    ("US", "CA-QC", "US"),  # a subdivision of another country is ignored
    (None, "US-CA", "US-CA"),
    ("XX", None, None),  # Cloudflare: unknown
    ("T1", None, None),  # Cloudflare: Tor
    ("FRA", None, None),
    ("", None, None),
    ("F R", None, None),
    ("US", "CALIFORNIA", "US"),
    ("US", "<script>", "US"),
    (" CN ", "31", "CN-31"),
])
def test_parse_region(country, subdivision, expected):
    assert parse_region(country, subdivision) == expected


def test_headers_only_when_named():
    headers = {"CF-IPCountry": "US", "X-Region": "CA"}
    assert RegionResolver().resolve(headers, "192.0.2.1") is None
    assert RegionResolver("CF-IPCountry").resolve(headers, None) == "US"
    assert RegionResolver("CF-IPCountry", "X-Region").resolve(headers, None) == "US-CA"
    environ = {"HTTP_CF_IPCOUNTRY": "GB", "HTTP_X_REGION": "ENG"}
    assert RegionResolver("CF-IPCountry", "X-Region").from_environ(environ) == "GB-ENG"
    assert RegionResolver("CF-IPCountry", "X-Region").vary == ["CF-IPCountry", "X-Region"]


@pytest.fixture
def geoip_db(tmp_path):
    writer_module = pytest.importorskip("mmdb_writer", reason="mmdb-writer builds the test database")
    from netaddr import IPSet

    writer = writer_module.MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoIP2-City")
    writer.insert_network(IPSet(["198.51.100.0/24"]), {
        "country": {"iso_code": "US"}, "subdivisions": [{"iso_code": "CA"}]})
    writer.insert_network(IPSet(["203.0.113.0/24"]), {"country": {"iso_code": "CN"}})
    writer.insert_network(IPSet(["2001:db8::/32"]), {"country": {"iso_code": "GB"}})
    path = tmp_path / "test.mmdb"
    writer.to_db_file(str(path))
    return str(path)


def test_maxmind_database(geoip_db):
    pytest.importorskip("maxminddb")
    resolver = RegionResolver(geoip_db=geoip_db)
    assert resolver.resolve({}, "198.51.100.7") == "US-CA"
    assert resolver.resolve({}, "203.0.113.9") == "CN"
    assert resolver.resolve({}, "2001:db8::1") == "GB"
    assert resolver.resolve({}, "192.0.2.1") is None
    assert resolver.resolve({}, "not an address") is None
    # A trusted header wins over the database.
    assert RegionResolver("CF-IPCountry", geoip_db=geoip_db).resolve({"CF-IPCountry": "FR"}, "203.0.113.9") == "FR"
    resolver.close()
