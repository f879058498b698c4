"""The cookie declaration a privacy page shows: every declared cookie by category, with its provider,
purpose and lifetime, in one of the site's languages.

It is built from the current policy version, so it always says what the banner asks about. The same
document is served as JSON (the banner fills `<div data-consent-declaration>` from it) and as an HTML
fragment for pages rendered on the server; the fragment escapes every declared text (a template with
autoescaping: nothing from a site file is ever markup).
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, StrictUndefined

from ..errors import NotFound, ServiceError
from .declaration import LANGUAGE_TAG
from .state import SiteState

MAX_LANGUAGE_LENGTH = 35

_FRAGMENT = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True).from_string(
    """<div lang="{{ language }}">
{% for category in categories %}
<section>
<h3>{{ category.title }}</h3>
<p>{{ category.description }}</p>
{% if category.required %}
<p>{{ labels.always_on }}</p>
{% endif %}
{% if category.cookies %}
<table>
<thead><tr><th>{{ labels.cookie }}</th><th>{{ labels.provider }}</th><th>{{ labels.purpose }}</th>\
<th>{{ labels.lifetime }}</th></tr></thead>
<tbody>
{% for cookie in category.cookies %}
<tr><td>{{ cookie.name }}</td><td>{{ cookie.provider }}</td><td>{{ cookie.purpose }}</td>\
<td>{{ cookie.lifetime }}</td></tr>
{% endfor %}
</tbody>
</table>
{% endif %}
</section>
{% endfor %}
<button type="button" data-consent-settings>{{ labels.change }}</button>
</div>
""")


def pick_language(site: SiteState, wanted: str | None) -> str:
    """The site's language for a requested tag, as the banner picks one: an exact match (any case),
    else the first whose primary subtag matches (`zh`, `zh-Hans` pick `zh-CN`), else the site's
    default. A tag that is not one (too long, stray characters) is a 400."""
    default = site.notice["default_language"]
    if wanted is None or wanted == "":
        return default
    if len(wanted) > MAX_LANGUAGE_LENGTH or not LANGUAGE_TAG.match(wanted):
        raise ServiceError("invalid_language", "lang must be a language tag such as en or zh-CN",
                           details={"parameter": "lang"})
    declared = {language.lower(): language for language in site.languages}
    exact = declared.get(wanted.lower())
    if exact is not None:
        return exact
    primary = wanted.split("-")[0].lower()
    return next((language for language in site.languages if language.split("-")[0].lower() == primary), default)


def cookie_declaration(site: SiteState, language: str, regime_id: str | None = None) -> dict[str, Any]:
    """The declaration in `language` (one of the site's, see pick_language) as plain JSON data, as
    the visitor's regime shows it (opt-in by default)."""
    view = site.regime_view(regime_id)
    texts = view["texts"][language]
    if "declaration" not in texts:
        raise NotFound("no_declaration_texts", f"site {site.id!r} has no labels for its cookie declaration in "
                       f"policy version {site.version}; add [texts.<language>.declaration] and sync the site file")
    default = site.notice["default_language"]

    def text(value: str | dict[str, str]) -> str:
        """A declared text in this language: one for every language, or this language's own."""
        return value if isinstance(value, str) else value.get(language) or value[default]

    categories = []
    for category in view["categories"]:
        heading = texts["categories"][category["id"]]
        cookies = [{
            "name": cookie.get("name") or cookie["pattern"], "pattern": "pattern" in cookie,
            "provider": text(cookie["provider"]), "lifetime": text(cookie["lifetime"]),
            "purpose": text(cookie["purpose"]),
        } for cookie in view["cookies"] if cookie["category"] == category["id"]]
        categories.append({"id": category["id"], "required": category["required"], "title": heading["title"],
                           "description": heading["description"], "cookies": cookies})
    return {
        "site": site.id, "policy_version": site.regime_version(regime_id), "policy_hash": site.regime_hash(regime_id),
        "language": language, "languages": site.languages,
        "labels": {**texts["declaration"], "always_on": texts["always_on"]},
        "privacy_policy_url": site.notice["privacy_policy_url"],
        "categories": categories,
    }


def declaration_fragment(declaration: dict[str, Any]) -> str:
    """The declaration as an HTML fragment (headings are <h3>: put it under a section's <h2>)."""
    return _FRAGMENT.render(**declaration)
