/* Recording choices with the service. Every choice is queued in localStorage first and removed once
   the service has answered, so a choice made while the service is down, or while the page unloads,
   is sent on a later page view. The client_record_id makes resending safe. */
var API = C.service + '/v1/sites/' + encodeURIComponent(C.site);

function randomId() {
  return [...crypto.getRandomValues(new Uint8Array(16))].map(b => (b + 256).toString(16).slice(1)).join('');
}

function post(path, body) {
  return fetch(API + path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
}

function queue(items) {
  return items ? store('queue', items.slice(-20)) : store('queue') || [];
}

/* Resolves true when the record is settled (stored, or refused for good), false to retry later. */
async function send(body, retried) {
  var res, answer, code;
  try {
    res = await post('/consents', body);
    answer = await res.json().catch(() => ({}));
  } catch (e) {
    return false;
  }
  if (res.ok) {
    // A replay that names no visitor: the record is stored but its token goes only to that
    // visitor's own token. This is a new visitor whose first answer was lost: choose afresh.
    if (answer.replayed && !answer.token && !retried)
      return send({ ...body, client_record_id: randomId() }, 1);
    keepToken(answer);
    return true;
  }
  code = answer.error && answer.error.code;
  // A token the service no longer accepts: drop it and retry once as a plain choice, so the
  // record is not lost (a withdrawal without a valid token is recorded as a custom choice).
  if ((code == 'invalid_token' || code == 'withdraw_requires_token') && !retried) {
    if (code == 'invalid_token') {
      dropToken();
      delete body.token;
    }
    if (body.method == 'withdraw') body.method = 'custom';
    return send(body, 1);
  }
  if (res.status >= 500 || res.status == 429) return false;
  console.warn('consent: choice not recorded:', code || res.status);
  return true;
}

function keepToken(answer) {
  var age = Math.floor((Date.parse(answer.expires_at) - Date.now()) / 1000);
  if (answer.token && age > 0) writeCookie(C.cookie.name, answer.token, age, C.cookie.domain);
}

async function flush() {
  var item;
  if (S.sending) return;
  S.sending = 1;
  try {
    while ((item = queue()[0]) && await send(item.b))
      queue(queue().filter(x => x.b.client_record_id != item.b.client_record_id));
  } finally {
    S.sending = 0;
  }
}

/* Queue the record of a choice (normalized category ids), to be sent by flush(). Called before the
   choice is applied: refusing a category granted so far is a withdrawal when there is a token. */
function record(granted, method) {
  var t = token(), choices = {}, body;
  ids.forEach(c => { choices[c] = granted.includes(c); });
  if (method == 'custom' && t && S.granted && S.granted.some(c => !granted.includes(c))) method = 'withdraw';
  if (method == 'withdraw' && !t) method = 'custom';
  body = {
    policy_version: C.policy_version, choices, method, language: lang,
    page_url: location.href, banner_version: V, client_record_id: randomId(),
  };
  if (t) body.token = t;
  queue(queue().concat({ b: body, at: Date.now() }));
}
