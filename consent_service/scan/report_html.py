"""The scan as one self-contained HTML page: inline CSS, screenshots as data URLs, no script.

Everything that came from the scanned site — cookie names, URLs, storage keys, notes — is escaped;
links are made only for http(s) URLs. Cookie values are never part of a scan.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from consent_service.scan.model import ACCEPT, BEFORE, REJECT, STATES, Entry, ScanResult
from consent_service.scan.report import DATABASE, summary
from consent_service.scan.snippets import declaration_snippets, human_lifetime

STATE_TITLES = {BEFORE: "Before any choice", REJECT: "After “Reject all”", ACCEPT: "After “Accept all”"}
CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1b1f24;margin:0;background:#f6f7f9}
main{max-width:1200px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:32px 0 8px;border-bottom:1px solid #d5d9de;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}
table{border-collapse:collapse;width:100%;background:#fff;margin:6px 0 12px;font-size:13px}
th,td{border:1px solid #dde1e6;padding:4px 6px;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:#eef1f4;font-weight:600}
.muted{color:#5b6470}.badge{display:inline-block;padding:1px 7px;border-radius:9px;font-size:12px;font-weight:600}
.error{background:#fde2e1;color:#8f1d17}.warning{background:#fff1cc;color:#7a5200}.info{background:#e3eefc;color:#194a8d}
.ok{background:#dff5e3;color:#17602a}.no{color:#8f1d17;font-weight:600}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:12px 0}
.card{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:10px 14px;min-width:150px}
.card b{display:block;font-size:20px}
img.shot{max-width:min(100%,760px);border:1px solid #c9ced4;border-radius:4px;background:#fff}
pre{background:#1f2328;color:#e6edf3;padding:12px;border-radius:6px;overflow:auto;font-size:12.5px}
code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace}
footer{margin-top:32px;font-size:12px;color:#5b6470}
"""


def _e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def _link(url: str | None) -> str:
    if not url:
        return '<span class="muted">not observed</span>'
    if url.startswith(("http://", "https://")):
        return f'<a href="{_e(url)}" rel="noopener noreferrer">{_e(url)}</a>'
    return _e(url)


def _table(headers: Iterable[str], rows: list[list[str]], empty: str) -> str:
    if not rows:
        return f'<p class="muted">{_e(empty)}</p>'
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _category(entry: Entry) -> str:
    c = entry.classification
    text = _e(c.category)
    if c.declared and c.known_category and c.known_category != c.declared_category:
        text += f' <span class="muted">(database: {_e(c.known_category)})</span>'
    elif not c.declared and c.known:
        text += f' <span class="muted">({_e(c.known.get("platform"))})</span>'
    return text


def _declared(entry: Entry) -> str:
    c = entry.classification
    if c.builtin:
        return '<span class="muted">banner</span>'
    if c.declared:
        return "yes" if c.declaration == entry.name else f"yes ({_e(c.declaration)})"
    return '<span class="no">no</span>'


def _pages(pages: list[str]) -> str:
    shown = "<br>".join(_link(page) for page in pages[:3])
    return shown + (f' <span class="muted">+{len(pages) - 3} more</span>' if len(pages) > 3 else "")


def _setter(entry: Entry) -> str:
    text = _link(entry.set_by)
    if entry.attribution == "inferred":
        text += ' <span class="muted">(inferred)</span>'
    if entry.via:
        text += '<br><span class="muted">via ' + ", ".join(_e(url) for url in entry.via) + "</span>"
    if entry.also_set_by:
        text += '<br><span class="muted">also ' + ", ".join(_e(url) for url in entry.also_set_by) + "</span>"
    return text


def _cookie_rows(entries: list[Entry]) -> list[list[str]]:
    rows = []
    for e in sorted(entries, key=lambda e: (e.name.lower(), e.domain)):
        flags = [flag for flag, on in (("HttpOnly", e.http_only), ("Secure", e.secure),
                                       ("third party", e.third_party), ("partitioned", e.partition_key)) if on]
        if e.same_site:
            flags.append(f"SameSite={e.same_site}")
        rows.append([f"<code>{_e(e.name)}</code>", _e(e.domain), _e(e.source), _setter(e), _category(e),
                     _declared(e), _e(human_lifetime(e.lifetime_seconds)), _e(", ".join(flags)), _pages(e.pages)])
    return rows


def _storage_rows(entries: list[Entry]) -> list[list[str]]:
    return [[_e(e.type), f"<code>{_e(e.name)}</code>", _e(e.origin), _setter(e), _category(e), _declared(e),
             _pages(e.pages)] for e in sorted(entries, key=lambda e: (e.type, e.name.lower(), e.origin or ""))]


def _screenshot(result: ScanResult, state: str) -> str:
    for v in result.visits:
        if v.state == state and v.screenshot:
            data = base64.b64encode(v.screenshot).decode("ascii")
            return (f'<figure><img class="shot" alt="{_e(v.page)} {_e(STATE_TITLES[state])}" '
                    f'src="data:image/png;base64,{data}"><figcaption class="muted">{_e(v.page)}</figcaption></figure>')
    return ""


def _findings(result: ScanResult) -> str:
    rows = [[f'<span class="badge {_e(f.level)}">{_e(f.level)}</span>', f"<code>{_e(f.kind)}</code>", _e(f.item),
             f"<code>{_e(f.name)}</code>", _e(f.domain or ""), _e(f.state or ""), _e(f.message),
             _pages(list(f.pages) or ([f.page] if f.page else []))] for f in result.findings]
    return _table(["level", "kind", "item", "name", "domain", "state", "what", "pages"], rows, "No findings.")


