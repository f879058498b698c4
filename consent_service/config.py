"""Settings read from the environment.

Secrets (`SECRET_KEYS`, `IP_PEPPER`) come from the environment or from a file named by the same
variable with `_FILE` appended. In production (`CONSENT_ENV=production`) a missing secret stops
start-up with an error naming the variable; in development a random one is generated once, kept in
the instance folder (so restarts and several workers agree on it) and announced loudly when it is
generated, not on every later start or command.

`PUBLIC_URL`, the service's address as shops' pages reach it, is built into the banner and its
configuration. Production requires it (https); in development it defaults to
`http://127.0.0.1:$PORT`. It never comes from a request's Host.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from limits import parse_many

log = logging.getLogger(__name__)
#: The values CONSENT_ENV may take, exactly.
ENVIRONMENTS = ("development", "production")
#: The largest request body the service reads (every body it takes is a small JSON object).
MAX_BODY_BYTES = 8 * 1024
#: The shortest SECRET_KEYS entry and IP_PEPPER production accepts.
MIN_SECRET_LENGTH = 32
#: Database connections are replaced after this long: pooled ones, and the record store's writers.
POOL_RECYCLE_SECONDS = 1800
#: What BENCHMARK_SKIP may switch off, and what that means.
BENCHMARK_PARTS = {"limit": "rate-limit writes", "cache": "write the consent cache",
                   "database": "store any record"}


class ConfigError(RuntimeError):
    """The service cannot start with this environment."""


def _secret(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    if value:
        return value.strip()
    path = env.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").strip() or None
        except OSError as error:
            raise ConfigError(f"{name}_FILE names a file that cannot be read: {error.strerror}") from None
    return None


def _dev_secret(instance_path: Path, name: str) -> str:
    """A development secret generated once and kept beside the SQLite file."""
    store = instance_path / "dev-secrets.json"
    known: dict[str, str] = {}
    if store.exists():
        known = json.loads(store.read_text(encoding="utf-8"))
    if name in known:
        # Announced when it was generated; every later command and worker would only repeat it.
        log.debug("%s: using the development secret in %s", name, store)
        return known[name]
    known[name] = secrets.token_urlsafe(32)
    instance_path.mkdir(parents=True, exist_ok=True)
    store.write_text(json.dumps(known), encoding="utf-8")
    store.chmod(0o600)
    log.warning("%s is not set: generated a DEVELOPMENT secret and kept it in %s; later runs reuse it "
                "quietly. Fine for trying the service on this machine; in production set %s (or %s_FILE), "
                "which CONSENT_ENV=production requires.", name, store, name, name)
    return known[name]


def _public_url(env: Mapping[str, str], production: bool) -> str:
    """PUBLIC_URL checked: an absolute http(s) URL without query or fragment (https in production)."""
    raw = (env.get("PUBLIC_URL") or "").strip()
    if not raw:
        if production:
            raise ConfigError("PUBLIC_URL is required in production: the service's public https URL, built into "
                              "banner.js (it is never taken from a request's Host)")
        return f"http://127.0.0.1:{_int(env, 'PORT', 5000)}"
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment \
            or "@" in parts.netloc:
        raise ConfigError(f"PUBLIC_URL must be an absolute http(s) URL without user, query or fragment, not {raw!r}")
    if production and parts.scheme != "https":
        raise ConfigError("PUBLIC_URL must be an https URL in production")
    return raw.rstrip("/")


def database_uri(url: str) -> str:
    """Point PostgreSQL URLs at psycopg 3, whatever spelling the platform gives."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None


