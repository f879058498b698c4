"""The embeddable banner script: the modules in ``src/`` joined into one IIFE, minified, with a
site's configuration inlined, and compressed once per configuration.

The modules are plain script files named by concern and joined in the order of ``MODULES``, the one
place that order is written; a file in ``src/`` that is not listed, or a listed one that is missing,
stops the build. Joined, they share one function scope, ``(function(C,CSS,V){'use strict'; ...})``
with the configuration, the stylesheet and the version as arguments, so the rule is by convention: a
module uses only top-level names of its own or of modules listed before it, and what changes at run
time is a field of the state object ``S`` declared in ``core.js``. tests/banner/test_bundle.py
checks the rule; docs/banner.md describes the modules.

The build runs in Python at render time (rjsmin, rcssmin), so a clean checkout needs no Node step and
no generated file can go stale. The minified code is built once per process; each distinct
configuration is rendered and compressed once and then served from memory.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import brotli
import rcssmin
import rjsmin

#: Where the banner's sources live: ``src/*.js`` (joined in the order of ``MODULES``) and ``banner.css``.
SOURCE_DIR = Path(__file__).resolve().parent
#: The banner's modules in ``src/``, in the order they are joined: the one place that order is written.
#: A module may use only top-level names declared in itself or in a module listed before it
#: (tests/banner/test_bundle.py checks this).
MODULES = (
    "core.js",
    "cookies.js",
    "consent-mode.js",
    "held-back.js",
    "language.js",
    "records.js",
    "verify.js",
    "state.js",
    "ui.js",
    "opt-out.js",
    "separate.js",
    "declaration.js",
    "api.js",
    "start.js",
)
#: Modules only some regimes' banners carry, and the test of a configuration that needs each: every
#: byte is paid on every page view, so an opt-in visitor's banner carries no opt-out or PIPL code.
#: No module may use their names (only the fields they set on S).
REGIME_MODULES: dict[str, Callable[[dict[str, Any]], bool]] = {
    "opt-out.js": lambda config: config["regime"].get("layer") == "link",
    "separate.js": lambda config: any(category.get("separate") for category in config["categories"]),
}
#: Bumped by hand on behaviour changes; the build adds a digest of the sources.
BANNER_RELEASE = "1"
_CONFIG_SLOT = "__CONSENT_CONFIG__"
#: Configuration the banner never reads, left out of the script (it stays in /config): every byte
#: is sent on every page view.
NOT_INLINED = ("policy_hash", "jurisdictions")
#: What a cookie declaration keeps in the script: enough to delete refused cookies, so only the
#: cookies of categories a visitor can refuse (a required category's cookies are never deleted).
#: Providers, purposes and lifetimes, like the categories' descriptions, come with the cookie
#: declaration (GET …/declaration) that the preferences view and a privacy page fetch when they need them.
INLINED_COOKIE_KEYS = ("name", "pattern", "category")


def script_config(config: dict[str, Any]) -> dict[str, Any]:
    """The part of a site's configuration (the dict /config serves) that the script carries."""
    inlined = {key: value for key, value in config.items() if key not in NOT_INLINED}
    required = {category["id"] for category in config["categories"] if category.get("required")}
    inlined["cookies"] = [{key: cookie[key] for key in INLINED_COOKIE_KEYS if key in cookie}
                          for cookie in config["cookies"] if cookie["category"] not in required]
    inlined["texts"] = {language: {**texts, "categories": {category: {"title": text["title"]}
                                                           for category, text in texts["categories"].items()}}
                        for language, texts in config["texts"].items()}
    return inlined


@dataclass(frozen=True)
class BannerBundle:
    """One site's banner script, ready to serve: identity, gzip and brotli encodings and a strong ETag."""

    body: bytes
    gzip: bytes
    br: bytes
    etag: str


def _json_for_script(value: Any, **kwargs: Any) -> str:
    """JSON that is also a safe JavaScript expression: ASCII only (no charset surprises on the shop's
    page) and no '<', so it stays inert even if someone inlines the script in HTML."""
    text = json.dumps(value, ensure_ascii=True, separators=(",", ":"), **kwargs)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def module_paths(src_dir: Path, modules: tuple[str, ...] = MODULES) -> list[Path]:
    """The sources to join, in order. Every ``*.js`` file in ``src_dir`` must be listed exactly once
    and every listed file must exist; anything else is a build error, not a silently different banner."""
    present = {path.name for path in src_dir.glob("*.js")}
    problems = [f"{name} is listed twice" for name in sorted(set(modules)) if modules.count(name) > 1]
    problems += [f"{name} is listed but missing" for name in modules if name not in present]
    problems += [f"{name} is not listed in MODULES" for name in sorted(present - set(modules))]
    if problems:
        raise RuntimeError(f"banner sources in {src_dir.name}/: " + "; ".join(problems))
    return [src_dir / name for name in modules]


def modules_for(config: dict[str, Any]) -> tuple[str, ...]:
    """The modules a configuration's banner carries: every one but the regime modules it does not need."""
    return tuple(name for name in MODULES if name not in REGIME_MODULES or REGIME_MODULES[name](config))


@lru_cache(maxsize=8)
def build_template(modules: tuple[str, ...] = MODULES) -> tuple[str, str]:
    """Minified script with a slot for the configuration, and the banner version it carries (one
    version for every set of modules: it names the sources, all of them)."""
    parts = module_paths(SOURCE_DIR / "src")
    sources = {part.name: part.read_text(encoding="utf-8") for part in parts}
    source = "\n".join(sources[name] for name in modules)
    css = (SOURCE_DIR / "banner.css").read_text(encoding="utf-8")
    digest = hashlib.sha256(("\n".join(sources.values()) + "\0" + css).encode()).hexdigest()
    version = f"{BANNER_RELEASE}.{digest[:12]}"
    script = (
        "(function(C,CSS,V){'use strict';\n" + source + "\n})("
        + _CONFIG_SLOT + "," + _json_for_script(rcssmin.cssmin(css)) + "," + _json_for_script(version) + ");"
    )
    minified = rjsmin.jsmin(script)
    if minified.count(_CONFIG_SLOT) != 1:
        raise RuntimeError("the banner sources must not mention the configuration slot name")
    return minified, version


def banner_version() -> str:
    """The version string every record made through this build carries (at most 32 characters)."""
    return build_template()[1]


def canonical_config(config: dict[str, Any]) -> str:
    """The configuration as the script embeds it; equal configurations give equal text."""
    return _json_for_script(config, sort_keys=True)


@lru_cache(maxsize=256)
def _render(config_json: str, modules: tuple[str, ...]) -> BannerBundle:
    template, _ = build_template(modules)
    body = template.replace(_CONFIG_SLOT, config_json).encode("ascii")
    return BannerBundle(
        body=body,
        gzip=gzip.compress(body, compresslevel=9, mtime=0),
        br=brotli.compress(body, mode=brotli.MODE_TEXT, quality=11),
        etag='"' + hashlib.sha256(body).hexdigest() + '"',
    )


def render_banner(config: dict[str, Any]) -> BannerBundle:
    """The banner for one site configuration (the dict served at ``/v1/sites/<site>/config``).

    Rendered and compressed once per distinct configuration; later calls return the cached bundle.
    """
    return _render(canonical_config(script_config(config)), modules_for(config))


def not_found_script(site_id: str) -> bytes:
    """Harmless JavaScript for a site the service does not know: a console warning, no DOM changes."""
    message = _json_for_script(f"consent: unknown site {str(site_id)[:100]!r}; no banner shown")
    return f"console.warn({message});\n".encode("ascii")
