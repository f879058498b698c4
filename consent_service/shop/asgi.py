"""The consent guard as ASGI middleware: Starlette, FastAPI, Django's `asgi.py`, any ASGI app.

The same rules and the same decision as the WSGI guard, because it is the same engine
(guard.ConsentGuard, driven through check_request and response_headers): it reads the `Cookie` and
`Sec-GPC` headers of the request, puts the decision in the ASGI scope (`scope["consent.decision"]`,
`scope["consent.gpc"]`; `consent_decision(request.scope)` reads it), and filters the `Set-Cookie`
headers of the `http.response.start` message. `Secure` on the re-issued consent cookie follows the
scope's scheme, which the server sets from the proxy's headers when told to trust them (uvicorn:
`--proxy-headers --forwarded-allow-ips`). WebSocket and lifespan messages pass untouched.

Pure standard library on top of guard.py: no Starlette import.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .guard import DECISION_KEY, GPC_KEY, ConsentGuard, GuardStats

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class ASGIConsentGuard:
    """ASGI middleware: `ASGIConsentGuard(app, site_id=..., declarations=... | service_url=..., ...)`
    takes ConsentGuard's options (Starlette: `app.add_middleware(ASGIConsentGuard, **options)`), or
    `guard=` a ConsentGuard to share one engine, its caches and its counters."""

    def __init__(self, app: ASGIApp, *, guard: ConsentGuard | None = None, **options: Any) -> None:
        if guard is not None and options:
            raise ValueError("give either guard= or the guard's options, not both")
        self.app = app
        self.guard = guard if guard is not None else ConsentGuard(None, **options)

    @property
    def stats(self) -> GuardStats:
        """The guard's counters (see GuardStats.snapshot)."""
        return self.guard.stats

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cookies = []
        gpc = False
        for name, value in scope.get("headers", ()):
            if name == b"cookie":
                cookies.append(value.decode("latin-1"))
            elif name == b"sec-gpc":
                gpc = value.strip(b" \t") == b"1"
        request = self.guard.check_request("; ".join(cookies), gpc, scope.get("scheme") == "https",
                                           self.guard.regions.from_asgi(scope.get("headers", ())))
        scope[DECISION_KEY] = request.decision
        scope[GPC_KEY] = request.decision.gpc

        async def guarded_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                # Only the headers the guard reads are decoded (and, if it changed them, encoded again).
                others = []
                relevant = []
                for name, value in message.get("headers", ()):
                    if name == b"set-cookie" or name == b"cache-control":
                        relevant.append((name.decode("latin-1"), value.decode("latin-1")))
                    else:
                        others.append((name, value))
                guarded = self.guard.response_headers(relevant, request)
                if guarded is not relevant:
                    # ASGI header names are lower case; the guard's own ones are written "Set-Cookie".
                    message = {**message, "headers": [*others, *[(name.lower().encode("latin-1"),
                                                                  value.encode("latin-1"))
                                                                 for name, value in guarded]]}
            await send(message)

        await self.app(scope, receive, guarded_send)

    def close(self) -> None:
        """Stop the guard's refresh thread (tests, or an orderly shutdown)."""
        self.guard.close()
