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


def write_mmdb(path, networks):
    """A small MaxMind-format City database: network -> record, as GeoIP2 shapes them."""
    writer_module = pytest.importorskip("mmdb_writer", reason="mmdb-writer builds the test database")
    from netaddr import IPSet

    writer = writer_module.MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoIP2-City")
    for network, record in networks.items():
        writer.insert_network(IPSet([network]), record)
    writer.to_db_file(str(path))
    return str(path)


CALIFORNIA = {"country": {"iso_code": "US"}, "subdivisions": [{"iso_code": "CA"}]}


@pytest.fixture
def geoip_db(tmp_path):
    return write_mmdb(tmp_path / "test.mmdb", {"198.51.100.0/24": CALIFORNIA, "203.0.113.0/24": {
        "country": {"iso_code": "CN"}}, "2001:db8::/32": {"country": {"iso_code": "GB"}}})


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


def test_settings_check_the_region_sources(tmp_path):
    from consent_service.config import ConfigError, Settings
    from tests.support import TEST_ENV

    env = {**TEST_ENV, "DATABASE_URL": "sqlite://"}
    settings = Settings.from_env({**env, "REGION_COUNTRY_HEADER": "CF-IPCountry",
                                  "REGION_SUBDIVISION_HEADER": "CF-Region-Code"}, tmp_path)
    assert (settings.region_country_header, settings.region_subdivision_header) == ("CF-IPCountry", "CF-Region-Code")
    for bad in ({"REGION_COUNTRY_HEADER": "CF IPCountry"}, {"REGION_SUBDIVISION_HEADER": "CF-Region-Code"},
                {"REGION_GEOIP_DB": str(tmp_path / "absent.mmdb")}):
        with pytest.raises(ConfigError):
            Settings.from_env({**env, **bad}, tmp_path)


def test_the_service_asks_the_database_and_answers_privately(make_app, tmp_path):
    """With only a GeoIP file the region depends on the address, which no Vary names: private answers."""
    pytest.importorskip("maxminddb")
    from tests.support import DEMO_ORIGIN, sync_demo

    # The test client's address is 127.0.0.1: a database that places it in California.
    app = make_app(REGION_GEOIP_DB=write_mmdb(tmp_path / "local.mmdb", {"127.0.0.0/8": CALIFORNIA}))
    sync_demo(app)
    client = app.test_client()
    config = client.get("/v1/sites/demo/config")
    assert config.get_json()["regime"]["id"] == "us-opt-out"
    assert config.headers["Cache-Control"].startswith("private")
    script = client.get("/v1/sites/demo/banner.js")
    assert script.headers["Cache-Control"].startswith("private")
    body = {"policy_version": 1, "method": "reject_all", "language": "en", "page_url": f"{DEMO_ORIGIN}/",
            "choices": {"necessary": True, "preferences": False, "analytics": False, "marketing": False}}
    made = client.post("/v1/sites/demo/consents", json=body, headers={"Origin": DEMO_ORIGIN}).get_json()
    assert (made["regime"], made["region"]) == ("us-opt-out", "US-CA")


def test_with_headers_and_a_geoip_file_only_the_files_answers_are_private(make_app, tmp_path):
    """A shared cache keys an answer on the Vary headers: one the GeoIP file decided (the header gave no
    region) must not be served from it to a visitor elsewhere who sends no header either."""
    pytest.importorskip("maxminddb")
    from tests.support import sync_demo

    app = make_app(REGION_COUNTRY_HEADER="CF-IPCountry",
                   REGION_GEOIP_DB=write_mmdb(tmp_path / "local.mmdb", {"127.0.0.0/8": CALIFORNIA}))
    sync_demo(app)
    client = app.test_client()
    for path in ("/v1/sites/demo/config", "/v1/sites/demo/banner.js", "/v1/sites/demo/declaration"):
        by_header = client.get(path, headers={"CF-IPCountry": "FR"})
        assert by_header.headers["Cache-Control"].startswith("public") and "CF-IPCountry" in by_header.headers["Vary"]
        for headers in ({}, {"CF-IPCountry": "XX"}):  # no header, or one that names no country
            by_file = client.get(path, headers=headers)
            assert by_file.headers["Cache-Control"].startswith("private"), (path, headers)
    assert client.get("/v1/sites/demo/config").get_json()["regime"]["id"] == "us-opt-out"


def test_each_regime_has_its_own_etag(make_app):
    from tests.support import sync_demo

    app = make_app(REGION_COUNTRY_HEADER="CF-IPCountry")
    sync_demo(app)
    client = app.test_client()
    french = client.get("/v1/sites/demo/banner.js", headers={"CF-IPCountry": "FR"})
    assert client.get("/v1/sites/demo/banner.js", headers={"CF-IPCountry": "FR", "If-None-Match": french.headers[
        "ETag"]}).status_code == 304
    chinese = client.get("/v1/sites/demo/banner.js", headers={"CF-IPCountry": "CN", "If-None-Match": french.headers[
        "ETag"]})
    assert chinese.status_code == 200 and chinese.headers["ETag"] != french.headers["ETag"]
    assert chinese.headers["Vary"] == "Accept-Encoding, CF-IPCountry"
