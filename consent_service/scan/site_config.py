"""The site's public configuration, fetched the way the banner gets it: GET /v1/sites/<site>/config.

The scanner needs what a visitor is shown (categories, cookie declarations, banner texts) and nothing
secret, so it reads the public endpoint rather than the database.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote

from consent_service.scan.errors import ScanError

REQUIRED = ("site", "categories", "cookies", "texts")


def fetch_config(service_url: str, site: str, timeout: float = 10.0) -> dict[str, Any]:
    """The site's configuration from a running service; ScanError when it cannot be had."""
    if not service_url.startswith(("http://", "https://")):
        raise ScanError(f"the service URL must be http(s): {service_url!r}")
    url = f"{service_url.rstrip('/')}/v1/sites/{quote(site, safe='')}/config"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (http(s) only, checked)
            config = json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as error:
        raise ScanError(f"the service answered {error.code} for site {site!r} at {url}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise ScanError(f"cannot reach the consent service at {url}: {reason}") from None
    except ValueError:
        raise ScanError(f"the service's answer at {url} is not JSON") from None
    return check_config(config, url)


def check_config(config: Any, source: str = "the configuration") -> dict[str, Any]:
    """The keys a scan relies on are there (a config from a file or another version is checked too)."""
    if not isinstance(config, dict) or any(key not in config for key in REQUIRED):
        raise ScanError(f"{source} is not a site configuration (it needs {', '.join(REQUIRED)})")
    return config