def _rate_limit(env: Mapping[str, str], name: str, default: str) -> str:
    """A rate limit as Flask-Limiter reads it (the `limits` library), checked now: a limit it cannot
    parse would otherwise start the service with no limit at all."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        parsed = parse_many(raw)
    except ValueError:
        parsed = []
    if not parsed or any(item.amount < 1 for item in parsed):
        raise ConfigError(f"{name} must be one or more limits such as '60/minute;600/hour', not {raw!r}")
    return raw


_HEADER_NAME = re.compile(r"[A-Za-z0-9-]{1,64}")


def _header_name(env: Mapping[str, str], name: str) -> str | None:
    """A request header's name (letters, digits, hyphens), or None when unset."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return None
    if not _HEADER_NAME.fullmatch(raw):
        raise ConfigError(f"{name} must be a request header's name, such as CF-IPCountry, not {raw!r}")
    return raw


@dataclass
class Settings:
    """Everything the service reads from its environment, resolved once at start-up."""

    production: bool
    database_url: str
    redis_url: str | None
    secret_keys: list[str] = field(repr=False)
    ip_pepper: str = field(repr=False)
    trusted_proxies: int = 0
    write_rate_limit: str = "60/minute;600/hour"
    api_key_cache_seconds: int = 10
    site_cache_seconds: int = 5
    #: The service's public base URL: built into banner.js and /config (never the request's Host).
    public_url: str = "http://127.0.0.1:5000"
    seal_batch_size: int = 1000
    seal_max_age_seconds: int = 300
    #: Prefix of every Redis key (cache, invalidation channel and rate limits), so several
    #: deployments or test runs can share one Redis.
    redis_prefix: str = "cs:"
    #: Secrets the seal-signing keys are derived from, newest first (compliance/seal_keys.py):
    #: `SEAL_KEYS`, or `SECRET_KEYS` when it is not set.
    seal_keys: list[str] = field(default_factory=list, repr=False)
    #: A JWKS file of retired seal public keys that still verify old seals (`SEAL_VERIFY_KEYS_FILE`).
    seal_verify_keys_file: str | None = None
    #: Where visitors' regions come from (regions.py): request headers the operator's edge sets and
    #: strips from clients (`REGION_COUNTRY_HEADER`, `REGION_SUBDIVISION_HEADER`), and/or a
    #: MaxMind-format database file (`REGION_GEOIP_DB`). None: every visitor gets the default regime.
    region_country_header: str | None = None
    region_subdivision_header: str | None = None
    region_geoip_db: str | None = None
    #: Parts of the write path switched off, for the benchmark that measures what each costs
    #: (`limit`, `cache`, `database`); never allowed in production.
    benchmark_skip: frozenset[str] = frozenset()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, instance_path: str | Path = "instance") -> "Settings":
        env = os.environ if env is None else env
        instance_path = Path(instance_path)
        environment = env.get("CONSENT_ENV", "development")
        if environment not in ENVIRONMENTS:
            # "prod" or "production " must not quietly run with generated development secrets.
            raise ConfigError(f"CONSENT_ENV must be exactly one of {', '.join(ENVIRONMENTS)}, not {environment!r}")
        production = environment == "production"

        def required_secret(name: str) -> str:
            value = _secret(env, name)
            if value:
                return value
            if production:
                raise ConfigError(f"{name} is required in production (set {name} or {name}_FILE)")
            return _dev_secret(instance_path, name)

        def key_list(name: str, raw: str | None) -> list[str]:
            """A comma-separated list of secrets, newest first, none of them empty (or short, in production)."""
            keys = [key.strip() for key in raw.split(",")] if raw else []
            if not all(keys):
                raise ConfigError(f"{name}: a comma-separated list of keys, newest first, none of them empty")
            if production and any(len(key) < MIN_SECRET_LENGTH for key in keys):
                raise ConfigError(f"{name}: every key must be at least {MIN_SECRET_LENGTH} characters in production")
            return keys

        keys = key_list("SECRET_KEYS", required_secret("SECRET_KEYS"))
        ip_pepper = required_secret("IP_PEPPER")
        if production and len(ip_pepper) < MIN_SECRET_LENGTH:
            raise ConfigError(f"IP_PEPPER must be at least {MIN_SECRET_LENGTH} characters in production")
        write_rate_limit = _rate_limit(env, "RATE_LIMIT_WRITES", cls.write_rate_limit)
        seal_keys = key_list("SEAL_KEYS", _secret(env, "SEAL_KEYS"))
        skip = frozenset(part.strip() for part in env.get("BENCHMARK_SKIP", "").split(",") if part.strip())
        if skip - BENCHMARK_PARTS.keys():
            raise ConfigError(f"BENCHMARK_SKIP may name only {', '.join(sorted(BENCHMARK_PARTS))}")
        if skip and production:
            raise ConfigError("BENCHMARK_SKIP switches off parts of the write path: never in production")
        if skip:
            log.warning("BENCHMARK_SKIP=%s: this process does not %s. For benchmarks only.", ",".join(sorted(skip)),
                        " or ".join(BENCHMARK_PARTS[part] for part in sorted(skip)))
        region_headers = [_header_name(env, name) for name in ("REGION_COUNTRY_HEADER", "REGION_SUBDIVISION_HEADER")]
        if region_headers[1] and not region_headers[0]:
            raise ConfigError("REGION_SUBDIVISION_HEADER needs REGION_COUNTRY_HEADER")
        geoip_db = env.get("REGION_GEOIP_DB") or None
        if geoip_db and not Path(geoip_db).is_file():
            raise ConfigError("REGION_GEOIP_DB names no readable file (a MaxMind-format .mmdb database)")
        default_db = f"sqlite:///{(instance_path / 'consent.sqlite3').resolve()}"
        return cls(
            production=production,
            database_url=database_uri(env.get("DATABASE_URL") or default_db),
            redis_url=env.get("REDIS_URL") or None,
            secret_keys=keys,
            ip_pepper=ip_pepper,
            trusted_proxies=_int(env, "TRUSTED_PROXIES", 0),
            write_rate_limit=write_rate_limit,
            api_key_cache_seconds=_int(env, "API_KEY_CACHE_SECONDS", cls.api_key_cache_seconds),
            site_cache_seconds=_int(env, "SITE_CACHE_SECONDS", cls.site_cache_seconds),
            public_url=_public_url(env, production),
            seal_batch_size=_int(env, "SEAL_BATCH_SIZE", cls.seal_batch_size),
            seal_max_age_seconds=_int(env, "SEAL_MAX_AGE_SECONDS", cls.seal_max_age_seconds),
            redis_prefix=env.get("REDIS_PREFIX") or cls.redis_prefix,
            seal_keys=seal_keys or keys,
            seal_verify_keys_file=env.get("SEAL_VERIFY_KEYS_FILE") or None,
            benchmark_skip=skip,
            region_country_header=region_headers[0], region_subdivision_header=region_headers[1],
            region_geoip_db=geoip_db,
        )

    def flask_config(self) -> dict[str, Any]:
        """Everything Flask and its extensions read, derived from these settings only."""
        engine_options: dict[str, Any] = {}
        if self.database_url.startswith("postgresql"):
            # After a restart or terminated sessions, a pooled connection is tested before use
            # (pre-ping) and replaced; a database that does not answer fails in seconds, not never.
            engine_options.update(pool_size=10, max_overflow=10, pool_recycle=POOL_RECYCLE_SECONDS,
                                  pool_pre_ping=True, connect_args={"connect_timeout": 5})
        return {
            "SQLALCHEMY_DATABASE_URI": self.database_url,
            "SQLALCHEMY_ENGINE_OPTIONS": engine_options,
            "MAX_CONTENT_LENGTH": MAX_BODY_BYTES,
            "RATELIMIT_ENABLED": "limit" not in self.benchmark_skip,
            "RATELIMIT_STORAGE_URI": self.redis_url or "memory://",
            "RATELIMIT_STORAGE_OPTIONS": {"socket_timeout": 0.25, "socket_connect_timeout": 0.25},
            "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
            "RATELIMIT_SWALLOW_ERRORS": True,
            "RATELIMIT_KEY_PREFIX": self.redis_prefix + "limit",
        }
