"""What a visitor allowed, in one shape for everyone who asks: the token check, the guard, the
backend API and its client.

`status` is one of STATUSES. Only `valid` grants anything beyond `necessary`; `granted` always
holds `necessary`. `expires_at` and `recorded_at` are aware UTC datetimes in Python and ISO-8601
`Z` strings on the wire (`to_dict`/`from_dict`).

Pure standard library: the shop side imports it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from .cookie_patterns import NECESSARY
from .times import iso, parse_iso

Status = Literal["valid", "expired", "outdated", "invalid", "none", "unavailable"]
#: valid: a choice for the current policy that has not expired; expired; outdated (made under an
#: older policy version); invalid (a token that does not verify); none (no choice known);
#: unavailable (the service did not answer: the client's fail-closed stand-in).
STATUSES: tuple[Status, ...] = ("valid", "expired", "outdated", "invalid", "none", "unavailable")
NECESSARY_ONLY = frozenset({NECESSARY})


@dataclass(frozen=True)
class ConsentDecision:
    """A visitor's standing and what it allows. Unknown fields are None."""

    status: Status
    granted: frozenset[str] = NECESSARY_ONLY
    visitor_id: str | None = None
    policy_version: int | None = None
    record_id: str | None = None
    expires_at: datetime | None = None
    #: The recorded choice per category and how it was made (backend API and client only).
    choices: Mapping[str, bool] | None = None
    method: str | None = None
    recorded_at: datetime | None = None
    #: The request carried `Sec-GPC: 1` (the guard only).
    gpc: bool = False
    #: The consent model (regimes.py) the decision was made under: the token's, or before a choice
    #: the visitor's region's (the guard); None when unknown (opt-in applies).
    regime: str | None = None
    #: Why there is no usable answer (the client only, with status `unavailable`).
    error: str | None = None

    def allows(self, category: str) -> bool:
        return category in self.granted

    @property
    def decided(self) -> bool:
        """True when the visitor has a valid choice for the current policy (the banner stays closed)."""
        return self.status == "valid"

    @property
    def ok(self) -> bool:
        """True when there was an answer (whatever the visitor's status)."""
        return self.status != "unavailable"

    def to_dict(self) -> dict[str, Any]:
        """The wire form every JSON answer about a visitor's consent uses."""
        return {
            "status": self.status, "visitor_id": self.visitor_id, "granted": sorted(self.granted),
            "policy_version": self.policy_version, "record_id": self.record_id,
            "expires_at": iso(self.expires_at), "choices": dict(self.choices) if self.choices is not None else None,
            "method": self.method, "recorded_at": iso(self.recorded_at), "regime": self.regime,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ConsentDecision:
        """Read the wire form; ValueError/TypeError/KeyError when it is not one."""
        status = data["status"]
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        granted = NECESSARY_ONLY
        if status == "valid":
            granted = frozenset(str(category) for category in data.get("granted") or ()) | NECESSARY_ONLY
        version = data.get("policy_version")
        choices = data.get("choices")
        return cls(
            status=status, granted=granted, visitor_id=_text(data.get("visitor_id")),
            policy_version=version if isinstance(version, int) and not isinstance(version, bool) else None,
            record_id=_text(data.get("record_id")), expires_at=_moment(data.get("expires_at")),
            choices={str(k): bool(v) for k, v in choices.items()} if isinstance(choices, Mapping) else None,
            method=_text(data.get("method")), recorded_at=_moment(data.get("recorded_at")),
            regime=_text(data.get("regime")),
        )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _moment(value: Any) -> datetime | None:
    return parse_iso(value) if isinstance(value, str) else None
