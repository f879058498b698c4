"""The objects one app shares between its requests, built from its settings: the Redis connection,
the caches, the record store, the sites' signing keys and the automatic sealer. Each app has its own, so
two apps in one process (tests, the benchmark) never share state."""

from __future__ import annotations

import json
import logging
from datetime import datetime

from sqlalchemy.orm import Session

from .auth import VerifiedKeyCache
from .compliance.seal_keys import SealSigner, SealVerifier
from .compliance.seals import AutoSealer
from .config import ConfigError, Settings
from .consents.cache import ConsentCache
from .consents.recording import Choice, RecordedChoice, record_choice
from .consents.store import DiscardingStore, RecordStore
from .keyring import Keyring
from .outage import OutageLog
from .redis_store import RedisStore
from .regions import RegionResolver
from .sites.signing_keys import SiteKeys, SiteKeysCache
from .sites.state import SiteState, SiteStateCache


def _retired_seal_keys(path: str | None) -> SealVerifier | None:
    """Public keys of retired seal keys, from the JWKS file SEAL_VERIFY_KEYS_FILE names."""
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            return SealVerifier.from_jwks(json.load(handle))
    except (OSError, ValueError) as error:  # SealKeyError and JSON errors are ValueErrors
        raise ConfigError(f"SEAL_VERIFY_KEYS_FILE: {error}") from None


class Services:
    """Per-app objects the request handlers, the CLI and the tests share."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        #: Logs the start and the end of a database outage (api/errors.py, db.configure_engine).
        self.database_outage = OutageLog("database", logging.getLogger("consent_service.db"))
        #: Wraps every secret key the database holds (keyring.py).
        self.keyring = Keyring(settings.secret_keys)
        skipped = settings.benchmark_skip
        self.redis = RedisStore(settings.redis_url, prefix=settings.redis_prefix)
        self.consent_cache: ConsentCache | None = None if "cache" in skipped else ConsentCache(self.redis)
        self.record_store = DiscardingStore() if "database" in skipped else RecordStore()
        self.site_states = SiteStateCache(ttl_seconds=settings.site_cache_seconds)
        self.verified_keys = VerifiedKeyCache(ttl_seconds=settings.api_key_cache_seconds)
        #: Signs seals and purge markers; its verifier holds every public key that still verifies.
        self.seal_signer = SealSigner(settings.seal_keys, _retired_seal_keys(settings.seal_verify_keys_file))
        self.auto_sealer = AutoSealer(self.seal_signer)
        #: Each site's token keys: issuer, verifier, public keys (sites/signing_keys.py).
        self.site_keys = SiteKeysCache(self.keyring, ttl_seconds=settings.site_cache_seconds)
        #: Where visitors are: the operator's trusted headers or GeoIP file (regions.py).
        self.regions = RegionResolver(settings.region_country_header, settings.region_subdivision_header,
                                      settings.region_geoip_db)

    def keys(self, session: Session, site_id: str, token: object = None) -> SiteKeys:
        """The site's signing keys; given the token about to be verified, they are read again when it
        names a key this process has not loaded yet."""
        return self.site_keys.get(session, site_id, token)

    def record(self, session: Session, site: SiteState, choice: Choice, now: datetime | None = None) -> RecordedChoice:
        """Record a choice with this app's keys, store and cache (consents.recording.record_choice)."""
        return record_choice(session, site, choice, keys=self.keys(session, site.id, choice.token),
                             store=self.record_store, keyring=self.keyring, cache=self.consent_cache, now=now)
