"""The one error a scan raises when it cannot run at all (as opposed to findings, which it reports)."""

from __future__ import annotations


class ScanError(RuntimeError):
    """The scan could not run: no browser, an unreachable start URL, no banner to choose with.

    The message is meant for the shop owner as is; the CLI prints it and exits with status 2.
    """
