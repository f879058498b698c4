"""Every stable error code the service can answer with is documented: in the README's table, or in
the doc of the endpoints that use it. Clients match on codes, so a code nobody can look up is a bug."""

from __future__ import annotations

import re

from consent_service.api.errors import HTTP_CODES
from tests.support import ROOT

RAISED = re.compile(r"\b(?:ServiceError|NotFound|Conflict|Unauthorized|Forbidden)\(\s*\"([a-z_]+)\"")
#: Raised only on the way to the command line, which prints the message (`keys revoke` of an unknown key).
CLI_ONLY = {"unknown_key"}


def raised_codes() -> set[str]:
    codes = set(HTTP_CODES.values()) | {"http_error"}
    for path in (ROOT / "consent_service").rglob("*.py"):
        codes |= set(RAISED.findall(path.read_text(encoding="utf-8")))
    return codes - CLI_ONLY


def test_the_scan_finds_the_codes():
    codes = raised_codes()
    assert {"invalid_visitor_id", "origin_not_allowed", "database_unavailable", "rate_limited"} <= codes


def test_every_error_code_is_documented():
    docs = (ROOT / "README.md").read_text(encoding="utf-8") + "".join(
        path.read_text(encoding="utf-8") for path in sorted((ROOT / "docs").glob("*.md")))
    missing = sorted(code for code in raised_codes() if f"`{code}`" not in docs)
    assert not missing, f"add these codes to the README's error table (or the docs of their endpoints): {missing}"
