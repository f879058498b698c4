"""Watching a browser context: who writes cookies and storage, which responses set cookies, which
hosts are requested.

Scripts: an init script, which Chromium runs in every frame (cross-origin iframes included) before
the page's own scripts, wraps the `document.cookie` setter, `CookieStore.prototype.set`,
`Storage.prototype.setItem` and `IDBFactory.prototype.open`. Each wrapper lets the write happen and
reports the name (never the value), the attributes, the frame's URL and the JavaScript stack; the
stack names the script that wrote. Reports travel through a Playwright binding, so a write made just
before a navigation is not lost with the page.

HTTP: every response of the context is kept and its raw header array read afterwards (repeated
`Set-Cookie` headers stay separate there).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urldefrag

from consent_service.scan.parties import host_of
from consent_service.scan.setcookie import CookieWrite, parse_set_cookie, script_write, set_cookie_lines

BINDING = "__consentScan"
#: Every function of the init script carries this marker, so its own stack frames can be skipped.
MARKER = "__consentScan"

INIT_SCRIPT = r"""
(() => {
  const B = '__consentScan', E = Error, pending = [];
  let waits = 0;
  function __consentScanStack() {
    const limit = E.stackTraceLimit;
    E.stackTraceLimit = 30;
    const stack = new E().stack || '';
    E.stackTraceLimit = limit;
    return stack;
  }
  function __consentScanFlush() {
    const binding = window[B];
    if (typeof binding != 'function') {
      if (waits++ < 100) setTimeout(__consentScanFlush, 10);
      return;
    }
    while (pending.length) {
      try { binding(pending.shift()); } catch (e) { /* the page is going away */ }
    }
  }
  function __consentScanSend(event) {
    try {
      event.u = location.href;
      event.o = location.origin;
      event.h = location.hostname;
      event.top = window === window.top;
    } catch (e) { /* sandboxed frame */ }
    pending.push(event);
    __consentScanFlush();
  }

  const cookie = Object.getOwnPropertyDescriptor(Document.prototype, 'cookie');
  if (cookie && cookie.set && cookie.configurable) {
    Object.defineProperty(Document.prototype, 'cookie', {
      configurable: true,
      enumerable: cookie.enumerable,
      get: cookie.get,
      set: function __consentScanCookie(value) {
        cookie.set.call(this, value);
        try {
          const text = String(value), semi = text.indexOf(';'), pair = semi < 0 ? text : text.slice(0, semi),
            eq = pair.indexOf('=');
          if (eq < 0 && !pair.trim()) return;
          __consentScanSend({k: 'cookie', n: eq < 0 ? '' : pair.slice(0, eq).trim(),
            a: semi < 0 ? '' : text.slice(semi + 1), s: __consentScanStack()});
        } catch (e) { /* never break the page */ }
      },
    });
  }

  if (window.CookieStore && CookieStore.prototype.set) {
    const set = CookieStore.prototype.set;
    CookieStore.prototype.set = function __consentScanCookieStore(first) {
      try {
        const options = first && typeof first == 'object' ? first : {name: first};
        const expires = options.expires;
        __consentScanSend({k: 'cookieStore', n: String(options.name == null ? '' : options.name),
          d: options.domain || null, del: typeof expires == 'number' && expires <= Date.now(),
          s: __consentScanStack()});
      } catch (e) { /* never break the page */ }
      return set.apply(this, arguments);
    };
  }

  const setItem = Storage.prototype.setItem;
  Storage.prototype.setItem = function __consentScanSetItem(key) {
    const result = setItem.apply(this, arguments);
    try {
      let kind = 'sessionStorage';
      try { if (this === window.localStorage) kind = 'localStorage'; } catch (e) { /* blocked */ }
      __consentScanSend({k: kind, n: String(key), s: __consentScanStack()});
    } catch (e) { /* never break the page */ }
    return result;
  };

  if (window.IDBFactory) {
    const open = IDBFactory.prototype.open;
    IDBFactory.prototype.open = function __consentScanOpen(name) {
      const request = open.apply(this, arguments);
      try { __consentScanSend({k: 'indexedDB', n: String(name), s: __consentScanStack()}); } catch (e) { /* */ }
      return request;
    };
  }

  document.addEventListener('consent:change', function __consentScanChoice() {
    __consentScanSend({k: 'choice'});
  });
})();
"""

#: Run in every frame at the end of a visit: the storage the frame's origin holds.
STORAGE_SCRIPT = r"""
async () => {
  const found = {origin: location.origin, localStorage: [], sessionStorage: [], indexedDB: [], errors: []};
  for (const kind of ['localStorage', 'sessionStorage']) {
    try { found[kind] = Object.keys(window[kind]); } catch (e) { found.errors.push(kind + ': ' + e.name); }
  }
  try {
    if (indexedDB.databases) found.indexedDB = (await indexedDB.databases()).map(db => db.name);
  } catch (e) { found.errors.push('indexedDB: ' + e.name); }
  return found;
}
"""

_STACK_URL = re.compile(r"((?:https?|file)://[^\s()]+):\d+:\d+")
_STORAGE_KINDS = {"localStorage", "sessionStorage", "indexedDB"}


@dataclass(frozen=True)
class Caller:
    """Who wrote: the script's URL (the document's for inline code), and scripts further down."""

    url: str | None
    via: tuple[str, ...]
    inline: bool


def parse_stack(stack: str, document_url: str | None) -> Caller:
    """Name the writer from a V8 stack trace (the init script's own frames are skipped).

    The innermost frame with a URL is the script that wrote. Inline code — a <script> in the page, an
    inline handler, and code inserted at run time (whose frame has no URL, `<anonymous>`) — belongs
    to the document it runs in; for inserted code the inserting scripts are kept under `via`.
    """
    document = urldefrag(document_url)[0] if document_url else None
    urls: list[str] = []
    first_anonymous: bool | None = None
    for raw in stack.splitlines()[1:]:
        line = raw.strip()
        if not line.startswith("at ") or MARKER in line:
            continue
        match = _STACK_URL.search(line)
        if first_anonymous is None:
            first_anonymous = match is None
        if match:
            url = urldefrag(match.group(1))[0]
            if url not in urls:
                urls.append(url)
    if first_anonymous is None or first_anonymous:
        return Caller(document, tuple(u for u in urls if u != document)[:4], True)
    return Caller(urls[0], tuple(urls[1:5]), urls[0] == document)


@dataclass(frozen=True)
class ScriptEvent:
    """One write reported by the init script."""

    seq: int
    kind: str
    name: str
    frame_url: str
    origin: str
    host: str
    top: bool
    caller: Caller
    cookie: CookieWrite | None = None


class Recorder:
    """Everything one browser context reports, in arrival order (`seq` runs across all of it)."""

    def __init__(self, context: Any) -> None:
        self._seq = itertools.count()
        self.events: list[ScriptEvent] = []
        self.choices: list[int] = []
        self.responses: list[tuple[int, Any]] = []
        #: (phase, url, resource type); the phase goes up once a choice has been made.
        self.requests: list[tuple[int, str, str]] = []
        self.phase = 0
        context.expose_binding(BINDING, self._on_report)
        context.add_init_script(INIT_SCRIPT)
        context.on("response", self._on_response)
        context.on("request", self._on_request)

    def _on_response(self, response: Any) -> None:
        self.responses.append((next(self._seq), response))

    def _on_request(self, request: Any) -> None:
        self.requests.append((self.phase, request.url, request.resource_type))

    def _on_report(self, source: Any, event: Any) -> None:
        """The binding: a report from the init script in some frame (a page may forge these; it
        could as well lie in its own cookies, so nothing here is trusted beyond its shape)."""
        if not isinstance(event, dict) or not isinstance(event.get("k"), str):
            return
        seq = next(self._seq)
        kind = event["k"]
        if kind == "choice":
            if event.get("top"):
                self.choices.append(seq)
            return
        name, frame_url = event.get("n"), event.get("u")
        if not isinstance(name, str) or not isinstance(frame_url, str):
            return
        host = event.get("h") if isinstance(event.get("h"), str) else host_of(frame_url)
        origin = event.get("o") if isinstance(event.get("o"), str) else ""
        caller = parse_stack(event.get("s") if isinstance(event.get("s"), str) else "", frame_url)
        cookie = None
        if kind == "cookie":
            cookie = script_write(name, event.get("a") if isinstance(event.get("a"), str) else "", host)
        elif kind == "cookieStore":
            domain = event.get("d") if isinstance(event.get("d"), str) else host
            cookie = script_write(name, f"domain={domain}" + ("; max-age=0" if event.get("del") else ""), host)
        elif kind not in _STORAGE_KINDS:
            return
        self.events.append(ScriptEvent(seq, kind, name, frame_url, origin, host, bool(event.get("top")),
                                       caller, cookie))

    def http_writes(self) -> list[tuple[int, CookieWrite, str]]:
        """(seq, write, response URL) for every Set-Cookie line the context received."""
        writes = []
        for seq, response in self.responses:
            try:
                headers = response.headers_array()
            except Exception:  # noqa: S112 (a response whose frame is gone: nothing to read)
                continue
            url = urldefrag(response.url)[0]
            for line in set_cookie_lines(headers):
                write = parse_set_cookie(line, host_of(url))
                if write is not None:
                    writes.append((seq, write, url))
        return writes

    def cookie_set_since(self, name: str, seq: int) -> bool:
        """Whether a script has written (not deleted) cookie `name` after `seq`."""
        return any(e.seq > seq and e.cookie is not None and e.name == name and not e.cookie.deletion
                   for e in self.events)
