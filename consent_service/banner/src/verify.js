/* The consent token is trusted only once it verifies: an EdDSA (Ed25519) JWT whose kid names one of
   the site's public keys in C.keys (key id -> raw key, base64url), checked with WebCrypto. Where
   WebCrypto has no Ed25519 (or no crypto.subtle: a page on plain http), or the token names a key this
   copy of the script does not know (one rotated in after it was cached), the service checks it,
   once per tab session. A token that fails, or has expired, is dropped: nothing held back runs and
   the visitor is asked again. */
function bytes(b64) {
  return Uint8Array.from(atob(b64.replace(/-/g, '+').replace(/_/g, '/')), ch => ch.charCodeAt(0));
}

function part(b64) {
  return JSON.parse(new TextDecoder().decode(bytes(b64)));
}

/* true or false when WebCrypto could check the signature here, null when it cannot do Ed25519. */
async function locally(p, x) {
  var key;
  try {
    key = await crypto.subtle.importKey('raw', bytes(x), 'Ed25519', false, ['verify']);
  } catch (e) {
    return null;
  }
  return crypto.subtle.verify('Ed25519', key, bytes(p[2]), new TextEncoder().encode(p[0] + '.' + p[1]));
}

/* The service's verdict: true, false, or null when it gave none (unreachable, rate-limited). */
async function remotely(t) {
  var answer;
  try {
    if (sessionStorage.getItem(prefix) == t) return true;
    answer = await (await post('/tokens/check', { token: t })).json();
  } catch (e) {
    return null;
  }
  if (!answer.status) return null;
  if (answer.status == 'invalid') return false;
  try { sessionStorage.setItem(prefix, t); } catch (e) { /* storage unavailable */ }
  return true;
}

/* The claims of the token in the cookie once verified and unexpired, else null. */
async function claims() {
  var t = token(), p, head, body, ok;
  if (!t) return null;
  if (S.checked && S.checked[0] == t) return S.checked[1];
  performance.mark && performance.mark('consent:verify-start');
  try {
    p = t.split('.');
    head = part(p[0]);
    body = part(p[1]);
    ok = p.length == 3 && /^[\w-]+$/.test(p[2]) && head.alg == 'EdDSA' && body.aud == C.site &&
      body.exp * 1e3 > Date.now() && (C.keys.hasOwnProperty(head.kid) ? await locally(p, C.keys[head.kid]) : null);
    if (ok == null) ok = await remotely(t);
  } catch (e) {
    ok = false;
  }
  performance.mark && performance.measure('consent:verify', 'consent:verify-start');
  if (ok === false) dropToken();
  if (!ok) return null;
  S.checked = [t, body];
  return body;
}
