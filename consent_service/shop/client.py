"""A small HTTP client for shop backends that would rather ask the service than verify tokens
themselves (the guard verifies locally and is faster; use this where the guard does not fit).

It keeps connections open (one urllib3 pool, safe to share between threads), bounds every call with
a connect and a read timeout, does not retry on the hot path, and fails closed: when the service does
not answer, answers with an error, or answers something unreadable, the result grants `necessary`
only and says why in `error`. Answers are the one shape of decision.py (`ConsentDecision`), with
status `unavailable` for that stand-in.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import quote

import urllib3

from ..decision import ConsentDecision

log = logging.getLogger(__name__)


class ConsentClient:
    """Ask the consent service about a visitor's consent, with an API key of the `read` scope."""

    def __init__(self, service_url: str, site_id: str, api_key: str, *, connect_timeout: float = 0.5,
                 read_timeout: float = 1.0, pool_size: int = 10) -> None:
        self.base = f"{service_url.rstrip('/')}/v1/sites/{quote(site_id, safe='')}"
        self._headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json",
                         "User-Agent": "consent-service-client"}
        self._http = urllib3.PoolManager(
            maxsize=pool_size, block=False, retries=False,
            timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
        )

    def visitor_consent(self, visitor_id: str) -> ConsentDecision:
        """The visitor's current consent (`GET .../visitors/<id>/consent`)."""
        return self._call("GET", f"/visitors/{quote(visitor_id, safe='')}/consent")

    def verify_token(self, token: str) -> ConsentDecision:
        """Have the service verify a preference token (`POST .../tokens/verify`)."""
        return self._call("POST", "/tokens/verify", {"token": token})

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
