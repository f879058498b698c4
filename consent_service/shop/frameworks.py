"""The cookies a web framework sets for itself and cannot work without: the guard's framework presets.

A site that runs on Django needs Django's session, CSRF, messages and language cookies whatever the
visitor chose; declaring them in the site file would publish a new policy version (every visitor is
asked again) and need texts in every language. `framework="django"` makes them count as necessary
instead. The site file still has the last word: a preset name the site declares in another
category (say `django_language` under `preferences`) follows that declaration.

Django's names are read from `django.conf.settings` when Django is installed and configured
(`SESSION_COOKIE_NAME`, `CSRF_COOKIE_NAME`, `LANGUAGE_COOKIE_NAME`), so a project that renames them
is covered; this module imports Django only when asked for the Django preset.
"""

from __future__ import annotations

from collections.abc import Iterable

#: The frameworks with a preset, and the cookie names each one needs under its default settings.
PRESETS: dict[str, frozenset[str]] = {
    # session, CSRF, django.contrib.messages' CookieStorage (a fixed name), the i18n language cookie
    "django": frozenset({"sessionid", "csrftoken", "messages", "django_language"}),
    # flask.sessions (Flask-WTF keeps its CSRF token in the session)
    "flask": frozenset({"session"}),
    # starlette.middleware.sessions.SessionMiddleware's default
    "starlette": frozenset({"session"}),
    "fastapi": frozenset({"session"}),
}


def _django_cookies() -> frozenset[str]:
    """Django's own cookie names, from the project's settings when they are configured."""
    try:
        from django.conf import settings
    except ImportError:
        return PRESETS["django"]
    if not settings.configured:
        return PRESETS["django"]
    return frozenset({settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME, settings.LANGUAGE_COOKIE_NAME,
                      "messages"})


def framework_cookies(framework: str | Iterable[str] | None) -> frozenset[str]:
    """The necessary cookie names of one framework (or several); ValueError for one without a preset."""
    if framework is None:
        return frozenset()
    names: set[str] = set()
    for name in [framework] if isinstance(framework, str) else framework:
        if name not in PRESETS:
            raise ValueError(f"framework must be one of {', '.join(sorted(PRESETS))}, not {name!r}")
        names |= _django_cookies() if name == "django" else PRESETS[name]
    return frozenset(names)
