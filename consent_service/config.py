"""Settings read from the environment.

Secrets (`SECRET_KEYS`, `IP_PEPPER`) come from the environment or from a file named by the same
variable with `_FILE` appended. In production (`CONSENT_ENV=production`) a missing secret stops
start-up with an error naming the variable; in development a random one is generated once, kept in
the instance folder and announced loudly, so restarts and several workers agree on it.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
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
    if name not in known:
        known[name] = secrets.token_urlsafe(32)
        instance_path.mkdir(parents=True, exist_ok=True)
        store.write_text(json.dumps(known), encoding="utf-8")
        store.chmod(0o600)
    log.warning("%s is not set: using a generated DEVELOPMENT secret kept in the instance folder. "
                "Set %s (or %s_FILE) before running in production.", name, name, name)
    return known[name]


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
    public_url: str | None = None
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
    #: Parts of the write path switched off, for the benchmark that measures what each costs
    #: (`limit`, `cache`, `database`); never allowed in production.
    benchmark_skip: frozenset[str] = frozenset()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, instance_path: str | Path = "instance") -> "Settings":
        env = os.environ if env is None else env
        instance_path = Path(instance_path)
        production = env.get("CONSENT_ENV", "development").lower() == "production"

        def required_secret(name: str) -> str:
            value = _secret(env, name)
            if value:
                return value
            if production:
                raise ConfigError(f"{name} is required in production (set {name} or {name}_FILE)")
            return _dev_secret(instance_path, name)

        keys = [key.strip() for key in required_secret("SECRET_KEYS").split(",") if key.strip()]
        if production and any(len(key) < 32 for key in keys):
            raise ConfigError("SECRET_KEYS: every key must be at least 32 characters in production")
        seal_keys = [key.strip() for key in (_secret(env, "SEAL_KEYS") or "").split(",") if key.strip()]
        if production and any(len(key) < 32 for key in seal_keys):
            raise ConfigError("SEAL_KEYS: every key must be at least 32 characters in production")
        skip = frozenset(part.strip() for part in env.get("BENCHMARK_SKIP", "").split(",") if part.strip())
        if skip - BENCHMARK_PARTS.keys():
            raise ConfigError(f"BENCHMARK_SKIP may name only {', '.join(sorted(BENCHMARK_PARTS))}")
        if skip and production:
            raise ConfigError("BENCHMARK_SKIP switches off parts of the write path: never in production")
        if skip:
            log.warning("BENCHMARK_SKIP=%s: this process does not %s. For benchmarks only.", ",".join(sorted(skip)),
                        " or ".join(BENCHMARK_PARTS[part] for part in sorted(skip)))
        default_db = f"sqlite:///{(instance_path / 'consent.sqlite3').resolve()}"
        return cls(
            production=production,
            database_url=database_uri(env.get("DATABASE_URL") or default_db),
            redis_url=env.get("REDIS_URL") or None,
            secret_keys=keys,
            ip_pepper=required_secret("IP_PEPPER"),
            trusted_proxies=_int(env, "TRUSTED_PROXIES", 0),
            write_rate_limit=env.get("RATE_LIMIT_WRITES") or cls.write_rate_limit,
            api_key_cache_seconds=_int(env, "API_KEY_CACHE_SECONDS", cls.api_key_cache_seconds),
            site_cache_seconds=_int(env, "SITE_CACHE_SECONDS", cls.site_cache_seconds),
            public_url=(env.get("PUBLIC_URL") or "").rstrip("/") or None,
            seal_batch_size=_int(env, "SEAL_BATCH_SIZE", cls.seal_batch_size),
            seal_max_age_seconds=_int(env, "SEAL_MAX_AGE_SECONDS", cls.seal_max_age_seconds),
            redis_prefix=env.get("REDIS_PREFIX") or cls.redis_prefix,
            seal_keys=seal_keys or keys,
            seal_verify_keys_file=env.get("SEAL_VERIFY_KEYS_FILE") or None,
            benchmark_skip=skip,
        )

    def flask_config(self) -> dict[str, Any]:
        """Everything Flask and its extensions read, derived from these settings only."""
        engine_options: dict[str, Any] = {}
        if self.database_url.startswith("postgresql"):
            engine_options.update(pool_size=10, max_overflow=10, pool_recycle=POOL_RECYCLE_SECONDS)
        return {
            "SQLALCHEMY_DATABASE_URI": self.database_url,
            "SQLALCHEMY_ENGINE_OPTIONS": engine_options,
            "MAX_CONTENT_LENGTH": 8 * 1024,
            "RATELIMIT_ENABLED": "limit" not in self.benchmark_skip,
            "RATELIMIT_STORAGE_URI": self.redis_url or "memory://",
            "RATELIMIT_STORAGE_OPTIONS": {"socket_timeout": 0.25, "socket_connect_timeout": 0.25},
            "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
            "RATELIMIT_SWALLOW_ERRORS": True,
            "RATELIMIT_KEY_PREFIX": self.redis_prefix + "limit",
        }
