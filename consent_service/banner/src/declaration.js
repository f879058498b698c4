/* The cookie declaration on the shop's privacy page. Only where the page has a
   [data-consent-declaration] element is the declaration fetched from the service (ui.js details()),
   in the page view's language (so the banner on every other page carries none of it). Each such element gets
   the declared cookies by category, the visitor's current choice and a button that opens the
   preferences (start.js handles [data-consent-settings]); built with h(), so declared texts are
   only ever text. Redrawn on every change, with the focus kept on the button. */
function declare(D) {
  var L = D.labels;
  d.querySelectorAll('[data-consent-declaration]').forEach(e => {
    var focused = e.contains(d.activeElement);
    e.replaceChildren(h('div', { lang: D.language }, [
      !S.granted && h('p', {}, [L.undecided]),
      ...D.categories.map(c => h('section', {}, [
        h('h3', {}, [c.title]),
        h('p', {}, [c.description]),
        h('p', {}, [c.required ? L.always_on : has(c.id) ? L.allowed : L.refused]),
        c.cookies.length > 0 && h('table', {}, [
          h('thead', {}, [h('tr', {}, [L.cookie, L.provider, L.purpose, L.lifetime].map(t => h('th', {}, [t])))]),
          h('tbody', {}, c.cookies.map(k => h('tr', {}, [k.name, k.provider, k.purpose, k.lifetime].map(t => h('td', {}, [t]))))),
        ]),
      ])),
      h('button', { type: 'button', 'data-consent-settings': '' }, [L.change]),
    ]));
    focused && e.querySelector('button').focus();
  });
}

function loadDeclaration() {
  d.querySelector('[data-consent-declaration]') && details()
    .then(D => { declare(D); d.addEventListener('consent:change', () => declare(D)); })
    .catch(e => console.warn('consent: no cookie declaration', e));
}

d.readyState == 'loading' ? d.addEventListener('DOMContentLoaded', loadDeclaration) : loadDeclaration();
