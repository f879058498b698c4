/* Scripts and iframes the page held back until their category is granted:
   <script type="text/plain" data-consent="analytics" [data-src=...]>, <iframe data-consent=... data-src=...>.
   data-consent may list several categories; all must be granted. Scripts run one after another in
   page order (an external script finishes loading before the next one runs) with the page's nonce. */
function allowed(el) {
  return el.dataset.consent.split(' ').every(has);
}

function release() {
  var held = [...d.querySelectorAll('script[type="text/plain"][data-consent],iframe[data-consent]')]
    .filter(el => !el.ccDone && allowed(el));
  held.forEach(el => { el.ccDone = 1; });
  (function next() {
    var el = held.shift(), src, s;
    if (!el) return;
    src = el.dataset.src;
    if (el.tagName == 'IFRAME') {
      if (src) el.src = src;
      return next();
    }
    s = d.createElement('script');
    [...el.attributes].forEach(a => /^(type|data-consent|data-src|nonce)$/.test(a.name) || s.setAttribute(a.name, a.value));
    s.nonce = el.nonce || nonce;
    if (el.dataset.type) s.type = el.dataset.type;
    if (src) {
      s.onload = s.onerror = next;
      s.src = src;
    } else s.textContent = el.textContent;
    el.replaceWith(s);
    src || next();
  })();
}

/* Iframes of a category that is no longer granted are unloaded (scripts cannot be un-run). */
function unloadFrames() {
  d.querySelectorAll('iframe[data-consent]').forEach(el => {
    if (el.ccDone && !allowed(el)) { el.removeAttribute('src'); el.ccDone = 0; }
  });
}
