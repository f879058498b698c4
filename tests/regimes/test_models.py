"""The built-in regimes: what runs before a choice, what GPC means, which categories are asked."""

from __future__ import annotations

import pytest

from consent_service.regimes import (
    REGIMES,
    allowed_before_choice,
    categories_for,
    honour_gpc,
    regime,
    regime_for_region,
)

CATEGORIES = [
    {"id": "necessary", "required": True, "consent_mode": ["security_storage"]},
    {"id": "preferences", "required": False, "consent_mode": ["functionality_storage", "personalization_storage"]},
    {"id": "analytics", "required": False, "consent_mode": ["analytics_storage"]},
    {"id": "marketing", "required": False, "consent_mode": ["ad_storage", "ad_user_data", "ad_personalization"]},
    {"id": "cross_border_transfer", "required": False, "consent_mode": [], "separate": True, "regimes": ["china"]},
]


@pytest.mark.parametrize("regime_id,gpc,expected", [
    ("opt-in", False, {"necessary"}),
    ("opt-in", True, {"necessary"}),
    # PECR reg. 6 as amended by the DUAA 2025: statistics and functionality may run, advertising not.
    ("uk", False, {"necessary", "preferences", "analytics"}),
    ("uk", True, {"necessary", "preferences", "analytics"}),
    # CCPA: notice and opt-out; GPC is an opt-out of sale/sharing (advertising).
    ("us-opt-out", False, {"necessary", "preferences", "analytics", "marketing"}),
    ("us-opt-out", True, {"necessary", "preferences", "analytics"}),
    # PIPL: consent first; separate purposes never before a choice.
    ("china", False, {"necessary"}),
    ("notice", False, {"necessary", "preferences", "analytics", "marketing"}),
    ("notice", True, {"necessary", "preferences", "analytics"}),
    # Unknown or none: the safe side.
    (None, False, {"necessary"}),
    ("mars", False, {"necessary"}),
])
def test_allowed_before_a_choice(regime_id, gpc, expected):
    assert allowed_before_choice(CATEGORIES, regime_id, gpc) == expected


def test_separate_purposes_are_asked_only_where_declared():
    assert [c["id"] for c in categories_for(CATEGORIES, "china")][-1] == "cross_border_transfer"
    for name in REGIMES:
        if name != "china":
            assert "cross_border_transfer" not in [c["id"] for c in categories_for(CATEGORIES, name)]


def test_gpc_is_a_standing_opt_out_only_where_the_law_says_so():
    everything = {c["id"] for c in CATEGORIES}
    assert honour_gpc(CATEGORIES, "us-opt-out", everything, gpc=True) == everything - {"marketing"}
    assert honour_gpc(CATEGORIES, "us-opt-out", everything, gpc=False) == everything
    assert honour_gpc(CATEGORIES, "opt-in", everything, gpc=True) == everything


@pytest.mark.parametrize("region,expected", [
    ("US-CA", "us-opt-out"), ("US-TX", "us-east"), ("US", "us-east"), ("GB", "uk"), ("FR", "opt-in"),
    (None, "opt-in"), ("CN-31", "china"),
])
def test_region_to_regime(region, expected):
    mapping = {"default": "opt-in", "regions": {"US-CA": "us-opt-out", "US": "us-east", "GB": "uk", "CN": "china"}}
    assert regime_for_region(mapping, region) == expected


def test_default_without_mapping_is_opt_in():
    assert regime_for_region(None, "US-CA") == "opt-in"
    assert regime_for_region({"default": "notice", "regions": {}}, "BR") == "notice"
    assert regime("us-opt-out").first_layer == "link" and regime("opt-in").first_layer == "dialog"
