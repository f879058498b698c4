/* Start: styles, Consent Mode default, then the stored choice or the banner. */
function addStyles() {
  try {
    var sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    d.adoptedStyleSheets = [...d.adoptedStyleSheets, sheet];
  } catch (e) {
    d.head.append(h('style', { nonce }, [CSS]));
  }
}

async function start() {
  var granted = await known();
  granted ? apply(granted) : (pre.length && release(), (S.first || showBanner)());
  d.readyState == 'loading' && d.addEventListener('DOMContentLoaded', () => S.granted && release());
  flush();
}

addStyles();
consentMode('default', ids.filter(has));
d.addEventListener('click', e => {
  if (e.target.closest && e.target.closest('[data-consent-settings]')) {
    e.preventDefault();
    openPreferences();
  }
});
addEventListener('storage', e => e.key == prefix + 'queue' && sync());
addEventListener('online', flush);
d.addEventListener('visibilitychange', () => d.hidden || sync());
d.body ? start() : d.addEventListener('DOMContentLoaded', start);
