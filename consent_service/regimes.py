"""The built-in consent models ("regimes") and what each means for a site's categories.

A regime decides three things for a visitor of its jurisdiction:

- which categories are allowed *before* the visitor chooses (opt-in: none but necessary; UK: also
  statistics and functionality, which PECR as amended by the Data (Use and Access) Act 2025 lets run
  with clear information and an easy objection; US opt-out and notice: all, until the visitor opts out);
- what the first layer is: a `dialog` that asks before anything runs, or a `link` ("Your privacy
  choices") that informs and lets the visitor opt out at any time;
- what a Global Privacy Control signal means: in every regime it refuses advertising; in `us-opt-out`
  it is a valid opt-out request (CCPA regs §7025) that is recorded as such and, where `gpc_display`,
  shown as honoured ("Opt-Out Request Honored").

Separate-consent purposes (PIPL arts. 23, 38-39: transfer abroad, sharing with another handler) are
categories declared with `separate = true`: never granted by "accept all", never allowed before a
choice, shown as their own choices.

Pure standard library: the service, the shop's guard and the docs' tables all read it.
docs/jurisdictions.md cites the rule behind every default.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from .cookie_patterns import NECESSARY

Before = Literal["necessary", "functional", "all"]
FirstLayer = Literal["dialog", "link"]

#: Consent Mode signals of categories the UK's PECR exceptions cover (statistics; appearance and
#: functionality): a category whose signals are all among these may run before a choice there.
UK_EXEMPT_SIGNALS = frozenset({"analytics_storage", "functionality_storage", "personalization_storage"})


@dataclass(frozen=True)
class Regime:
    """One consent model. Its fields enter each regime's policy hash: changing a built-in model
    publishes a new version for its visitors only."""

    id: str
    #: What runs before a choice: necessary only, also the UK-exempt categories, or every non-separate one.
    before: Before
    first_layer: FirstLayer
    #: GPC is recorded as an opt-out of advertising (a CCPA "opt-out preference signal").
    gpc_opt_out: bool
    #: The banner says the signal was honoured (CCPA regs §7025(c)(6), from 1 January 2026).
    gpc_display: bool
    #: Categories declared `separate` are shown (as their own choices) in this regime.
    separate_purposes: bool

    def describe(self) -> dict[str, Any]:
        return asdict(self)


REGIMES: dict[str, Regime] = {regime.id: regime for regime in (
    Regime("opt-in", "necessary", "dialog", gpc_opt_out=False, gpc_display=False, separate_purposes=False),
    Regime("uk", "functional", "dialog", gpc_opt_out=False, gpc_display=False, separate_purposes=False),
    Regime("us-opt-out", "all", "link", gpc_opt_out=True, gpc_display=True, separate_purposes=False),
    Regime("china", "necessary", "dialog", gpc_opt_out=False, gpc_display=False, separate_purposes=True),
    Regime("notice", "all", "link", gpc_opt_out=False, gpc_display=False, separate_purposes=False),
)}
DEFAULT_REGIME = "opt-in"


def regime(regime_id: str | None) -> Regime:
    """The built-in regime of that id; the default (opt-in) for None or an unknown id, the safe side."""
    return REGIMES.get(regime_id or DEFAULT_REGIME) or REGIMES[DEFAULT_REGIME]


def regime_for_region(mapping: Mapping[str, Any] | None, region: str | None) -> str:
    """The regime a site maps a region to (`{"default": ..., "regions": {...}}` from its file): the
    subdivision's own entry (`US-CA`), else its country's (`US`), else the site's default, else opt-in."""
    mapping = mapping or {}
    regions = mapping.get("regions") or {}
    if region:
        if region in regions:
            return regions[region]
        country = region.split("-", 1)[0]
        if country in regions:
            return regions[country]
    return mapping.get("default") or DEFAULT_REGIME


def is_advertising(category: Mapping[str, Any]) -> bool:
    """Advertising: a category sending any Google ad_* signal, or named `marketing`."""
    return category["id"] == "marketing" or any(s.startswith("ad_") for s in category.get("consent_mode", ()))


def categories_for(categories: Iterable[Mapping[str, Any]], regime_id: str | None) -> list[Mapping[str, Any]]:
    """The categories a visitor under this regime is asked about: every one without a `regimes`
    list or whose list names it; separate purposes only where the regime shows them."""
    model = regime(regime_id)
    shown = []
    for category in categories:
        if "regimes" in category and model.id not in category["regimes"]:
            continue
        if category.get("separate") and not model.separate_purposes:
            continue
        shown.append(category)
    return shown


def allowed_before_choice(categories: Iterable[Mapping[str, Any]], regime_id: str | None,
                          gpc: bool = False) -> frozenset[str]:
    """The categories that may run before the visitor has chosen (always `necessary`)."""
    model = regime(regime_id)
    allowed = {NECESSARY}
    for category in categories_for(categories, model.id):
        if category["id"] == NECESSARY or category.get("separate"):
            continue
        if model.before == "all" or (
                model.before == "functional" and category.get("consent_mode")
                and set(category["consent_mode"]) <= UK_EXEMPT_SIGNALS):
            allowed.add(category["id"])
    if gpc:
        allowed -= {c["id"] for c in categories_for(categories, model.id) if is_advertising(c)}
    return frozenset(allowed)


def honour_gpc(categories: Iterable[Mapping[str, Any]], regime_id: str | None, granted: Iterable[str],
               gpc: bool) -> frozenset[str]:
    """What a choice grants while the browser sends GPC: in an opt-out regime the signal is a
    standing opt-out of advertising, whatever an earlier choice said."""
    granted = frozenset(granted)
    if not gpc or not regime(regime_id).gpc_opt_out:
        return granted
    return granted - {c["id"] for c in categories if is_advertising(c)}
