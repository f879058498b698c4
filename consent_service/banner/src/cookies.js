/* First-party cookies: the consent token, and deletion of declared cookies of refused categories. */
function cookieList() {
  return d.cookie ? d.cookie.split('; ').map(s => s.split('=')[0]) : [];
}

function readCookie(name) {
  var hit = d.cookie.split('; ').find(s => s.slice(0, name.length + 1) == name + '=');
  return hit ? hit.slice(name.length + 1) : null;
}

function writeCookie(name, value, maxAge, domain) {
  d.cookie = name + '=' + value + ';Path=/;Max-Age=' + maxAge + ';SameSite=Lax' +
    (domain ? ';Domain=' + domain : '') + (location.protocol == 'https:' ? ';Secure' : '');
}

/* Same rule as the service: an exact name, or a pattern with one '*' standing for any run. */
function declares(decl, name) {
  if (decl.name) return decl.name == name;
  var p = decl.pattern, i = p.indexOf('*'), a = p.slice(0, i), b = p.slice(i + 1);
  return i < 0 ? p == name : name.length >= a.length + b.length && name.startsWith(a) && name.endsWith(b);
}

/* Expire every present cookie declared under a refused category, host-only and on the domains. */
function purge(refused) {
  var decls = C.cookies.filter(k => refused.includes(k.category));
  cookieList().forEach(name => {
    if (decls.some(k => declares(k, name)))
      ['', location.hostname, C.cookie.domain].forEach(dom => writeCookie(name, '', 0, dom));
  });
}

function token() {
  return readCookie(C.cookie.name);
}

/* Delete the consent cookie, host-only and on the cookie domain. */
function dropToken() {
  ['', C.cookie.domain].forEach(dom => writeCookie(C.cookie.name, '', 0, dom));
}
