"""A shop's project as a developer sets it up from the docs (docs/shops/), served by a real server, and
the Set-Cookie table every stack must pass: what a browser is told to keep for each consent."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tomllib
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from consent_service.shop.set_cookie import cookie_name, is_deletion
from consent_service.shop.testing import ConsentTestKeys
from tests.support import DEMO_TOML, free_port
from tests.support.processes import ProcessGroup

#: Cookies a shop's page sets besides the framework's own: declared necessary, preferences,
#: analytics, marketing, and one declared nowhere.
APP_COOKIES = {"cart": "db-studio.2", "currency": "EUR", "_ga": "GA1.1.1", "ad_id": "a1", "tracker": "t1"}
EVERYTHING = ("necessary", "preferences", "analytics", "marketing")


def write_site_files(directory: Path, keys: ConsentTestKeys) -> Path:
    """sites/shop.toml (the demo's declarations as site `shop`, naming its JWKS file) and the JWKS."""
    sites = directory / "sites"
    sites.mkdir(parents=True, exist_ok=True)
    text = DEMO_TOML.read_text(encoding="utf-8").replace('id = "demo"', 'id = "shop"', 1)
    text = text.replace('cookie_name = "consent"', 'cookie_name = "consent"\njwks = "shop.jwks.json"', 1)
    assert tomllib.loads(text)["site"]["id"] == "shop"
    (sites / "shop.toml").write_text(text, encoding="utf-8")
    (sites / "shop.jwks.json").write_text(json.dumps(keys.jwks), encoding="utf-8")
    return sites / "shop.toml"


def tampered(token: str) -> str:
    """One character of the signature changed."""
    index = len(token) - 10
    return token[:index] + ("A" if token[index] != "A" else "B") + token[index + 1:]


def table(keys: ConsentTestKeys) -> list[tuple[str, str | None, set[str]]]:
    """(case, consent cookie, the app cookies that may be set): necessary ones only without a valid
    choice; the undeclared `tracker` never."""
    necessary = {"cart"}
    return [
        ("no consent", None, necessary),
        ("reject_all", keys.token(granted=["necessary"]), necessary),
        ("tampered token", tampered(keys.token(granted=EVERYTHING)), necessary),
        ("analytics only", keys.token(granted=["necessary", "analytics"]), necessary | {"_ga"}),
        ("accept_all", keys.token(granted=EVERYTHING), necessary | {"currency", "_ga", "ad_id"}),
    ]


def get(url: str, cookies: dict[str, str] | None = None) -> tuple[int, list[str], str]:
    """Status, Set-Cookie headers and body of a GET with these cookies."""
    request = urllib.request.Request(url)  # noqa: S310 (a local test URL)
    if cookies:
        request.add_header("Cookie", "; ".join(f"{name}={value}" for name, value in cookies.items()))
    with urllib.request.urlopen(request, timeout=20) as response:  # noqa: S310
        return response.status, response.headers.get_all("Set-Cookie") or [], response.read().decode()


def set_names(set_cookies: list[str]) -> set[str]:
    """The cookies these headers set (deletions left out)."""
    return {cookie_name(value) for value in set_cookies if not is_deletion(value)}


@contextmanager
def serving(command: list[str], cwd: Path, log: Path, url_path: str = "/") -> Iterator[str]:
    """A server command (a port appended by the caller's {port}) run in `cwd` until the block ends;
    stopped by its process group id."""
    port = free_port()
    env = {name: value for name, value in os.environ.items() if name != "DJANGO_SETTINGS_MODULE"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    group = ProcessGroup([part.format(port=port) for part in command], log, env, cwd=cwd)
    try:
        base = f"http://127.0.0.1:{port}"
        group.wait_for(base + url_path, seconds=60)
        yield base
    finally:
        group.stop()


def run_async(coroutine: Any) -> Any:
    """Run a coroutine to its end in a thread of its own: the browser tests' Playwright keeps an event
    loop running in the main thread of a full run, where asyncio.run refuses to start."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
