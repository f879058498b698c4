"""Making the visitor's choice the way a visitor does: through the banner's own buttons.

The first layer is `div.cc.cc-b[role=dialog]`; its buttons are found by accessible name, using the
`accept_all` and `reject_all` texts of every language in the site's configuration (the banner picks
its language from the page). Only when no such button is there does the scanner fall back to the
`window.consent` API (reject: `withdraw()`; accept: `show()`, every switch on, then save) and the
report says so. A choice counts once the banner has applied it (its `consent:change` event) and,
when the service answers, the `consent` cookie carries the new token.
"""

from __future__ import annotations

import re
import time
from typing import Any, Literal

from consent_service.scan.errors import ScanError
from consent_service.scan.instrument import Recorder
from consent_service.scan.model import ACCEPT, REJECT

FIRST_LAYER = "div.cc.cc-b[role=dialog]"
PREFERENCES = ".cc-pv[role=dialog]"
_BUTTON_TEXT = {ACCEPT: "accept_all", REJECT: "reject_all"}


def button_names(config: dict[str, Any], state: str) -> list[str]:
    """The texts the banner may show on the button for `state`, in every declared language."""
    key = _BUTTON_TEXT[state]
    names = []
    for texts in (config.get("texts") or {}).values():
        text = texts.get(key) if isinstance(texts, dict) else None
        if isinstance(text, str) and text.strip() and text not in names:
            names.append(text)
    return names


def has_api(page: Any) -> bool:
    """Whether the banner script has run on this page (its `window.consent` API is there)."""
    try:
        return bool(page.evaluate("() => !!(window.consent && typeof window.consent.get == 'function')"))
    except Exception:  # noqa: BLE001 (a page that navigates away has no banner either)
        return False


def wait_shown(page: Any, timeout_ms: float) -> bool:
    """Whether the first layer shows. Not waiting at all when the banner script is not on the page."""
    if not has_api(page):
        return False
    try:
        page.locator(FIRST_LAYER).first.wait_for(state="visible", timeout=timeout_ms)
        return True
    except Exception:  # noqa: BLE001 (a timeout: decided already, or no banner)
        return False


def _button(page: Any, config: dict[str, Any], state: str) -> Any | None:
    names = button_names(config, state)
    if not names:
        return None
    pattern = re.compile("^(" + "|".join(re.escape(name.strip()) for name in names) + ")$")
    buttons = page.locator(FIRST_LAYER).get_by_role("button", name=pattern)
    return buttons.first if buttons.count() else None


def _click(button: Any | None, timeout_ms: float) -> bool:
    """Click like a visitor; False when there is no button or it cannot be clicked (covered, gone)."""
    if button is None:
        return False
    try:
        button.click(timeout=timeout_ms)
    except Exception:  # noqa: BLE001 (the API is the fallback)
        return False
    return True


def _through_api(page: Any, state: str) -> None:
    if state == REJECT:
        page.evaluate("() => window.consent.withdraw()")
        return
    page.evaluate("() => window.consent.show()")
    view = page.locator(PREFERENCES)
    view.wait_for(state="visible", timeout=3000)
    for switch in view.locator("input[type=checkbox]:not([disabled])").all():
        switch.check()
    view.locator(".cc-row button").last.click()


def choose(page: Any, recorder: Recorder, config: dict[str, Any], state: str, *,
           timeout_ms: float = 5000) -> tuple[Literal["button", "api"], bool]:
    """Make the choice for `state` on the current page; returns (how, whether the consent cookie was
    written). Raises ScanError when there is no banner at all, or it does not apply the choice."""
    mark = len(recorder.choices)
    start_seq = max([e.seq for e in recorder.events], default=-1)
    how: Literal["button", "api"] = "button" if _click(_button(page, config, state), timeout_ms) else "api"
    if how == "api":
        if not has_api(page):
            raise ScanError(f"banner not found on {page.url}: no first layer ({FIRST_LAYER}) and no "
                            f"window.consent API; is the banner's script tag on the page, and the page's origin "
                            f"one of the site's origins?")
        try:
            _through_api(page, state)
        except Exception as error:  # noqa: BLE001
            raise ScanError(f"the banner on {page.url} could not be driven to '{state}', neither by its "
                            f"buttons nor by its API: {str(error).splitlines()[0]}") from None
    deadline = time.monotonic() + timeout_ms / 1000
    while len(recorder.choices) == mark:
        if time.monotonic() > deadline:
            raise ScanError(f"the banner on {page.url} did not apply the '{state}' choice "
                            f"(no consent:change event within {timeout_ms / 1000:.0f} s)")
        page.wait_for_timeout(20)
    cookie_name = (config.get("cookie") or {}).get("name") or "consent"
    while not recorder.cookie_set_since(cookie_name, start_seq):
        if time.monotonic() > deadline:
            return how, False
        page.wait_for_timeout(20)
    return how, True
