"""The service with parts of the write path switched off, for `core_bench --breakdown` only: side
by side with the real route it shows what the rate-limit check, the cache write and the database
write each cost a POST, and how fast the in-process work alone (validation, encryption, digests,
signing, Flask) can go. Never served for real: nothing it answers is stored or limited."""

import os

from consent_service import consent_cache, consents, create_app
from consent_service.extensions import limiter

SKIPPED = set(filter(None, os.environ.get("BENCH_SKIP", "").split(",")))
if "database" in SKIPPED:
    consents.insert_record = lambda session, record, new_key: True
if "cache" in SKIPPED:
    consent_cache.ConsentCache.put = lambda self, *args, **kwargs: None
app = create_app()
if "limit" in SKIPPED:
    limiter.enabled = False
