"""Query strings are strict: an unknown parameter is a 400 naming the ones allowed, so a typo in
an auditor's filter never silently widens an export."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import ServiceError


def check_parameters(args: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(name for name in args if name not in allowed)
    if unknown:
        raise ServiceError("unknown_parameter", f"unknown query parameter: {unknown[0][:40]}",
                           details={"allowed": list(allowed)})

