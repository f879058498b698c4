"""Site declarations: TOML files an operator keeps in version control, validated and turned into
policy versions.

A *policy version* is an immutable snapshot of everything a visitor is shown (categories, cookie
declarations, texts). Its identity is the SHA-256 of its canonical JSON form, so syncing an unchanged
file publishes nothing and any change a visitor could notice publishes a new version. What visitors
do not see — origins, lifetimes, how the cookie scanner visits the shop (`[scan]`) — is the site's
settings, updated in place.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from ..canonical import canonical_hash
from ..cookie_patterns import COOKIE_PATTERN, NECESSARY
from ..regimes import DEFAULT_REGIME, REGIMES, categories_for, regime

#: Google Consent Mode v2 signals.
CONSENT_MODE_SIGNALS = (
    "ad_storage",
    "ad_user_data",
    "ad_personalization",
    "analytics_storage",
    "functionality_storage",
    "personalization_storage",
    "security_storage",
)
IDENTIFIER = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
TEXT_KEYS = (
    "title", "description", "accept_all", "reject_all", "customize", "save", "close", "settings",
    "preferences_title", "always_on", "gpc_notice", "download_record", "download_receipts", "erase_data",
    "privacy_policy",
)
#: The labels of the cookie declaration a privacy page shows (texts.<language>.declaration).
DECLARATION_TEXT_KEYS = ("cookie", "provider", "purpose", "lifetime", "allowed", "refused", "undecided", "change")
#: Texts a regime may set for itself (texts.<language>.regimes.<regime>): they override the shared
#: ones for that regime's visitors only, and enter only that regime's policy hash.
REGIME_TEXT_KEYS = ("title", "description", "privacy_choices", "gpc_honoured", "separate_title")
#: ISO 3166-1 alpha-2 country, or ISO 3166-2 subdivision (`US-CA`, `CN-31`).
REGION = re.compile(r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")


class SiteFileError(ValueError):
    """A site declaration that cannot be used; the message names the file, the key and the problem,
    and `code` is stable for whoever matches on it (tests, an admin API)."""

    def __init__(self, message: str, code: str = "invalid_site_file") -> None:
        super().__init__(message)
        self.code = code


def _text(max_length: int = 2000, **kwargs: Any) -> fields.String:
    return fields.String(validate=validate.Length(min=1, max=max_length), **kwargs)


class _SiteSchema(Schema):
    id = fields.String(required=True, validate=validate.Regexp(IDENTIFIER, error="must be a lowercase slug"))
    name = _text(200, required=True)
    origins = fields.List(
        fields.Url(require_tld=False, schemes={"http", "https"}), required=True,
        validate=validate.Length(min=1, max=50),
    )
    cookie_domain = fields.String(load_default="", validate=validate.Length(max=253))
    cookie_name = fields.String(load_default="consent", validate=validate.Regexp(COOKIE_PATTERN))
    default_language = fields.String(required=True, validate=validate.Regexp(LANGUAGE_TAG))
    languages = fields.List(
        fields.String(validate=validate.Regexp(LANGUAGE_TAG)), required=True,
        validate=validate.Length(min=1, max=30),
    )
    accept_lifetime_days = fields.Integer(load_default=365, validate=validate.Range(1, 3650))
    refuse_lifetime_days = fields.Integer(load_default=182, validate=validate.Range(1, 3650))
    retention_buffer_days = fields.Integer(load_default=1095, validate=validate.Range(0, 36500))
    privacy_policy_url = fields.Url(require_tld=False, load_default=None)
    #: The JWKS file a shop's guard reads the site's public keys from (relative to the site file);
    #: the service ignores it (it holds the keys).
    jwks = fields.String(load_default=None, validate=validate.Length(min=1, max=500))

    @validates_schema
    def _default_is_declared(self, data: dict, **_: Any) -> None:
        if data.get("default_language") not in data.get("languages", []):
            raise ValidationError("must be one of site.languages", "default_language")
        for origin in data.get("origins", []):
            if origin.rstrip("/").count("/") > 2:
                raise ValidationError(f"{origin!r} is not a bare origin (scheme://host[:port])", "origins")


class _CategorySchema(Schema):
    required = fields.Boolean(load_default=False)
    consent_mode = fields.List(fields.String(validate=validate.OneOf(CONSENT_MODE_SIGNALS)), load_default=list)
    #: A separate-consent purpose (PIPL): its own choice, never part of "accept all".
    separate = fields.Boolean(load_default=False)
    #: The regimes whose visitors are asked about it (all when absent).
    regimes = fields.List(fields.String(), validate=validate.Length(min=1, max=10))


class _RegimesSchema(Schema):
    """Which consent model applies where: `default` for regions the map does not name."""

    default = fields.String(load_default=DEFAULT_REGIME)
    regions = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict,
                          validate=validate.Length(max=500))


class _TextInEveryLanguage(fields.Field):
    """A text that reads the same in every language (`provider = "Demo Software Shop"`), or one per
    language like a purpose (`lifetime = { en = "30 days", zh-CN = "30 天" }`)."""

    def __init__(self, max_length: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.one = _text(max_length)
        self.per_language = fields.Dict(keys=fields.String(), values=_text(max_length),
                                        validate=validate.Length(min=1))

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str | dict[str, str]:
        if isinstance(value, str):
            return self.one.deserialize(value)
        if isinstance(value, dict):
            return self.per_language.deserialize(value)
        raise ValidationError("must be a text, or a table of texts by language")


class _CookieSchema(Schema):
    name = fields.String(validate=validate.Regexp(COOKIE_PATTERN))
    pattern = fields.String(validate=validate.Regexp(COOKIE_PATTERN))
    category = fields.String(required=True)
    provider = _TextInEveryLanguage(200, required=True)
    lifetime = _TextInEveryLanguage(100, required=True)
    purpose = fields.Dict(keys=fields.String(), values=_text(), required=True)

    @validates_schema
    def _name_or_pattern(self, data: dict, **_: Any) -> None:
        if ("name" in data) == ("pattern" in data):
            raise ValidationError("give exactly one of name or pattern", "name")


class _InteractionSchema(Schema):
    """A step the scanner takes on matching pages: click `click` (a CSS selector) where the page's
    path (or URL) matches the glob `page` (every page when there is none)."""

    page = fields.String(validate=validate.Length(min=1, max=300))
    click = fields.String(required=True, validate=validate.Length(min=1, max=300))


class _ScanSchema(Schema):
    """How `consent-service scan` visits the shop by default (the command's options override it)."""

    start_urls = fields.List(fields.Url(require_tld=False, schemes={"http", "https"}),
                             load_default=list, validate=validate.Length(max=50))
    max_pages = fields.Integer(load_default=20, validate=validate.Range(1, 1000))
    interactions = fields.List(fields.Nested(_InteractionSchema), load_default=list,
                               validate=validate.Length(max=50))


class _CategoryTextSchema(Schema):
    title = _text(200, required=True)
    description = _text(required=True)


class _DeclarationTextSchema(Schema):
    class Meta:
        include = {key: _text(200, required=True) for key in DECLARATION_TEXT_KEYS}


class _TextsSchema(Schema):
    categories = fields.Dict(keys=fields.String(), values=fields.Nested(_CategoryTextSchema), required=True)
    declaration = fields.Nested(_DeclarationTextSchema, required=True)
    regimes = fields.Dict(keys=fields.String(), values=fields.Dict(
        keys=fields.String(validate=validate.OneOf(REGIME_TEXT_KEYS)), values=_text()))

    class Meta:
        include = {key: _text(required=True) for key in TEXT_KEYS}


class _DeclarationSchema(Schema):
    site = fields.Nested(_SiteSchema, required=True)
    categories = fields.Dict(keys=fields.String(validate=validate.Regexp(IDENTIFIER)),
                             values=fields.Nested(_CategorySchema), required=True)
    cookies = fields.List(fields.Nested(_CookieSchema), load_default=list, validate=validate.Length(max=500))
    texts = fields.Dict(keys=fields.String(), values=fields.Nested(_TextsSchema), required=True)
    scan = fields.Nested(_ScanSchema, load_default=lambda: _ScanSchema().load({}))
    regimes = fields.Nested(_RegimesSchema, load_default=lambda: _RegimesSchema().load({}))

    @validates_schema
    def _consistent(self, data: dict, **_: Any) -> None:
        categories = data.get("categories", {})
        if categories.get(NECESSARY, {}).get("required") is not True:
            raise ValidationError("a 'necessary' category with required = true must be declared", "categories")
        for name, category in categories.items():
            if category["required"] and name != NECESSARY:
                raise ValidationError(f"only 'necessary' may be required, not {name!r}", "categories")
        for index, cookie in enumerate(data.get("cookies", [])):
            if cookie["category"] not in categories:
                raise ValidationError(f"cookies[{index}].category {cookie['category']!r} is not declared",
                                      "cookies")
        languages = data.get("site", {}).get("languages", [])
        for language in languages:
            texts = data.get("texts", {}).get(language)
            if texts is None:
                raise ValidationError(f"missing texts for language {language!r}", "texts")
            missing = [c for c in categories if c not in texts["categories"]]
            if missing:
                raise ValidationError(f"texts.{language}.categories lacks {missing}", "texts")
            for index, cookie in enumerate(data.get("cookies", [])):
                for key in ("purpose", "provider", "lifetime"):
                    if isinstance(cookie[key], dict) and language not in cookie[key]:
                        raise ValidationError(f"cookies[{index}].{key} lacks language {language!r}", "cookies")
        origins = {origin.rstrip("/") for origin in data.get("site", {}).get("origins", [])}
        for index, url in enumerate(data.get("scan", {}).get("start_urls", [])):
            parts = urlsplit(url)
            if f"{parts.scheme}://{parts.netloc}" not in origins:
                raise ValidationError(f"start_urls[{index}] {url!r} is not on one of site.origins (the banner "
                                      "shows only there)", "scan")


def _check_regimes(data: dict[str, Any], source: str) -> None:
    """What the schema cannot say about regimes, each with its stable code."""
    def fail(code: str, message: str) -> None:
        raise SiteFileError(f"{source}: {message}", code)

    regimes = data["regimes"]
    for where, name in [("regimes.default", regimes["default"]),
                        *((f"regimes.regions.{region}", name) for region, name in regimes["regions"].items())]:
        if name not in REGIMES:
            fail("unknown_regime", f"{where}: {name!r} is not one of {', '.join(REGIMES)}")
    for region in regimes["regions"]:
        if not REGION.match(region):
            fail("invalid_region", f"regimes.regions: {region!r} is not an ISO 3166-1 country or ISO 3166-2 "
                 "subdivision code (upper case, e.g. FR or US-CA)")
    for name, category in data["categories"].items():
        for listed in category.get("regimes", []):
            if listed not in REGIMES:
                fail("unknown_regime", f"categories.{name}.regimes: {listed!r} is not one of {', '.join(REGIMES)}")
        if category["separate"] and (name == NECESSARY or category["required"]):
            fail("invalid_separate_purpose", f"categories.{name}: a separate-consent purpose cannot be required")
    in_use = {regimes["default"], *regimes["regions"].values()}
    for language, texts in data["texts"].items():
        for name in texts.get("regimes", {}):
            if name not in REGIMES:
                fail("unknown_regime", f"texts.{language}.regimes: {name!r} is not one of {', '.join(REGIMES)}")
        for name in sorted(in_use):
            model = regime(name)
            own = texts.get("regimes", {}).get(name, {})
            needed = (["privacy_choices"] if model.first_layer == "link" else []) + (
                ["gpc_honoured"] if model.gpc_display else [])
            needed += ["separate_title"] if model.separate_purposes and any(
                c.get("separate") for c in data["categories"].values()) else []
            missing = [key for key in needed if key not in own]
            if missing:
                fail("regime_texts_missing", f"texts.{language}.regimes.{name} lacks {', '.join(missing)} "
                     f"(regime {name!r} is in use)")


def _flatten(messages: Any, prefix: str = "") -> list[str]:
    """Turn marshmallow's nested error dict into 'dotted.key: problem' lines."""
    if isinstance(messages, dict):
        lines = []
        for key, value in messages.items():
            if key == "_schema":
                lines += _flatten(value, prefix)
                continue
            if isinstance(key, int):
                path = f"{prefix}[{key}]"
            else:
                path = f"{prefix}.{key}" if prefix else str(key)
            lines += _flatten(value, path)
        return lines
    if isinstance(messages, list):
        lines = []
        for item in messages:
            lines += _flatten(item, prefix)
        return lines
    return [f"{prefix or '(top level)'}: {messages}"]


@dataclass(frozen=True)
class SiteDeclaration:
    """A validated site file: operational `settings` (origins, lifetimes, cookie name and domain),
    and the `notice`: everything a visitor is shown (categories, cookie declarations, texts)."""

    site_id: str
    settings: dict[str, Any]
    notice: dict[str, Any]

    @property
    def policy_hash(self) -> str:
        """The SHA-256 of the notice's canonical form: what names a policy version."""
        return canonical_hash(self.notice)


def parse_declaration(raw: dict[str, Any], source: str = "<declaration>") -> SiteDeclaration:
    """Validate a decoded declaration; raise SiteFileError naming the source, key and problem."""
    try:
        data = _DeclarationSchema().load(raw)
    except ValidationError as error:
        problems = "; ".join(_flatten(error.messages))
        raise SiteFileError(f"{source}: {problems}") from None
    _check_regimes(data, source)
    site = data["site"]
    notice = {
        "languages": site["languages"],
        "default_language": site["default_language"],
        "categories": [_category(name, category) for name, category in data["categories"].items()],
        "cookies": data["cookies"],
        "texts": {language: data["texts"][language] for language in site["languages"]},
        "privacy_policy_url": site["privacy_policy_url"],
    }
    settings = {key: site[key] for key in (
        "name", "origins", "cookie_domain", "cookie_name", "accept_lifetime_days",
        "refuse_lifetime_days", "retention_buffer_days",
    )}
    settings["origins"] = [origin.rstrip("/") for origin in settings["origins"]]
    # Visitors never see how the shop is scanned: a setting, outside the notice and its hash.
    settings["scan"] = data["scan"]
    # Which regime applies where is not shown to a visitor: a visitor whose region moves to another
    # regime is asked again because its token names the old regime, not because the policy changed.
    settings["regimes"] = data["regimes"]
    return SiteDeclaration(site_id=site["id"], settings=settings, notice=notice)


def _category(name: str, category: dict[str, Any]) -> dict[str, Any]:
    """A category as the notice holds it; `separate` and `regimes` only when set, so that a site
    without regimes keeps the notice (and policy hash) it had before they existed."""
    entry: dict[str, Any] = {"id": name, "required": category["required"], "consent_mode": category["consent_mode"]}
    if category["separate"]:
        entry["separate"] = True
    if "regimes" in category:
        entry["regimes"] = sorted(category["regimes"])
    return entry


def regime_notice(notice: dict[str, Any], regime_id: str) -> dict[str, Any]:
    """What a visitor under one regime is shown: the regime's categories, their cookies, the texts
    with the regime's own overriding the shared ones, and the regime's model. Its hash is that
    regime's policy hash: a change elsewhere in the notice does not ask these visitors again."""
    categories = categories_for(notice["categories"], regime_id)
    shown = {category["id"] for category in categories}
    texts = {}
    for language, language_texts in notice["texts"].items():
        merged = {key: value for key, value in language_texts.items() if key != "regimes"}
        merged.update(language_texts.get("regimes", {}).get(regime_id, {}))
        merged["categories"] = {c: t for c, t in language_texts["categories"].items() if c in shown}
        texts[language] = merged
    return {
        **{key: value for key, value in notice.items() if key not in ("categories", "cookies", "texts")},
        "categories": categories,
        "cookies": [cookie for cookie in notice["cookies"] if cookie["category"] in shown],
        "texts": texts,
        "regime": regime(regime_id).describe(),
    }


def regime_hashes(notice: dict[str, Any]) -> dict[str, str]:
    """Each built-in regime's policy hash under this notice."""
    return {name: canonical_hash(regime_notice(notice, name)) for name in REGIMES}


def load_site_file(path: str | Path) -> SiteDeclaration:
    """Read and validate one TOML site file."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise SiteFileError(f"{path}: cannot read: {error.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise SiteFileError(f"{path}: not valid TOML: {error}") from None
    return parse_declaration(raw, str(path))


def category_ids(notice: dict[str, Any]) -> list[str]:
    return [category["id"] for category in notice["categories"]]