def _pages_table(result: ScanResult) -> str:
    rows = []
    for page in result.pages:
        cells = [_link(page["url"]), _e(page["found_by"])]
        for state in STATES:
            info = page["states"].get(state)
            if info is None:
                cells.append('<span class="muted">not visited</span>')
            elif info["error"]:
                cells.append(f'<span class="no">{_e(info["error"])}</span>')
            else:
                bits = [str(info["status"] or "-"), "banner" if info["banner_shown"] else "no banner"]
                if info["choice"]:
                    bits.append(f"choice by {info['choice']}")
                cells.append(_e(", ".join(bits)))
        rows.append(cells)
    return _table(["page", "found by", *STATES], rows, "No page was visited.")


def render(result: ScanResult, config: dict[str, Any] | None = None) -> str:
    """The report as a complete HTML document."""
    facts = summary(result)
    when = datetime.fromtimestamp(result.started_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
    status = ('<span class="badge ok">clean</span>' if result.exit_code == 0
              else f'<span class="badge error">{facts["findings"]["error"]} error(s)</span>')
    cards = "".join(f'<div class="card"><b>{_e(value)}</b>{_e(label)}</div>' for value, label in (
        (facts["pages"], "pages"), (facts["visits"], "pages × states"),
        (facts["findings"]["error"], "errors"), (facts["findings"]["warning"], "warnings"),
        (facts["findings"]["info"], "notices"), (f'{facts["duration_seconds"]} s', "duration")))
    parts = [
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>Cookie scan of {_e(result.site)}, {_e(when)}</title><style>{CSS}</style></head><body><main>",
        f"<h1>Cookie scan of {_e(result.site)} {status}</h1>",
        f'<p class="muted">{_e(when)} · policy version {_e(result.policy_version)} · start: '
        f'{", ".join(_link(url) for url in result.start_urls)} · {_e(result.browser_version or "Chromium")}</p>',
        f'<div class="cards">{cards}</div>',
        "<h2>Findings</h2>", _findings(result),
    ]
    for state in STATES:
        cookies = [e for e in result.cookies if e.state == state]
        storage = [e for e in result.storage if e.state == state]
        hosts = [h for h in result.third_parties if h.state == state]
        parts += [f'<h2 id="{state}">{_e(STATE_TITLES[state])}</h2>', _screenshot(result, state),
                  f"<h3>Cookies ({len(cookies)})</h3>",
                  _table(["name", "domain", "source", "set by", "category", "declared", "lifetime", "flags", "pages"],
                         _cookie_rows(cookies), "No cookie."),
                  f"<h3>Storage ({len(storage)})</h3>",
                  _table(["type", "name", "origin", "set by", "category", "declared", "pages"],
                         _storage_rows(storage), "No storage key or database."),
                  f"<h3>Third-party hosts ({len(hosts)})</h3>",
                  _table(["host", "requests", "types", "first request", "pages"],
                         [[_e(h.host) + (' <span class="muted">(consent service)</span>' if h.consent_service
                                         else ""), _e(h.requests), _e(", ".join(h.resource_types)),
                           _e(h.examples[0] if h.examples else ""), _pages(h.pages)] for h in hosts],
                         "No third-party request.")]
    if config is not None:
        snippets = declaration_snippets(result, config)
        parts += ["<h2>Declarations to add</h2>",
                  '<p>Ready to paste into the site\'s declaration file, under the existing '
                  '<code>[[cookies]]</code>. A category of <code>unknown</code> or <code>review</code> and an '
                  'empty purpose are for you to decide: <code>sites sync</code> refuses them until you do.</p>',
                  f"<pre><code>{_e(snippets)}</code></pre>" if snippets else
                  '<p class="muted">Everything seen is declared.</p>']
    parts += ["<h2>Pages</h2>", _pages_table(result)]
    if result.notes:
        parts += ["<h2>Notes</h2><ul>", *(f"<li>{_e(note)}</li>" for note in result.notes), "</ul>"]
    parts += [
        "<h2>How to read this</h2><p>Every page was opened in three fresh browser profiles: before any choice, "
        "after “Reject all” and after “Accept all”, the choice made through the banner itself. "
        "<b>source</b> says whether a cookie came in an HTTP <code>Set-Cookie</code> header "
        "(<b>set by</b>: the response's URL) or was written by a script (<b>set by</b>: the script's URL, or "
        "the page's for inline code). <i>inferred</i> means nobody was seen setting it: an HttpOnly cookie is "
        "attributed to HTTP, any other to a script. The category is the site's declaration first, then the "
        "cookie database; <i>unknown</i> and <i>review</i> are not necessary until declared so.</p>",
        f'<footer>Cookie categories, providers and purposes beyond the site\'s own declarations come from the '
        f'<a href="{_e(DATABASE["url"])}">{_e(DATABASE["name"])}</a>, licensed under the Apache License 2.0.'
        f"</footer></main></body></html>",
    ]
    return "\n".join(part for part in parts if part)


def write_html(result: ScanResult, path: str | Path, config: dict[str, Any] | None = None) -> None:
    Path(path).write_text(render(result, config), encoding="utf-8")
