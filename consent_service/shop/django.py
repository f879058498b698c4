"""For shops on Django: the guard as Django middleware, so it runs wherever Django runs its
middleware — under WSGI (gunicorn, `runserver`) and ASGI (uvicorn, daphne) alike, and in the
project's own tests (`django.test.Client` calls the handler, not `wsgi.py`).

    # settings.py
    MIDDLEWARE.insert(0, "consent_service.shop.django.ConsentMiddleware")
    CONSENT_GUARD = {"site_id": "shop", "declarations": BASE_DIR / "sites" / "shop.toml"}

`CONSENT_GUARD` takes ConsentGuard's options; `framework` defaults to "django", so Django's session,
CSRF, messages and language cookies (names from the settings) count as necessary. First in
MIDDLEWARE, it sees every cookie the other middleware set on the way out (sessions, CSRF, messages).
`Secure` on the re-issued consent cookie follows `request.is_secure()`, so `SECURE_PROXY_SSL_HEADER`
counts. Views read the decision with `consent(request)` (or `request.consent`), and the counters
with `guard_stats()`.

One guard per process, built from the settings on first use and rebuilt when a test overrides
`CONSENT_GUARD` (`override_settings`). Imported by name only: the shop package never imports Django.
"""

from __future__ import annotations

import threading
from http.cookies import CookieError, Morsel
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver

from ..decision import ConsentDecision
from .guard import DECISION_KEY, GPC_KEY, ConsentGuard, GuardedRequest, consent_decision, sends_gpc

_guard: ConsentGuard | None = None
_lock = threading.Lock()
#: Settings that change what the guard counts as necessary or where it reads its declarations.
_GUARD_SETTINGS = frozenset({"CONSENT_GUARD", "SESSION_COOKIE_NAME", "CSRF_COOKIE_NAME", "LANGUAGE_COOKIE_NAME"})


def get_guard() -> ConsentGuard:
    """This process's guard, built from `settings.CONSENT_GUARD` on first use."""
    global _guard
    guard = _guard
    if guard is not None:
        return guard
    with _lock:
        if _guard is None:
            options = getattr(settings, "CONSENT_GUARD", None)
            if not options:
                raise ImproperlyConfigured("ConsentMiddleware needs settings.CONSENT_GUARD (the guard's options: "
                                           "site_id, and declarations or service_url)")
            _guard = ConsentGuard(None, **{"framework": "django", **options})
        return _guard


@receiver(setting_changed)
def reset_guard(*, setting: str | None = None, **kwargs: Any) -> None:
    """Drop the guard so the next request builds it from the settings in force (override_settings)."""
    global _guard
    if setting is not None and setting not in _GUARD_SETTINGS:
        return
    with _lock:
        old, _guard = _guard, None
    if old is not None:
        old.close()


def consent(request: Any) -> ConsentDecision:
    """The guard's decision for a Django request (necessary-only when the middleware is not installed)."""
    return consent_decision(request.META)


def guard_stats() -> dict[str, Any]:
    """The guard's counters: removed and reported cookies by name, re-issues, invalid tokens."""
    return get_guard().stats.snapshot()


def _add_cookie(response: Any, line: str) -> None:
    """Add a `Set-Cookie` line the guard wrote (expiries, the re-issued consent cookie) to the
    response's cookies. A second line for a name already there (the expiry on the site's cookie
    domain beside the host-only one) goes under a key of its own: the morsel keeps the cookie's name,
    and Django's handlers write one header per morsel."""
    first, *attributes = line.split("; ")
    name, _, value = first.partition("=")
    morsel: Morsel[str] = Morsel()
    try:
        morsel.set(name, value, value)
    except CookieError:  # a name the browser sent that Django cannot write back: it stays
        return
    for attribute in attributes:
        key, _, attribute_value = attribute.partition("=")
        morsel[key.lower()] = attribute_value or True
    key = name
    while key in response.cookies:
        key += " "
    dict.__setitem__(response.cookies, key, morsel)


class ConsentMiddleware:
    """The guard inside Django: put it first in MIDDLEWARE. Sync and async capable."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)
        get_guard()  # a configuration error shows at startup, not on the first request

    def __call__(self, request: Any) -> Any:
        if self.is_async:
            return self._acall(request)
        guard, guarded = self._begin(request)
        return self._finish(self.get_response(request), guard, guarded)

    async def _acall(self, request: Any) -> Any:
        guard, guarded = self._begin(request)
        return self._finish(await self.get_response(request), guard, guarded)

    @staticmethod
    def _begin(request: Any) -> tuple[ConsentGuard, GuardedRequest]:
        guard = get_guard()
        meta = request.META
        guarded = guard.check_request(meta.get("HTTP_COOKIE", ""), sends_gpc(meta), request.is_secure(),
                                      guard.regions.from_environ(meta))
        meta[DECISION_KEY] = guarded.decision
        meta[GPC_KEY] = guarded.decision.gpc
        request.consent = guarded.decision
        return guard, guarded

    @staticmethod
    def _finish(response: Any, guard: ConsentGuard, guarded: GuardedRequest) -> Any:
        keys = list(response.cookies)
        headers = [("Set-Cookie", response.cookies[key].OutputString()) for key in keys]
        raw = response.headers.get("Set-Cookie")  # one set directly, not through set_cookie
        if raw is not None:
            headers.append(("Set-Cookie", raw))
        cache_control = response.headers.get("Cache-Control")
        if cache_control is not None:
            headers.append(("Cache-Control", cache_control))
        result = guard.response_headers(headers, guarded)
        if result is headers:
            return response
        kept = {id(header) for header in result}
        for key, header in zip(keys, headers, strict=False):
            if id(header) not in kept:
                del response.cookies[key]
        if raw is not None and id(headers[len(keys)]) not in kept:
            del response.headers["Set-Cookie"]
        ours = {id(header) for header in headers}
        for header in result:
            if id(header) not in ours and header[0] == "Set-Cookie":
                _add_cookie(response, header[1])
        return response
