"""For a shop's own test suite: a throwaway key pair that signs consent tokens the guard accepts in
tests, so a test can ask "what does my app do for a visitor who rejected everything?" with the guard
in place (Django's test client, Flask's test client, a plain WSGI/ASGI call).

These keys are made in the test process and exist nowhere else: the guard is pointed at their public
half (`guard_options`), and the service's keys never come near a test. Production never imports this.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..tokens import PublicKeys, TokenIssuer, new_private_key

#: Options of the guard that name where the real keys and declarations come from.
_REMOTE_OPTIONS = ("service_url", "cache_file", "keys", "declarations")


class ConsentTestKeys:
    """A site's key pair for tests: `jwks` to give the guard, `token(...)` to put in the `consent` cookie."""

    def __init__(self, site_id: str, kid: str = "test-key") -> None:
        self.site_id = site_id
        self.kid = kid
        self.private = new_private_key()
        self.issuer = TokenIssuer(site_id, kid, self.private)
        self.public = PublicKeys({kid: self.private.public_key()})

    @property
    def jwks(self) -> dict[str, Any]:
        """The public half, as a JWKS document (the guard's `keys=` takes it)."""
        return self.public.jwks()

    def token(self, granted: Iterable[str] = ("necessary",), *, policy_version: int = 1,
              expires_in: float = 3600, visitor_id: str = "01J0000000000000000000TEST",
              record_id: str = "01J0000000000000000000TREC") -> str:
        """A signed consent token granting `granted` (necessary is always granted); `expires_in`
        below zero makes an expired one."""
        return self.issuer.issue(visitor_id=visitor_id, policy_version=policy_version,
                                  granted={"necessary", *granted}, record_id=record_id,
                                  expires_at=int(time.time() + expires_in))

    def guard_options(self, options: Mapping[str, Any], *, declarations: str | Path | None = None) -> dict[str, Any]:
        """The guard's options with these keys in place of the real ones, and the site file in place
        of the service (a test must not depend on it): `declarations` or the options' own."""
        declarations = declarations if declarations is not None else options.get("declarations")
        if declarations is None:
            raise ValueError("give declarations= (the site file): tests do not ask the service")
        return {**{k: v for k, v in options.items() if k not in _REMOTE_OPTIONS},
                "site_id": self.site_id, "keys": self.jwks, "declarations": declarations}
