/* The two views: a non-modal first layer at the bottom of the viewport and a modal preferences
   view. Both are position:fixed, so showing them shifts nothing on the page. Any applied choice
   closes them (S.onApply). */
var T = C.texts[lang];

function button(text, onclick, cls) {
  return h('button', { type: 'button', className: cls || 'cc-btn', '@click': onclick }, [text]);
}

function accept() { choose(ids.filter(c => !gpcRefuses.includes(c)), gpcRefuses.length ? 'custom' : 'accept_all'); }
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
  return gpcRefuses.length > 0 && h('p', { className: 'cc-gpc' }, [T.gpc_notice]);
}

function showBanner() {
  if (S.bar) return;
  S.bar = h('div', { className: 'cc cc-b', role: 'dialog', lang, 'aria-labelledby': 'cc-t', 'aria-describedby': 'cc-d' }, [
    h('h2', { id: 'cc-t' }, [T.title]),
    h('p', { id: 'cc-d' }, [T.description]),
    gpcNotice(),
    policyLink(),
    choiceButtons(button(T.customize, () => openPreferences())),
  ]);
  d.body.prepend(S.bar);
  performance.mark && performance.mark('consent:shown');
}

function cookieDetails(category) {
  var decls = C.cookies.filter(k => k.category == category);
  return decls.length && h('details', {}, [
    h('summary', {}, [decls.map(k => k.name || k.pattern).join(', ')]),
    h('ul', {}, decls.map(k => h('li', {}, [
      h('strong', {}, [k.name || k.pattern]), ' \u00b7 ' + k.provider + ' \u00b7 ' + k.lifetime + ' \u00b7 ',
      k.purpose[lang] || k.purpose[C.default_language] || '',
    ]))),
  ]);
}

function categoryRow(c) {
  var text = T.categories[c.id], on = c.required || has(c.id);
  return h('div', { className: 'cc-cat' }, [
    h('label', {}, [
      h('input', { type: 'checkbox', role: 'switch', name: c.id, checked: on, disabled: c.required, 'aria-describedby': 'cc-c-' + c.id }),
      text.title,
      c.required && h('span', { className: 'cc-on' }, [T.always_on]),
    ]),
    h('p', { id: 'cc-c-' + c.id }, [text.description]),
    cookieDetails(c.id),
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
  S.bar && S.bar.remove();
  S.bar = null;
  closePreferences();
}

S.onApply = closeAll;
