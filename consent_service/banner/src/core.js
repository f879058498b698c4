/* Shared names and small helpers. C is the site configuration the service inlined, CSS the
   banner's styles and V its version. */
performance.mark && performance.mark('consent:start');
var d = document, w = window, nav = navigator,
  ids = C.categories.map(c => c.id),
  required = C.categories.filter(c => c.required).map(c => c.id),
  // Categories a Global Privacy Control signal refuses: the ones feeding advertising signals.
  gpcRefuses = nav.globalPrivacyControl === true
    ? C.categories.filter(c => !c.required && c.consent_mode.some(s => s.startsWith('ad_'))).map(c => c.id) : [],
  // What the visitor's regime lets run before a choice (none in opt-in ones), less what GPC refuses.
  pre = C.regime.before.filter(c => !gpcRefuses.includes(c)),
  me = d.currentScript,
  nonce = (me && me.nonce) || (d.querySelector('script[nonce]') || {}).nonce || '',
  prefix = 'consent:' + C.site + ':',
  /* The banner's run-time state: everything that changes after start is a field of S.
     granted    granted category ids once a choice is known, else null (written only by apply());
                before that, has() answers with the regime's `pre`
     first      the first layer of an opt-out regime (opt-out.js), else showBanner is
     extra      an extra part of the first layer (separate.js), sep its ticked separate purposes
     listeners  consent.on('change') callbacks (api.js adds and removes them, apply() calls them)
     onApply    called by apply() before every applied choice, changed or not; ui.js sets it to
                close the open views, so the state machine needs nothing from the views
     sending    1 while records.js is sending the queue
     checked    [token, claims] of the last token that verified (verify.js)
     bar, modal the open first layer and preferences view, else null (ui.js)
     opener     what had the focus before the preferences opened (ui.js)
     back       where the focus came into the first layer from, to hand it back on Escape (ui.js)
     details    the promise of the cookie declaration, fetched once (ui.js details()) */
  S = { granted: null, listeners: [] };

/* Element builder: props set as properties (or attributes when unknown/aria), '@x' binds listeners.
   Children are nodes or strings; strings become text nodes, so declared text is never parsed as HTML. */
function h(tag, props, kids) {
  var e = d.createElement(tag);
  for (var k in props) {
    var v = props[k];
    if (k[0] == '@') e.addEventListener(k.slice(1), v);
    else if (k in e && k != 'role') e[k] = v;
    else e.setAttribute(k, v);
  }
  (kids || []).forEach(c => c != null && c !== false && e.append(c));
  return e;
}

/* localStorage as JSON, tolerant of private modes and quota errors. */
function store(key, value) {
  try {
    if (value === undefined) return JSON.parse(localStorage.getItem(prefix + key));
    localStorage.setItem(prefix + key, JSON.stringify(value));
  } catch (e) { /* storage unavailable */ }
}

/* Keep only known categories, always include the required ones, in declaration order. */
function normalize(granted) {
  return ids.filter(c => required.includes(c) || granted.includes(c));
}

function has(category) {
  return required.includes(category) || (S.granted || pre).includes(category);
}
