"""Configuration, health, and the OpenAPI document."""

from __future__ import annotations

import logging

import pytest

from consent_service.app import create_app
from consent_service.config import ConfigError, Settings, database_uri


def test_production_requires_secrets(tmp_path):
    with pytest.raises(ConfigError, match="SECRET_KEYS is required in production"):
        Settings.from_env({"CONSENT_ENV": "production", "IP_PEPPER": "p" * 40}, tmp_path)
    with pytest.raises(ConfigError, match="IP_PEPPER is required in production"):
        Settings.from_env({"CONSENT_ENV": "production", "SECRET_KEYS": "k" * 40}, tmp_path)
    with pytest.raises(ConfigError, match="at least 32 characters"):
        Settings.from_env({"CONSENT_ENV": "production", "SECRET_KEYS": "short", "IP_PEPPER": "p"}, tmp_path)


PRODUCTION = {"CONSENT_ENV": "production", "SECRET_KEYS": "k" * 40, "IP_PEPPER": "p" * 40,
              "PUBLIC_URL": "https://consent.example.com"}


@pytest.mark.parametrize("changes, message", [
    ({"SECRET_KEYS": ","}, "none of them empty"),
    ({"SECRET_KEYS": "k" * 40 + ",,"}, "none of them empty"),
    ({"SECRET_KEYS": " "}, "SECRET_KEYS is required in production"),
    ({"IP_PEPPER": "x"}, "IP_PEPPER must be at least 32 characters"),
    ({"CONSENT_ENV": "prod"}, "CONSENT_ENV must be exactly one of"),
    ({"CONSENT_ENV": "production "}, "CONSENT_ENV must be exactly one of"),
    ({"CONSENT_ENV": "Production"}, "CONSENT_ENV must be exactly one of"),
    ({"CONSENT_ENV": ""}, "CONSENT_ENV must be exactly one of"),
    ({"RATE_LIMIT_WRITES": "60/minute;"}, "RATE_LIMIT_WRITES must be"),
    ({"RATE_LIMIT_WRITES": "60/min"}, "RATE_LIMIT_WRITES must be"),
    ({"RATE_LIMIT_WRITES": "garbage"}, "RATE_LIMIT_WRITES must be"),
    ({"RATE_LIMIT_WRITES": "0/minute"}, "RATE_LIMIT_WRITES must be"),
    ({"BENCHMARK_SKIP": "cache"}, "never in production"),
])
def test_production_configuration_fails_closed(tmp_path, changes, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env({**PRODUCTION, **changes}, tmp_path)


@pytest.mark.parametrize("changes, message", [
    ({"SECRET_KEYS": ","}, "none of them empty"),
    ({"CONSENT_ENV": "dev"}, "CONSENT_ENV must be exactly one of"),
    ({"RATE_LIMIT_WRITES": "60/minute;"}, "RATE_LIMIT_WRITES must be"),
    ({"BENCHMARK_SKIP": "cache,seals"}, "BENCHMARK_SKIP may name only"),
])
def test_development_refuses_what_it_cannot_use_too(tmp_path, changes, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env({"SECRET_KEYS": "dev-key", "IP_PEPPER": "dev-pepper", **changes}, tmp_path)


def test_two_apps_in_one_process_keep_their_own_services(tmp_path):
    """Per-app services, not module-level singletons: the second app changes nothing of the first."""
    def app(name: str, **env: str):
        return create_app({"DATABASE_URL": f"sqlite:///{tmp_path / name}.sqlite3",
                           "CONSENT_INSTANCE_PATH": str(tmp_path), **env})

    first = app("one", SECRET_KEYS="a", IP_PEPPER="b", SITE_CACHE_SECONDS="7")
    second = app("two", SECRET_KEYS="c", IP_PEPPER="d", SITE_CACHE_SECONDS="1", BENCHMARK_SKIP="cache")
    one, two = first.extensions["consent"], second.extensions["consent"]
    assert one is not two and one.settings.site_cache_seconds == 7 and two.settings.site_cache_seconds == 1
    assert not one.settings.benchmark_skip and two.settings.benchmark_skip == {"cache"}
    assert one.settings.secret_keys != two.settings.secret_keys
    # The services each app built follow its own settings, and share nothing with the other's.
    assert (one.site_states.ttl_seconds, two.site_states.ttl_seconds) == (7, 1)
    assert one.consent_cache is not None and two.consent_cache is None
    assert one.keyring is not two.keyring and one.site_states is not two.site_states


def test_good_configuration_starts(tmp_path):
    settings = Settings.from_env({**PRODUCTION, "RATE_LIMIT_WRITES": "60 per minute, 600/hour"}, tmp_path)
    assert settings.production and settings.write_rate_limit == "60 per minute, 600/hour"
    assert not Settings.from_env({"SECRET_KEYS": "a", "IP_PEPPER": "b"}, tmp_path).production


def test_secret_files_and_rotation_order(tmp_path):
    keys = tmp_path / "keys"
    keys.write_text("newest-key,older-key\n")
    settings = Settings.from_env({"SECRET_KEYS_FILE": str(keys), "IP_PEPPER": "pepper"}, tmp_path)
    assert settings.secret_keys == ["newest-key", "older-key"]
    with pytest.raises(ConfigError, match="SECRET_KEYS_FILE"):
        Settings.from_env({"SECRET_KEYS_FILE": str(tmp_path / "absent")}, tmp_path)


def test_development_secret_is_generated_once_and_announced_once(tmp_path, caplog):
    with caplog.at_level(logging.DEBUG):
        first = Settings.from_env({}, tmp_path)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert [w.split(" ")[0] for w in warnings] == ["SECRET_KEYS", "IP_PEPPER"]
    assert all("DEVELOPMENT secret" in w and "dev-secrets.json" in w for w in warnings)
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        second = Settings.from_env({}, tmp_path)
    # Every later command and worker is quiet about it: nothing at INFO or above.
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO] == []
    assert first.secret_keys == second.secret_keys and len(first.secret_keys[0]) >= 32
    assert first.ip_pepper == second.ip_pepper
    everything_logged = "\n".join(warnings + [r.getMessage() for r in caplog.records])
    assert first.secret_keys[0] not in everything_logged and first.ip_pepper not in everything_logged
    assert first.secret_keys[0] not in repr(first) and first.ip_pepper not in repr(first)


def test_instance_folder_from_the_environment(tmp_path):
    """CONSENT_INSTANCE_PATH moves the development secrets and the default SQLite file (e.g. for a
    second demo beside the first, or a test that must not touch the developer's instance/)."""
    app = create_app(env={"CONSENT_INSTANCE_PATH": str(tmp_path / "elsewhere")})
    assert app.instance_path == str(tmp_path / "elsewhere")
    assert (tmp_path / "elsewhere" / "dev-secrets.json").exists()
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'elsewhere' / 'consent.sqlite3'}"


