/* The state machine: applying a choice (S.granted and all that follows from it), a visitor's choice
   recorded and applied, the newest known choice, and keeping tabs in step. */
function snapshot() {
  var choices = {};
  ids.forEach(c => { choices[c] = has(c); });
  return { decided: !!S.granted, choices, policy_version: C.policy_version, language: lang };
}

function apply(granted) {
  var before = String(S.granted);
  S.onApply();
  granted = normalize(granted);
  if (before == granted) return;
  S.granted = granted;
  consentMode('update', granted);
  purge(ids.filter(c => !has(c)));
  unloadFrames();
  release();
  var detail = snapshot();
  S.listeners.forEach(fn => { try { fn(detail); } catch (e) { console.error(e); } });
  d.dispatchEvent(new CustomEvent('consent:change', { detail }));
}

/* A visitor's choice: queued for the service, applied at once whatever the network does, then sent. */
function choose(granted, method) {
  granted = normalize(granted);
  record(granted, method);
  apply(granted);
  return flush();
}

/* The newest known choice for the current policy: an unsent one queued here, else the verified token's. */
async function known() {
  var q = queue(), last = q[q.length - 1], days, p;
  if (last && last.b.policy_version == C.policy_version) {
    days = Object.values(last.b.choices).filter(Boolean).length > required.length
      ? C.lifetimes.accept_days : C.lifetimes.refuse_days;
    if (last.at + days * 864e5 > Date.now()) return ids.filter(c => last.b.choices[c]);
  }
  p = await claims();
  // A choice made under another regime (the visitor moved) is asked again.
  return p && p.pv == C.policy_version && (p.rg || 'opt-in') == C.regime.id && Array.isArray(p.g) ? p.g : null;
}

async function sync() {
  var granted = await known();
  if (granted) apply(granted);
}
