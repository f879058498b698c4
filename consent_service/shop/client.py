"""A small HTTP client for shop backends that would rather ask the service than verify tokens
themselves (the guard verifies locally and is faster; use this where the guard does not fit).

It keeps connections open (one urllib3 pool, safe to share between threads), bounds every call with
a connect and a read timeout, does not retry on the hot path, and fails closed: when the service does
not answer, answers with an error, or answers something unreadable, the result grants `necessary`
only and says why in `error`. Answers are the one shape of decision.py (`ConsentDecision`), with
status `unavailable` for that stand-in.

Given the site's public keys (`keys=`: a JWKS file, the site file, a JWKS document, or "service" for
the service's JWKS, fetched with its ETag and the last good copy kept), `verify_token` checks tokens
locally instead of asking.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Literal
from urllib.parse import quote

import urllib3

from ..decision import ConsentDecision
from ..tokens import TokenVerifier, key_id
from .keys import KeySource, load_keys, service_keys
from .remote import RemoteDocument

log = logging.getLogger(__name__)


class ConsentClient:
    """Ask the consent service about a visitor's consent, with an API key of the `read` scope."""

    def __init__(self, service_url: str, site_id: str, api_key: str | None = None, *,
                 keys: KeySource | Literal["service"] | None = None, connect_timeout: float = 0.5,
                 read_timeout: float = 1.0, pool_size: int = 10, keys_refresh_seconds: float = 300.0) -> None:
        self.base = f"{service_url.rstrip('/')}/v1/sites/{quote(site_id, safe='')}"
        self._headers = {"Accept": "application/json", "User-Agent": "consent-service-client"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._http = urllib3.PoolManager(
            maxsize=pool_size, block=False, retries=False,
            timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
        )
        self.keys_refresh_seconds = keys_refresh_seconds
        self._verifier: TokenVerifier | None = None
        self._remote_keys: RemoteDocument[TokenVerifier] | None = None
        self._keys_tried_at = 0.0
        if keys == "service":
            self._remote_keys = service_keys(service_url, site_id, timeout=read_timeout, http=self._http)
        elif keys is not None:
            self._verifier = TokenVerifier(site_id, load_keys(keys, site_id))

    def visitor_consent(self, visitor_id: str) -> ConsentDecision:
        """The visitor's current consent (`GET .../visitors/<id>/consent`)."""
        return self._call("GET", f"/visitors/{quote(visitor_id, safe='')}/consent")

    def verify_token(self, token: str, policy_version: int | None = None) -> ConsentDecision:
        """Verify a preference token: locally with the site's public keys when the client has them
        (then `policy_version`, the current one, makes an older token `outdated`), else by the
        service (`POST .../tokens/verify`, which knows the current version)."""
        if self._remote_keys is None and self._verifier is None:
            return self._call("POST", "/tokens/verify", {"token": token})
        verifier = self._local_verifier(token)
        if verifier is None:
            return _unavailable(f"the site's public keys are not known yet ({self._remote_keys.last_error})"
                                if self._remote_keys is not None else "no public keys")
        return verifier.verify(token, policy_version)

    def _local_verifier(self, token: str) -> TokenVerifier | None:
        """The verifier, its JWKS refreshed when stale or when the token names a key it lacks (at most
        every 5 seconds while the service does not answer)."""
        remote = self._remote_keys
        if remote is None:
            return self._verifier
        now = time.time()
        stale = remote.value is None or remote.fetched_at is None or now - remote.fetched_at > self.keys_refresh_seconds
        unknown = remote.value is not None and key_id(token) not in remote.value.keys
        if (stale or unknown) and now - self._keys_tried_at >= 5.0:
            self._keys_tried_at = now
            remote.refresh()
        return remote.value

    def close(self) -> None:
        self._http.clear()

    def __enter__(self) -> ConsentClient:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> ConsentDecision:
        headers = dict(self._headers)
        payload = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            payload = json.dumps(body).encode()
        try:
            response = self._http.request(method, self.base + path, body=payload, headers=headers,
                                          redirect=False)
        except urllib3.exceptions.HTTPError as error:
            return _unavailable(f"no answer from the consent service: {type(error).__name__}")
        try:
            data = json.loads(response.data)
        except ValueError:
            data = None
        if response.status != 200:
            code = data.get("error", {}).get("code") if isinstance(data, dict) and \
                isinstance(data.get("error"), dict) else None
            return _unavailable(f"HTTP {response.status}" + (f" {code}" if code else ""))
        if not isinstance(data, dict) or not isinstance(data.get("status"), str):
            return _unavailable("unreadable answer from the consent service")
        return _answer(data)


def _unavailable(reason: str) -> ConsentDecision:
    log.warning("consent client: %s; treating as necessary only", reason)
    return ConsentDecision("unavailable", error=reason)


def _answer(data: dict[str, Any]) -> ConsentDecision:
    try:
        return ConsentDecision.from_dict(data)
    except (KeyError, TypeError, ValueError):
        return _unavailable("unreadable answer from the consent service")