def test_database_url_spellings():
    assert database_uri("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert database_uri("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert database_uri("sqlite:///x.db") == "sqlite:///x.db"


def test_bad_number_in_environment(tmp_path):
    with pytest.raises(ConfigError, match="TRUSTED_PROXIES must be a whole number"):
        create_app(env={"SECRET_KEYS": "k", "IP_PEPPER": "p", "TRUSTED_PROXIES": "one",
                        "DATABASE_URL": f"sqlite:///{tmp_path}/x.db"})


def test_health_and_readiness(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["checks"] == {"database": "ok"}


def test_openapi_document_describes_the_api(client):
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    consents = spec["paths"]["/v1/sites/{site_id}/consents"]["post"]
    schema = consents["requestBody"]["content"]["application/json"]["schema"]
    assert schema["$ref"].endswith("ConsentRequest")
    request_schema = spec["components"]["schemas"]["ConsentRequest"]
    assert set(request_schema["required"]) == {"policy_version", "choices", "method"}
    assert "/v1/sites/{site_id}/visitors/{visitor_id}/consent" in spec["paths"]
    assert "Retry-After" in consents["responses"]["503"]["headers"]  # a lost database is documented
    assert client.get("/docs").status_code == 200


def test_unknown_path_is_json(client):
    response = client.get("/nowhere")
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"


def test_config_has_an_etag_and_answers_304(client, demo):
    first = client.get("/v1/sites/demo/config")
    assert first.status_code == 200 and first.headers["ETag"]
    # The hash of what the visitor's regime shows (opt-in: no region header is configured).
    assert first.get_json()["policy_version"] == 1 and first.get_json()["policy_hash"] == demo.regime_hash("opt-in")
    again = client.get("/v1/sites/demo/config", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    assert client.get("/v1/sites/nope/config").get_json()["error"]["code"] == "unknown_site"


def test_readiness_needs_every_migration(tmp_path):
    from tests.support import TEST_ENV

    app = create_app(env={**TEST_ENV, "DATABASE_URL": f"sqlite:///{tmp_path}/empty.db"})
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"] == {"database": "migrations not applied"}
