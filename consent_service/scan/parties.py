"""First party or third party: which hosts and cookie domains belong to the shop being scanned.

The shop is the host of each start URL with a leading `www.` dropped, and everything under it: a
shop at www.example.com owns example.com, cdn.example.com and static.www.example.com, but not
example-cdn.com. This needs no public-suffix list and never calls another registrable domain the
shop's own; extra hosts the operator names (a CDN on another domain) join the shop's.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def origin_of(url: str) -> str:
    """scheme://host[:port] of a URL (the default port left out, as browsers serialize origins)."""
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    port = f":{parts.port}" if parts.port and parts.port != default else ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}{port}"


def _site(host: str) -> str:
    host = host.lower().strip(".")
    return host[4:] if host.startswith("www.") and host.count(".") >= 2 else host


class Parties:
    """Decides whether a host or cookie domain is the shop's (first party) or someone else's."""

    def __init__(self, start_urls: Iterable[str], extra_hosts: Iterable[str] = (),
                 service_url: str | None = None) -> None:
        self.sites = {_site(host_of(url)) for url in start_urls} | {_site(h) for h in extra_hosts}
        self.sites.discard("")
        self.service_host = host_of(service_url) if service_url else None

    def first_party(self, host_or_domain: str) -> bool:
        host = host_or_domain.lower().lstrip(".")
        return any(host == site or host.endswith("." + site) for site in self.sites)

    def is_service(self, host: str) -> bool:
        """The consent service itself (it serves the banner): third party, but never a finding."""
        return self.service_host is not None and host.lower() == self.service_host
