/* The two views: a non-modal first layer at the bottom of the viewport and a modal preferences
   view. Both are position:fixed, so showing them shifts nothing on the page. Any applied choice
   closes them (S.onApply). The script carries the texts of both views but not the categories'
   descriptions nor the cookies' providers, purposes and lifetimes: those come with the cookie
   declaration, fetched once the banner shows (or a privacy page asks), so that every other page
   view does not pay for them; without it the toggles still work. */
var T = C.texts[lang];

/* The cookie declaration in this page's language, fetched once (again after a failure). */
function details() {
  return S.details = S.details || fetch(API + '/declaration?lang=' + lang)
    .then(r => r.ok ? r.json() : Promise.reject(r.status))
    .catch(e => { S.details = 0; throw e; });
}

function button(text, onclick, cls) {
  return h('button', { type: 'button', className: cls || 'cc-btn', '@click': onclick }, [text]);
}

function accept(g) {
  g = ids.filter(c => !gpcRefuses.includes(c));
  choose(S.sep ? S.sep(g) : g, gpcRefuses.length ? 'custom' : 'accept_all');
}
function reject() { choose([], 'reject_all'); }

/* Accept, reject and customize: same element, same class, same size; none is preselected. */
function choiceButtons(third) {
  return h('div', { className: 'cc-row' }, [button(T.accept_all, accept), button(T.reject_all, reject), third]);
}

function policyLink() {
  var url = C.privacy_policy_url;
  return /^https?:/i.test(url) && h('a', { href: url, target: '_blank', rel: 'noopener' }, [T.privacy_policy]);
}

function gpcNotice() {
  return gpcRefuses.length > 0 && h('p', { className: 'cc-gpc' }, [T.gpc_honoured || T.gpc_notice]);
}

/* The first layer is a non-modal dialog: it takes the focus as it appears only when nothing on the
   page has it, and Escape (or a choice) hands the focus back to where it came from, deciding nothing. */
function leaveBar(a) {
  a = d.activeElement;
  S.bar.contains(a) && (a.blur(), S.back && S.back.focus());
}

function showBanner() {
  if (S.bar) return;
  S.bar = h('div', {
    className: 'cc cc-b', role: 'dialog', tabIndex: -1, lang, 'aria-labelledby': 'cc-t', 'aria-describedby': 'cc-d',
    '@focusin': e => (e = e.relatedTarget) && !S.bar.contains(e) && (S.back = e),
    '@keydown': e => e.key == 'Escape' && leaveBar(),
  }, [
    h('h2', { id: 'cc-t' }, [T.title]),
    h('p', { id: 'cc-d' }, [T.description]),
    gpcNotice(),
    S.extra && S.extra(),
    policyLink(),
    choiceButtons(button(T.customize, () => openPreferences())),
  ]);
  d.body.prepend(S.bar);
  d.activeElement == d.body && S.bar.focus();
  performance.mark && performance.mark('consent:shown');
  setTimeout(() => details().catch(() => 0), 1);
}

/* A category's description and cookies, from the declaration, into its row of the view. */
function describe(c, row) {
  row.append(
    h('p', { id: 'cc-c-' + c.id }, [c.description]),
    c.cookies.length > 0 && h('details', {}, [
      h('summary', {}, [c.cookies.map(k => k.name).join(', ')]),
      h('ul', {}, c.cookies.map(k => h('li', {}, [h('strong', {}, [k.name]), [' ', k.provider, k.lifetime, k.purpose].join(' \u00b7 ')]))),
    ]));
}

function categoryRow(c) {
  return h('div', { className: 'cc-cat', id: 'cc-r-' + c.id }, [
    h('label', {}, [
      h('input', { type: 'checkbox', role: 'switch', name: c.id, checked: c.required || has(c.id), disabled: c.required, 'aria-describedby': 'cc-c-' + c.id }),
      T.categories[c.id].title,
      c.required && h('span', { className: 'cc-on' }, [T.always_on]),
    ]),
  ]);
}

/* The visitor's own data, with its token: its record, its receipts (checkable offline) and erasure. */
function visitorLinks() {
  var t = token(), head = () => ({ headers: { 'X-Consent-Token': t } }),
    save = (text, path, name) => button(text, () => fetch(API + '/visitors/me/' + path, head())
      .then(r => r.ok ? r.blob() : Promise.reject(r.status))
      .then(blob => h('a', { href: URL.createObjectURL(blob), download: 'consent-' + name + '.json' }).click())
      .catch(e => console.warn('consent: download failed', e)), 'cc-lk');
  return t && [
    save(T.download_record, 'consents', 'record'),
    save(T.download_receipts, 'receipts', 'receipts'),
    button(T.erase_data, e => fetch(API + '/visitors/me/personal-data', { method: 'DELETE', ...head() })
      .then(r => { e.target.disabled = r.ok; })
      .catch(() => 0), 'cc-lk'),
  ];
}

function openPreferences() {
  if (S.modal) return;
  S.opener = d.activeElement;
  var view = h('div', { className: 'cc cc-pv', role: 'dialog', lang, 'aria-modal': 'true', 'aria-labelledby': 'cc-pt' }, [
    h('h2', { id: 'cc-pt' }, [T.preferences_title]),
    button('\u00d7', closePreferences, 'cc-x'),
    gpcNotice(),
    ...C.categories.map(categoryRow),
    choiceButtons(button(T.save, () => choose(
      [...view.querySelectorAll('input:checked')].map(i => i.name), 'custom'))),
    h('div', { className: 'cc-l' }, [policyLink(), ...(visitorLinks() || [])]),
  ]);
  view.querySelector('.cc-x').setAttribute('aria-label', T.close);
  S.modal = h('div', { className: 'cc-m', '@keydown': trapKeys }, [view]);
  d.body.append(S.modal);
  view.querySelector('input:not([disabled]),button').focus();
  details().then(D => D.categories.forEach(c => (c.row = view.querySelector('#cc-r-' + c.id)) && describe(c, c.row)))
    .catch(e => console.warn('consent: no cookie details', e));
}

/* Escape closes without deciding; Tab and Shift+Tab wrap inside the view. */
function trapKeys(e) {
  if (e.key == 'Escape') {
    e.preventDefault();
    return closePreferences();
  }
  if (e.key != 'Tab') return;
  var all = [...S.modal.querySelectorAll('button,input:not([disabled]),a[href],summary')],
    first = all[0], last = all[all.length - 1];
  if (e.shiftKey ? d.activeElement == first : d.activeElement == last) {
    e.preventDefault();
    (e.shiftKey ? last : first).focus();
  }
}

function closePreferences() {
  if (!S.modal) return;
  S.modal.remove();
  S.modal = null;
  S.opener && S.opener.isConnected && S.opener.focus();
}

function closeAll() {
  closePreferences();
  S.bar && (leaveBar(), S.bar.remove());
  S.bar = null;
}

S.onApply = closeAll;
